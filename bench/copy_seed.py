"""Chores written straight into the task service's database with PostgreSQL COPY, modelled on rows the API made.

The API is far too slow to make a million chores, so `bench.scale` seeds one household through it
(`bench.seed`) and then copies that household's chores, as the service wrote them (every column but the
generated `search`, which PostgreSQL computes), into other households: new chore, household and creator
ids (UUIDv7, as `kit.ids` makes them), the same titles, recurrence and assignment JSON, states and
versions, with the times spread out so the households do not all look alike. Nothing but the chores table
is written: those households have no members (they only make the table big).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from kit.ids import new_id
from services.task.models import Chore

# Every column the service writes (the generated tsvector is PostgreSQL's).
COLUMNS: tuple[str, ...] = tuple(c.name for c in Chore.__table__.columns if c.computed is None)
_INDEX = {name: i for i, name in enumerate(COLUMNS)}
_MINUTES_A_YEAR = 365 * 24 * 60
_MINUTES_A_WEEK = 7 * 24 * 60


@dataclass(frozen=True)
class Copied:
    rows: int
    households: int
    seconds: float


async def templates(conn: asyncpg.Connection, household_id: uuid.UUID) -> list[tuple[Any, ...]]:
    """`household_id`'s chores as the service stored them, in COLUMNS order (JSONB as its text)."""
    columns = ", ".join(COLUMNS)
    query = f"SELECT {columns} FROM chores WHERE household_id = $1 ORDER BY create_time, id"  # noqa: S608 (fixed names)
    return [tuple(row) for row in await conn.fetch(query, household_id)]


def spread(total: int, households: int) -> list[int]:
    """`total` chores over `households` households, as evenly as it goes (the first ones get one more)."""
    if households <= 0:
        return []
    base, extra = divmod(total, households)
    return [base + (h < extra) for h in range(households)]


def household_rows(
    models: Sequence[tuple[Any, ...]], count: int, household_id: uuid.UUID, creator_id: uuid.UUID, n: int
) -> Iterator[tuple[Any, ...]]:
    """`count` chores of one household, each modelled on the template of its position (round-robin)."""
    old_creator = str(models[0][_INDEX["creator_id"]])
    # This household was made some time in the last year; its chores fall due over the coming week.
    age = timedelta(minutes=(n * 7919) % _MINUTES_A_YEAR)
    for i in range(count):
        row = list(models[i % len(models)])
        row[_INDEX["id"]] = new_id()
        row[_INDEX["household_id"]] = household_id
        row[_INDEX["creator_id"]] = creator_id
        if row[_INDEX["assignee_id"]] is not None:
            row[_INDEX["assignee_id"]] = creator_id
        assignment = row[_INDEX["assignment"]]
        if old_creator in assignment:  # a fixed assignee names the template's person: name this household's
            row[_INDEX["assignment"]] = assignment.replace(old_creator, str(creator_id))
        for name in ("create_time", "update_time", "anchor_time", "last_completion_time"):
            if row[_INDEX[name]] is not None:
                row[_INDEX[name]] -= age
        if row[_INDEX["next_due_time"]] is not None:
            row[_INDEX["next_due_time"]] += timedelta(minutes=(n * 61 + i * 37) % _MINUTES_A_WEEK)
        yield tuple(row)


def rows(models: Sequence[tuple[Any, ...]], counts: Sequence[int]) -> Iterator[tuple[Any, ...]]:
    """Chores for len(counts) new households (the n-th gets counts[n]), modelled on `models`, household by
    household (as COPY streams them: nothing is held in memory)."""
    if not models:
        raise ValueError("no template chores to model the rows on")
    for n, count in enumerate(counts):
        yield from household_rows(models, count, new_id(), new_id(), n)


async def copy_chores(conn: asyncpg.Connection, records: Iterator[tuple[Any, ...]]) -> int:
    """COPY `records` (COLUMNS order) into chores; returns how many."""
    status = await conn.copy_records_to_table("chores", records=records, columns=list(COLUMNS))
    return int(status.split()[-1])  # "COPY 999950"


async def seed_households(dsn: str, household_id: uuid.UUID, *, chores: int, households: int) -> Copied:
    """`chores` more chores over `households` more households, modelled on `household_id`'s, then VACUUM
    ANALYZE (the planner's statistics, and no autovacuum kicking in during a measurement)."""
    conn = await asyncpg.connect(dsn)
    try:
        models = await templates(conn, household_id)
        counts = spread(chores, households)
        began = time.perf_counter()
        await conn.execute("SET synchronous_commit = off")  # one bulk transaction: no need to wait on each flush
        copied = await copy_chores(conn, rows(models, counts))
        seconds = time.perf_counter() - began
        await conn.execute("VACUUM (ANALYZE) chores")
        return Copied(copied, len(counts), seconds)
    finally:
        await conn.close()


async def vacuum_analyze(dsn: str) -> None:
    """VACUUM ANALYZE the chores table (what autovacuum would do; the bench's server may run without it)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM (ANALYZE) chores")
    finally:
        await conn.close()
