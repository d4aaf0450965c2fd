"""What notify holds about a person, and what becomes of it (GDPR): erased or anonymised when their account is
deleted (user.deleted), exported for their data export (PrivacyService.ExportUserData); and what it holds about
a household, erased when the household is deleted (household.deleted).

On user.deleted (`erase_user`):

- their inbox (every notification addressed to them, read or not) is deleted;
- notifications in other people's inboxes that name them as the actor ("Alice completed Dishes", "Alice joined the
  household", ...) stay — they are the recipients' — but lose the person: the actor id (`data.completed_by`)
  becomes null and the title and body are written again (services.notify.texts, in the language they were written
  in) with a deleted user (`DELETED_USER_NAME` in English) in place of their name;
- the notification.created events in notify's outbox that name them have their id replaced (kit.erasure);
- their notification preferences, the lead reminders scheduled for them, and the mails still owed to them (their
  address and the rendered mail); the chores they held (`chore_schedules`) and the week's activity they did
  (`household_activity`) keep no trace of them (NULL);
- their display name, locale, time zone and address (`user_names`) and their membership rows, current and former
  (`household_members`), are deleted. Every event about them comes on the user stream before user.deleted, so
  nothing brings them back;
- their Web Push subscriptions are deleted (and the pushes still owed to them, with them);
- the webhooks they registered keep working for the household, registered by nobody (`created_by` becomes
  `DELETED_USER_ID`); what webhook deliveries carried about them goes with the delivery log's retention (30 days);
- they are remembered as erased by a hash of their id only (`erased_users`, `erasure_key`), for the events of
  other streams still on their way (below).

Mails SendEmail delivered (models.EmailDelivery) are not keyed by person — SendEmail names an address, not a
user; notify's own mails are, and those not yet sent go on user.deleted — and keep the full address and the
rendered mail only while the mail is owed (services.notify.delivery); what stays is a redacted address
(`a***@example.com`), the template and the times, which name nobody.

On household.deleted (`erase_household`) its notifications, in everyone's inbox, its membership rows and its
webhooks with their delivery logs are deleted (member.left for each member came before: those rows are tombstones
by then).

Every step is idempotent: handling the same event again finds nothing left to change.

Events still on their way name nobody either: a chore.completed whose completer is `DELETED_USER_ID` (task puts it
in place of a deleted person's id in its outbox) or an erased person (published before the deletion and read from
the task stream after the user stream's user.deleted) is written as "A deleted user completed ..." with no actor.
(The analytics service remembers erased people the same way; the mechanism belongs in kit once a third needs it.)
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from google.protobuf import json_format
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context
from kit.erasure import anonymise_outbox
from kit.errors import PermissionDenied
from services.notify.converters import notification_to_proto
from services.notify.models import (
    PENDING,
    SENDING,
    ChoreSchedule,
    EmailDelivery,
    ErasedUser,
    HouseholdActivity,
    HouseholdMember,
    LeadReminder,
    Notification,
    NotificationPreference,
    PushSubscription,
    UserName,
    Webhook,
)
from services.notify.texts import DELETED, render

# The only service whose export job may read a person's data here.
EXPORTER = "user"
# How texts name a deleted person, in English (services.notify.texts.DELETED).
DELETED_USER_NAME = "A deleted user"
# What other services put in place of a deleted person's id in the events they still owe (task's outbox: the nil
# UUID, services.task.privacy): a completion by it names nobody.
DELETED_USER_ID = uuid.UUID(int=0)
# Where a notification names the person who caused it, whatever its type (services.notify.consumers).
ACTOR_KEY = "completed_by"
# Spelt as ix_notifications_actor indexes it (a bound key would not match the index's expression).
_actor: sa.ColumnElement[str] = sa.literal_column(f"notifications.data ->> '{ACTOR_KEY}'", sa.Text)


def erasure_key(user_id: uuid.UUID) -> bytes:
    """How an erased person is remembered: SHA-256 of their id (a UUIDv7's random part cannot be guessed back)."""
    return hashlib.sha256(user_id.bytes).digest()


async def is_erased(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether `user_id` is a deleted person's (`DELETED_USER_ID`, or one erase_user erased)."""
    if user_id == DELETED_USER_ID:
        return True
    return await session.get(ErasedUser, erasure_key(user_id)) is not None


def chore_title_of(title: str, body: str) -> str | None:
    """The chore a chore.completed notification written before `chore_title` was kept in its data is about, read
    back from its title ("<who> completed <chore>") checked against its body ("<who> completed “<chore>”…");
    None when the two do not fit (a name or a chore holding " completed " is tried at every split)."""
    marker = " completed "
    start = 0
    while (at := title.find(marker, start)) >= 0:
        who, chore = title[:at], title[at + len(marker) :]
        if body.startswith(f"{who} completed “{chore}”"):
            return chore
        start = at + 1
    return None


async def erase_user(session: AsyncSession, user_id: uuid.UUID, *, at: datetime) -> None:
    """Erase or anonymise everything that names `user_id` (see the module docstring), in `session`'s transaction."""
    await session.execute(
        sa.delete(Notification).where(Notification.user_id == user_id).execution_options(synchronize_session=False)
    )
    naming = await session.scalars(
        sa.select(Notification).where(_actor == str(user_id)).order_by(Notification.id).with_for_update()
    )
    for notification in naming:
        data = dict(notification.data)
        if notification.type == "chore.completed" and not isinstance(data.get("chore_title"), str):
            # Written before `chore_title` was kept in its data (always in English then).
            data["chore_title"] = chore_title_of(notification.title, notification.body) or ""
        text_data = {**data, "points": int(data.get("points") or 0)}
        notification.title, notification.body = render(notification.type, data.get("locale"), text_data, DELETED)
        data[ACTOR_KEY] = None
        notification.data = data
    # The notification.created events naming them (their own notifications', or as the actor) in notify's outbox;
    # their entries on notify's stream go by kit.erasure.stream_erasure, which the runtime adds.
    await anonymise_outbox(session, user_id)
    await session.execute(sa.delete(NotificationPreference).where(NotificationPreference.user_id == user_id))
    await session.execute(
        sa.delete(EmailDelivery).where(EmailDelivery.user_id == user_id, EmailDelivery.status.in_((PENDING, SENDING)))
    )
    # Mails already over keep what names nobody; their key holds the person's id.
    await session.execute(
        sa.update(EmailDelivery).where(EmailDelivery.user_id == user_id).values(user_id=None, dedupe_key=None)
    )
    await session.execute(sa.update(HouseholdActivity).where(HouseholdActivity.user_id == user_id).values(user_id=None))
    await session.execute(sa.delete(LeadReminder).where(LeadReminder.user_id == user_id))
    await session.execute(sa.update(ChoreSchedule).where(ChoreSchedule.assignee_id == user_id).values(assignee_id=None))
    await session.execute(sa.delete(UserName).where(UserName.user_id == user_id))
    await session.execute(sa.delete(HouseholdMember).where(HouseholdMember.user_id == user_id))
    await session.execute(sa.delete(PushSubscription).where(PushSubscription.user_id == user_id))
    # The webhooks they registered stay the household's; who registered them is forgotten.
    await session.execute(sa.update(Webhook).where(Webhook.created_by == user_id).values(created_by=DELETED_USER_ID))
    await session.execute(
        insert(ErasedUser).values(user_key=erasure_key(user_id), erased_at=at).on_conflict_do_nothing()
    )
    await session.flush()


async def erase_household(session: AsyncSession, household_id: uuid.UUID) -> None:
    """Delete the household's notifications, membership rows, its chores' schedules and its week's activity, in
    `session`'s transaction."""
    await session.execute(
        sa.delete(Notification)
        .where(Notification.household_id == household_id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(sa.delete(HouseholdMember).where(HouseholdMember.household_id == household_id))
    await session.execute(sa.delete(HouseholdActivity).where(HouseholdActivity.household_id == household_id))
    await session.execute(sa.delete(ChoreSchedule).where(ChoreSchedule.household_id == household_id))
    # Its webhooks' deliveries go with them (ON DELETE CASCADE); their queued jobs then find nothing to send.
    await session.execute(sa.delete(Webhook).where(Webhook.household_id == household_id))


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Everything notify holds about `user_id`: their notifications (read and unread, newest first, as the API
    shows them), the display name notify knows them by, the households it knows them in (former ones too) and their
    browsers' Web Push subscriptions (endpoint and times; the keys are the browser's, not data about the person)."""
    notifications = await session.scalars(
        sa.select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.create_time.desc(), Notification.id.desc())
    )
    name = await session.get(UserName, user_id)
    chosen = await session.get(NotificationPreference, user_id)
    memberships = await session.scalars(
        sa.select(HouseholdMember).where(HouseholdMember.user_id == user_id).order_by(HouseholdMember.household_id)
    )
    subscriptions = await session.scalars(
        sa.select(PushSubscription)
        .where(PushSubscription.user_id == user_id)
        .order_by(PushSubscription.create_time.desc(), PushSubscription.id.desc())
    )
    return {
        "service": "notify",
        "user": f"users/{user_id}",
        "display_name": name.display_name if name is not None else None,
        "email": name.email if name is not None else None,
        "time_zone": name.time_zone if name is not None else None,
        "notification_preferences": None
        if chosen is None
        else {
            "events": chosen.events,
            "quiet_hours": {"start": chosen.quiet_start, "end": chosen.quiet_end} if chosen.quiet_start else None,
            "reminder_lead_minutes": chosen.reminder_lead_minutes,
        },
        "notifications": [
            json_format.MessageToDict(notification_to_proto(n), preserving_proto_field_name=True) for n in notifications
        ],
        "households": [
            {
                "household": f"households/{member.household_id}",
                "role": member.role,
                "left_time": member.left_at.isoformat() if member.left_at else None,
            }
            for member in memberships
        ],
        "push_subscriptions": [
            {
                "id": str(subscription.id),
                "endpoint": subscription.endpoint,
                "create_time": subscription.create_time.isoformat(),
                "expire_time": subscription.expire_time.isoformat() if subscription.expire_time else None,
            }
            for subscription in subscriptions
        ],
    }


class UserData:
    """PrivacyService's use case: a person's data for the user service's export job (internal: service tokens
    only, checked by kit.interceptors; and of those only the user service's)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def export(self, user_id: uuid.UUID) -> str:
        """One JSON object (`export_user`), as text."""
        caller = context.caller.get()
        if caller is None or caller.service != EXPORTER:
            raise PermissionDenied(f"only the {EXPORTER} service exports a person's data")
        async with self._sessions() as session:
            data = await export_user(session, user_id)
        return json.dumps(data, ensure_ascii=False)


__all__: Sequence[str] = [
    "DELETED_USER_ID",
    "DELETED_USER_NAME",
    "UserData",
    "chore_title_of",
    "erase_household",
    "erase_user",
    "erasure_key",
    "export_user",
    "is_erased",
]
