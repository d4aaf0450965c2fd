"""Event handlers of the notify service, run by `kit.events.EventConsumer` inside its transaction.

The consumer's inbox already drops redelivered events; the handlers are idempotent on their own too
(upserts, and one notification per (event, recipient)), so replaying a stream is harmless.
Events may arrive out of order across streams: a completion handled before the member.joined of a
brand-new member does not notify that member (nothing is lost for anyone already known).
user.deleted and household.deleted erase what notify holds about the person or the household
(services.notify.privacy).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from hearth.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession

from kit.events import Event, Handlers, combine, required_id
from kit.ids import new_id
from services.notify import privacy
from services.notify.repository import MEMBERS, Member, MemberRepository, NotificationRepository
from services.notify.texts import SOMEONE, completion_text
from services.user.client import ADULT_ROLES, membership_mirror


async def on_member_joined(session: AsyncSession, event: Event[events_pb2.MemberJoined]) -> None:
    """The name a member joins with (the membership itself is the mirror's: services.user.client)."""
    if event.payload.display_name:
        user_id = required_id(event.payload.user_id)
        await MemberRepository(session).name(user_id, event.payload.display_name, at=event.occurred_at)


async def on_user_updated(session: AsyncSession, event: Event[events_pb2.UserUpdated]) -> None:
    """A renamed user: later notifications use the new name (other profile changes do not concern notify)."""
    if event.payload.display_name:
        await MemberRepository(session).name(
            required_id(event.payload.user_id), event.payload.display_name, at=event.occurred_at
        )


def completion_recipients(members: Iterable[Member], completed_by: uuid.UUID) -> list[uuid.UUID]:
    """Who hears about a completion: every current adult member (owner, admin, member) but the one who did it."""
    return sorted(
        m.user_id for m in members if m.left_at is None and m.role in ADULT_ROLES and m.user_id != completed_by
    )


async def on_chore_completed(session: AsyncSession, event: Event[events_pb2.ChoreCompleted]) -> None:
    completed = event.payload
    household_id = required_id(completed.household_id, event.household_id)
    completed_by = required_id(completed.completed_by, event.actor_id)
    members = await MemberRepository(session).of_household(household_id)
    names = {m.user_id: m.display_name for m in members}
    # A completer whose account is gone (DELETED_USER_ID, or erased since the event was published): nobody to name.
    deleted = await privacy.is_erased(session, completed_by)
    who = privacy.DELETED_USER_NAME if deleted else names.get(completed_by) or SOMEONE
    title, body = completion_text(who, completed.title, completed.points)
    data: Mapping[str, Any] = {
        "chore_id": completed.chore_id,
        "completion_id": completed.completion_id,
        "completed_by": None if deleted else str(completed_by),
        "points": completed.points,
        # Kept so the texts can be written again without the person's name when they are deleted (privacy).
        "chore_title": completed.title,
    }
    await NotificationRepository(session).add_many(
        [
            {
                "id": new_id(),
                "user_id": recipient,
                "household_id": household_id,
                "type": event.type,
                "title": title,
                "body": body,
                "data": dict(data),
                "event_id": event.event_id,
                "create_time": event.occurred_at,
                "read_time": None,
            }
            for recipient in completion_recipients(members, completed_by)
        ]
    )


async def on_completion_undone(session: AsyncSession, event: Event[events_pb2.CompletionUndone]) -> None:
    """An undone completion did not happen: the notifications that told of it go from every inbox, read or not.
    (Task publishes completion.undone after the chore.completed it takes back, on the same stream: the order holds.
    A pending completion undone was never told of: nothing to delete.)"""
    undone = event.payload
    household_id = required_id(undone.household_id, event.household_id)
    await NotificationRepository(session).forget_completion(household_id, str(required_id(undone.completion_id)))


async def on_user_deleted(session: AsyncSession, event: Event[events_pb2.UserDeleted]) -> None:
    """The account is gone: erase what notify holds about the person, and their name from others' inboxes."""
    await privacy.erase_user(session, required_id(event.payload.user_id), at=event.occurred_at)


async def on_household_deleted(session: AsyncSession, event: Event[events_pb2.HouseholdDeleted]) -> None:
    """The household is gone: its notifications, in every inbox, and its membership rows go with it."""
    await privacy.erase_household(session, required_id(event.payload.household_id, event.household_id))


HANDLERS: Handlers = combine(
    membership_mirror(MEMBERS),
    {
        events_pb2.MemberJoined: on_member_joined,
        events_pb2.UserUpdated: on_user_updated,
        events_pb2.ChoreCompleted: on_chore_completed,
        events_pb2.CompletionUndone: on_completion_undone,
        events_pb2.UserDeleted: on_user_deleted,
        events_pb2.HouseholdDeleted: on_household_deleted,
    },
)
