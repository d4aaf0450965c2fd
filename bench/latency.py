"""Completion → notification latency, read after a load window from the two services' databases.

Each completion row the task service wrote since `since` is joined to what notify made of it:

- task: the completion (`completions.id`) and, written in the same transaction, its `chore.completed` outbox
  row (`outbox.event_id`, `outbox.created_at`); the outbox keeps the envelope only, so the completion id is read
  from the payload. `created_at` is PostgreSQL's `now()` there, where `completions.create_time` is the task
  process's clock.
- notify: its `inbox` row for that event (`inbox.handled_at`, PostgreSQL's `now()`), written in the same
  transaction as the event's notification rows (`notifications.event_id`: one per recipient). A notification's
  own `create_time` is the event's `occurred_at` — the producer's time, not notify's — so it cannot say when
  notify wrote the row; the inbox row of the same transaction can.

Latency = `inbox.handled_at - outbox.created_at`: both read from the one PostgreSQL server's clock, each the
start of its transaction. The task side's commit follows its start by the completion's own transaction time,
notify's by the time its batch takes to handle (a few ms each, in opposite directions).

A completion notifies every other adult of the household; a household of one (`bench.seed`'s) notifies nobody,
so `matched` counts only completions that produced notification rows, and the percentiles are over every
completion notify handled (`handled`), which is the same set whenever each completion has someone to tell.
Call it while the stack still runs (`bench.stack.hearth_stack` drops the databases on the way out); the job
workers that prune outbox and inbox rows after days are not started by the bench.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from hearth.events.v1 import events_pb2

from kit.db import asyncpg_dsn

COMPLETED = "chore.completed"


@dataclass(frozen=True)
class LatencyStats:
    count: int  # completions created since `since`
    handled: int  # of those, the ones notify has handled (its inbox holds their event)
    matched: int  # of those, the ones with at least one notification row
    # Over the handled ones, in milliseconds (None when there are none).
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def percentiles(values: Sequence[float], cuts: Sequence[int] = (50, 95, 99)) -> list[float | None]:
    """The given percentiles of `values` (inclusive method, as bench.load uses); None for each without data."""
    if not values:
        return [None for _ in cuts]
    if len(values) == 1:
        return [float(values[0]) for _ in cuts]
    quantiles = statistics.quantiles(values, n=100, method="inclusive")
    return [quantiles[cut - 1] for cut in cuts]


def stats(count: int, matched: int, latencies_ms: Sequence[float]) -> LatencyStats:
    p50, p95, p99 = percentiles(latencies_ms)
    return LatencyStats(
        count=count,
        handled=len(latencies_ms),
        matched=matched,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        max_ms=max(latencies_ms) if latencies_ms else None,
    )


async def _completion_events(task_dsn: str, since: datetime) -> tuple[int, dict[uuid.UUID, datetime]]:
    """(how many completions since `since`, each one's chore.completed event id → its outbox row's time)."""
    conn = await asyncpg.connect(asyncpg_dsn(task_dsn))
    try:
        completions = {
            row["id"] for row in await conn.fetch("SELECT id FROM completions WHERE create_time >= $1", since)
        }
        # The outbox row is written after the completion, in its transaction: never before `since` when it is not.
        rows = await conn.fetch(
            "SELECT event_id, created_at, envelope FROM outbox WHERE event_type = $1 AND created_at >= $2",
            COMPLETED,
            since,
        )
    finally:
        await conn.close()
    events: dict[uuid.UUID, datetime] = {}
    for row in rows:
        payload = events_pb2.ChoreCompleted()
        events_pb2.Envelope.FromString(row["envelope"]).payload.Unpack(payload)
        if payload.completion_id and uuid.UUID(payload.completion_id) in completions:
            events[row["event_id"]] = row["created_at"]
    return len(completions), events


async def _notify_handled(notify_dsn: str, event_ids: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, datetime, bool]]:
    """(event id, when notify's transaction that handled it began, whether it made notification rows)."""
    conn = await asyncpg.connect(asyncpg_dsn(notify_dsn))
    try:
        rows = await conn.fetch(
            "SELECT i.event_id, i.handled_at,"
            " EXISTS (SELECT 1 FROM notifications n WHERE n.event_id = i.event_id) AS notified"
            " FROM inbox i WHERE i.event_id = ANY($1::uuid[])",
            list(event_ids),
        )
    finally:
        await conn.close()
    return [(row["event_id"], row["handled_at"], row["notified"]) for row in rows]


async def completion_to_notification(task_dsn: str, notify_dsn: str, since: datetime) -> LatencyStats:
    """How long after each completion since `since` (timezone-aware) notify handled it and wrote its
    notifications. The DSNs: the task and notify databases, as SQLAlchemy URLs or plain libpq ones."""
    count, events = await _completion_events(task_dsn, since)
    handled = await _notify_handled(notify_dsn, list(events))
    latencies = [(handled_at - events[event_id]).total_seconds() * 1000 for event_id, handled_at, _ in handled]
    return stats(count, sum(1 for *_, notified in handled if notified), latencies)


__all__ = ["LatencyStats", "completion_to_notification", "percentiles"]
