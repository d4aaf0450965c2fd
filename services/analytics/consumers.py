"""Event handlers of the analytics service, run by `kit.events.EventConsumer` inside its transaction.

Everything analytics knows comes from here. Handlers are idempotent on their own (upserts keyed by
member and by completion), beyond the consumer's inbox, and tolerate events out of order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hearth.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import utcnow
from kit.events import Handler, combine, unpack
from kit.membership import MembershipClient
from services.analytics.repository import CompletionRepository, MemberRepository


def event_time(envelope: events_pb2.Envelope) -> datetime:
    if envelope.HasField("occurred_at"):
        return envelope.occurred_at.ToDatetime(tzinfo=UTC)
    return utcnow()


def _uuid(*candidates: str) -> uuid.UUID:
    """The first non-empty candidate as a UUID (a malformed id raises: the event is retried, then dead-lettered)."""
    for value in candidates:
        if value:
            return uuid.UUID(value)
    raise ValueError("event lacks a required id")


async def on_member_joined(session: AsyncSession, envelope: events_pb2.Envelope) -> None:
    joined = unpack(envelope, events_pb2.MemberJoined)
    at = event_time(envelope)
    await MemberRepository(session).apply(
        _uuid(joined.household_id, envelope.household_id),
        _uuid(joined.user_id),
        at=at,
        role=joined.role,
        display_name=joined.display_name,
        joined_at=joined.joined_at.ToDatetime(tzinfo=UTC) if joined.HasField("joined_at") else at,
    )


async def on_member_updated(session: AsyncSession, envelope: events_pb2.Envelope) -> None:
    updated = unpack(envelope, events_pb2.MemberUpdated)
    await MemberRepository(session).apply(
        _uuid(updated.household_id, envelope.household_id),
        _uuid(updated.user_id),
        at=event_time(envelope),
        role=updated.role,
    )


async def on_member_left(session: AsyncSession, envelope: events_pb2.Envelope) -> None:
    left = unpack(envelope, events_pb2.MemberLeft)
    await MemberRepository(session).apply(
        _uuid(left.household_id, envelope.household_id), _uuid(left.user_id), at=event_time(envelope), left=True
    )


async def on_chore_completed(session: AsyncSession, envelope: events_pb2.Envelope) -> None:
    completed = unpack(envelope, events_pb2.ChoreCompleted)
    await CompletionRepository(session).upsert(
        {
            "completion_id": _uuid(completed.completion_id),
            "household_id": _uuid(completed.household_id, envelope.household_id),
            "chore_id": _uuid(completed.chore_id),
            "user_id": _uuid(completed.completed_by, envelope.actor_id),
            "completed_at": (
                completed.completed_at.ToDatetime(tzinfo=UTC)
                if completed.HasField("completed_at")
                else event_time(envelope)
            ),
            "due_at": completed.due_at.ToDatetime(tzinfo=UTC) if completed.HasField("due_at") else None,
            "on_time": completed.on_time,
            "points": completed.points,
            "estimated_minutes": max(0, completed.estimated_minutes),
            "event_id": uuid.UUID(envelope.event_id),
        }
    )


def handlers(membership: MembershipClient | None = None) -> dict[str, Handler]:
    """The handlers by event type; with `membership`, the events that make a cached membership answer stale
    (role changes, departures, a household's time zone: streaks are counted in it) also drop it, after the
    read model is updated."""
    read_model: dict[str, Handler] = {
        "member.joined": on_member_joined,
        "member.updated": on_member_updated,
        "member.left": on_member_left,
        "chore.completed": on_chore_completed,
    }
    if membership is None:
        return read_model
    return combine(read_model, membership.invalidation_handlers())
