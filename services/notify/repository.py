"""SQL of the notify service: the membership and names read models (with each member's notification preferences)
and the notifications inbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.projection import Projection
from kit.repository import Cursor, after_key
from services.notify.models import HouseholdMember, Notification, NotificationPreference, UserName
from services.notify.preferences import Preferences, from_row


@dataclass(frozen=True)
class Member:
    user_id: uuid.UUID
    role: str | None
    display_name: str
    left_at: datetime | None
    # BCP 47, or None when no event has named it yet (services.notify.texts then writes English).
    locale: str | None = None
    # IANA zone (quiet hours are read in it) and address (mails go to it); None until an event names them.
    time_zone: str | None = None
    email: str | None = None
    # What they chose (services.notify.preferences), read in the same query; the defaults when they never chose.
    preferences: Preferences = field(default_factory=Preferences)


MEMBERS = Projection(HouseholdMember.__table__, key=("household_id", "user_id"), tombstone="left_at")
NAMES = Projection(UserName.__table__, key=("user_id",))


class MemberRepository:
    """The members and names read models (newest event wins: see kit.projection; the members one is fed by
    services.user.client.membership_mirror)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def name(self, user_id: uuid.UUID, display_name: str, *, at: datetime) -> None:
        """A user's display name as of `at` (member.joined, user.updated), in every household they are in."""
        await NAMES.apply(self._session, {"user_id": user_id}, at=at, values={"display_name": display_name})

    async def locale(self, user_id: uuid.UUID, locale: str, *, at: datetime) -> None:
        """A user's locale as of `at` (user.registered, user.updated): the language of their notifications."""
        await NAMES.apply(self._session, {"user_id": user_id}, at=at, values={"locale": locale})

    async def profile(self, user_id: uuid.UUID, values: dict[str, str], *, at: datetime) -> None:
        """What user.registered/updated say of a user's locale, time zone and address, as of `at`."""
        if values:
            await NAMES.apply(self._session, {"user_id": user_id}, at=at, values=values)

    async def of_household(self, household_id: uuid.UUID) -> list[Member]:
        """Every member row of the household with the member's name, including those who left (for names)."""
        # Plain rows on the session's connection: no ORM entities to load (it runs for every chore.completed).
        connection = await self._session.connection()
        result = await connection.execute(_OF_HOUSEHOLD, {"household_id": household_id})
        return [
            Member(
                row.user_id,
                row.role,
                row.display_name or "",
                row.left_at,
                row.locale,
                row.time_zone,
                row.email,
                from_row(row) if row.version is not None else Preferences(),
            )
            for row in result
        ]


_members, _names = cast(sa.Table, HouseholdMember.__table__), cast(sa.Table, UserName.__table__)
_choices = cast(sa.Table, NotificationPreference.__table__)
# Built once: the consumer runs it for every completion, and building a select costs more than running it.
_OF_HOUSEHOLD = (
    sa.select(
        _members.c.user_id,
        _members.c.role,
        _names.c.display_name,
        _members.c.left_at,
        _names.c.locale,
        _names.c.time_zone,
        _names.c.email,
        _choices.c.events,
        _choices.c.quiet_start,
        _choices.c.quiet_end,
        _choices.c.reminder_lead_minutes,
        _choices.c.version,
    )
    .outerjoin(_names, _names.c.user_id == _members.c.user_id)
    .outerjoin(_choices, _choices.c.user_id == _members.c.user_id)
    .where(_members.c.household_id == sa.bindparam("household_id"))
)
_ADD_NOTIFICATIONS = (
    insert(cast(sa.Table, Notification.__table__))
    .on_conflict_do_nothing(constraint="uq_notifications_event_id_user_id")
    .returning(Notification.__table__.c.id, Notification.__table__.c.user_id)
)

# The inbox's sort key (an index on user_id, create_time, id serves it).
NEWEST_FIRST = (Notification.__table__.c.create_time, Notification.__table__.c.id)


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Insert notifications, skipping any already there for the same (event, user); returns the (id, user_id)
        of those that are new."""
        if not rows:
            return []
        connection = await self._session.connection()
        result = await connection.execute(_ADD_NOTIFICATIONS, list(rows))
        return [(notification_id, user_id) for notification_id, user_id in result]

    async def page(
        self, user_id: uuid.UUID, *, unread_only: bool, after: Cursor | None, limit: int
    ) -> list[Notification]:
        query = sa.select(Notification).where(Notification.user_id == user_id)
        if unread_only:
            query = query.where(Notification.read_time.is_(None))
        if after is not None:
            query = query.where(after_key(NEWEST_FIRST, after, descending=True))
        query = query.order_by(Notification.create_time.desc(), Notification.id.desc()).limit(limit)
        return list(await self._session.scalars(query))

    async def forget_completion(self, household_id: uuid.UUID, completion_id: str) -> int:
        """Delete, from every inbox, the notifications telling of the completion (ix_notifications_completion)."""
        result = await self._session.execute(
            sa.delete(Notification).where(
                Notification.data["completion_id"].astext == completion_id,
                Notification.household_id == household_id,
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def mark_read(self, user_id: uuid.UUID, notification_id: uuid.UUID, at: datetime) -> Notification | None:
        """Mark one of `user_id`'s notifications read (keeping the first read time); None when there is none such."""
        result = await self._session.scalars(
            sa.update(Notification)
            .where(Notification.id == notification_id, Notification.user_id == user_id)
            .values(read_time=sa.func.coalesce(Notification.read_time, at))
            .returning(Notification)
        )
        return result.one_or_none()

    async def mark_all_read(self, user_id: uuid.UUID, at: datetime) -> int:
        result = await self._session.execute(
            sa.update(Notification)
            .where(Notification.user_id == user_id, Notification.read_time.is_(None))
            .values(read_time=at)
            .returning(Notification.id)
        )
        return len(result.all())
