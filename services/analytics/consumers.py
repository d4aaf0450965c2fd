"""Event handlers of the analytics service, run by `kit.events.EventConsumer` inside its transaction.

Everything analytics knows comes from here. Handlers are idempotent on their own (upserts keyed by
member and by completion), beyond the consumer's inbox, and tolerate events out of order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from hearth.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession

from kit.events import Event, Handlers, combine
from services.analytics.repository import CompletionRepository, MemberRepository
from services.user.client import MembershipClient


def _uuid(*candidates: str) -> uuid.UUID:
    """The first non-empty candidate as a UUID (a malformed id raises: the event is retried, then dead-lettered)."""
    for value in candidates:
        if value:
            return uuid.UUID(value)
    raise ValueError("event lacks a required id")


def _time(stamp: Timestamp, present: bool, default: datetime) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC) if present else default


async def on_member_joined(session: AsyncSession, event: Event[events_pb2.MemberJoined]) -> None:
    joined = event.payload
    await MemberRepository(session).apply(
        _uuid(joined.household_id, event.household_id),
        _uuid(joined.user_id),
        at=event.occurred_at,
        role=joined.role,
        joined_at=_time(joined.joined_at, joined.HasField("joined_at"), event.occurred_at),
    )


async def on_member_updated(session: AsyncSession, event: Event[events_pb2.MemberUpdated]) -> None:
    updated = event.payload
    await MemberRepository(session).apply(
        _uuid(updated.household_id, event.household_id), _uuid(updated.user_id), at=event.occurred_at, role=updated.role
    )


async def on_member_left(session: AsyncSession, event: Event[events_pb2.MemberLeft]) -> None:
    left = event.payload
    await MemberRepository(session).apply(
        _uuid(left.household_id, event.household_id), _uuid(left.user_id), at=event.occurred_at, left=True
    )


async def on_chore_completed(session: AsyncSession, event: Event[events_pb2.ChoreCompleted]) -> None:
    completed = event.payload
    await CompletionRepository(session).upsert(
        {
            "completion_id": _uuid(completed.completion_id),
            "household_id": _uuid(completed.household_id, event.household_id),
            "chore_id": _uuid(completed.chore_id),
            "user_id": _uuid(completed.completed_by, event.actor_id),
            "completed_at": _time(completed.completed_at, completed.HasField("completed_at"), event.occurred_at),
            "due_at": completed.due_at.ToDatetime(tzinfo=UTC) if completed.HasField("due_at") else None,
            "on_time": completed.on_time,
            "points": completed.points,
            "estimated_minutes": max(0, completed.estimated_minutes),
            "event_id": event.event_id,
        }
    )


def handlers(membership: MembershipClient | None = None) -> Handlers:
    """The handlers by payload; with `membership`, the events that make a cached membership answer stale
    (role changes, departures, a household's time zone: streaks are counted in it) also drop it, after the
    read model is updated."""
    read_model: Handlers = {
        events_pb2.MemberJoined: on_member_joined,
        events_pb2.MemberUpdated: on_member_updated,
        events_pb2.MemberLeft: on_member_left,
        events_pb2.ChoreCompleted: on_chore_completed,
    }
    if membership is None:
        return read_model
    return combine(read_model, membership.invalidation_handlers())
