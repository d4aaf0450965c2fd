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
from kit.events import Handler, unpack
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
    """The handlers by event type; with `membership`, role changes and departures also drop its cache entry, and a
    household change (its time zone) the entries of every member it lists."""

    def invalidating(
        handler: Handler, message: type[events_pb2.MemberUpdated] | type[events_pb2.MemberLeft]
    ) -> Handler:
        async def handle(session: AsyncSession, envelope: events_pb2.Envelope) -> None:
            await handler(session, envelope)
            if membership is not None:
                changed = unpack(envelope, message)
                await membership.invalidate(changed.household_id or envelope.household_id, changed.user_id)

        return handle

    async def on_household_updated(session: AsyncSession, envelope: events_pb2.Envelope) -> None:
        # A cached membership carries the household's time zone (streaks are counted in it): drop every member's.
        if membership is not None:
            updated = unpack(envelope, events_pb2.HouseholdUpdated)
            for member_id in updated.member_ids:
                await membership.invalidate(updated.household_id or envelope.household_id, member_id)

    return {
        "member.joined": on_member_joined,
        "member.updated": invalidating(on_member_updated, events_pb2.MemberUpdated),
        "member.left": invalidating(on_member_left, events_pb2.MemberLeft),
        "chore.completed": on_chore_completed,
        "household.updated": on_household_updated,
    }
