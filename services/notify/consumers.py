"""Event handlers of the notify service, run by `kit.events.EventConsumer` inside its transaction.

The consumer's inbox already drops redelivered events; the handlers are idempotent on their own too
(upserts, and one notification per (event, recipient)), so replaying a stream is harmless.
Events may arrive out of order across streams: a completion handled before the member.joined of a
brand-new member does not notify that member (nothing is lost for anyone already known).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from hearth.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import utcnow
from kit.events import Handler, unpack
from kit.ids import new_id
from kit.membership import ADULT_ROLES
from services.notify.models import HouseholdMember
from services.notify.repository import MemberRepository, NotificationRepository

CHORE_COMPLETED = "chore.completed"
SOMEONE = "Someone"


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
    await MemberRepository(session).apply(
        _uuid(joined.household_id, envelope.household_id),
        _uuid(joined.user_id),
        at=event_time(envelope),
        role=joined.role,
        display_name=joined.display_name,
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


async def on_user_updated(session: AsyncSession, envelope: events_pb2.Envelope) -> None:
    """A renamed user: later notifications use the new name (other profile changes do not concern notify)."""
    updated = unpack(envelope, events_pb2.UserUpdated)
    if not updated.display_name:
        return
    await MemberRepository(session).rename(_uuid(updated.user_id), updated.display_name, at=event_time(envelope))


def completion_recipients(members: Iterable[HouseholdMember], completed_by: uuid.UUID) -> list[uuid.UUID]:
    """Who hears about a completion: every current adult member (owner, admin, member) but the one who did it."""
    return sorted(
        m.user_id for m in members if m.left_at is None and m.role in ADULT_ROLES and m.user_id != completed_by
    )


def completion_text(who: str, chore: str, points: int) -> tuple[str, str]:
    """(title, body) of a chore.completed notification."""
    chore = chore or "a chore"
    body = f"{who} completed “{chore}”" + (f" and earned {points} points." if points else ".")
    return f"{who} completed {chore}", body


async def on_chore_completed(session: AsyncSession, envelope: events_pb2.Envelope) -> None:
    completed = unpack(envelope, events_pb2.ChoreCompleted)
    household_id = _uuid(completed.household_id, envelope.household_id)
    completed_by = _uuid(completed.completed_by, envelope.actor_id)
    members = await MemberRepository(session).of_household(household_id)
    names = {m.user_id: m.display_name for m in members}
    title, body = completion_text(names.get(completed_by) or SOMEONE, completed.title, completed.points)
    data: Mapping[str, Any] = {
        "chore_id": completed.chore_id,
        "completion_id": completed.completion_id,
        "completed_by": str(completed_by),
        "points": completed.points,
    }
    event_id = uuid.UUID(envelope.event_id)
    created = event_time(envelope)
    await NotificationRepository(session).add_many(
        [
            {
                "id": new_id(),
                "user_id": recipient,
                "household_id": household_id,
                "type": CHORE_COMPLETED,
                "title": title,
                "body": body,
                "data": dict(data),
                "event_id": event_id,
                "create_time": created,
                "read_time": None,
            }
            for recipient in completion_recipients(members, completed_by)
        ]
    )


HANDLERS: dict[str, Handler] = {
    "member.joined": on_member_joined,
    "member.updated": on_member_updated,
    "member.left": on_member_left,
    "user.updated": on_user_updated,
    CHORE_COMPLETED: on_chore_completed,
}
