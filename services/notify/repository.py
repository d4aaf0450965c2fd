"""SQL of the notify service: the membership read model and the notifications inbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.models import HouseholdMember, Notification

# (create_time, id) of the last notification of the previous page; pages go newest first.
Cursor = tuple[datetime, uuid.UUID]


class MemberRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def apply(
        self,
        household_id: uuid.UUID,
        user_id: uuid.UUID,
        *,
        at: datetime,
        role: str | None = None,
        display_name: str | None = None,
        left: bool = False,
    ) -> None:
        """Upsert what one member.* event says, unless a newer event about this member was applied already.

        `role`/`display_name` None: the event does not speak about it (keep what is known).
        """
        table = HouseholdMember.__table__
        stmt = insert(HouseholdMember).values(
            household_id=household_id,
            user_id=user_id,
            role=role or "",
            display_name=display_name or "",
            as_of=at,
            left_at=at if left else None,
            name_as_of=at if display_name is not None else None,
        )
        new = stmt.excluded
        newer = new.as_of >= table.c.as_of
        updates: dict[str, Any] = {
            "as_of": sa.func.greatest(table.c.as_of, new.as_of),
            "left_at": sa.case((newer, new.left_at), else_=table.c.left_at),
        }
        if role is not None:
            updates["role"] = sa.case((newer, new.role), else_=table.c.role)
        if display_name is not None:
            # Fill a row an earlier-applied member.updated created; never replace a newer name (user.updated).
            takes_name = sa.and_(
                sa.or_(newer, table.c.display_name == ""),
                sa.or_(table.c.name_as_of.is_(None), new.name_as_of >= table.c.name_as_of),
            )
            updates["display_name"] = sa.case((takes_name, new.display_name), else_=table.c.display_name)
            updates["name_as_of"] = sa.case((takes_name, new.name_as_of), else_=table.c.name_as_of)
        upsert = stmt.on_conflict_do_update(index_elements=["household_id", "user_id"], set_=updates)
        await self._session.execute(upsert)

    async def rename(self, user_id: uuid.UUID, display_name: str, *, at: datetime) -> None:
        """A user.updated name, in every household the user is known in, unless a newer name is there already.

        Membership facts (role, `as_of`, `left_at`) are left alone; a household whose member.joined has not been
        handled yet gets the name that event carries."""
        await self._session.execute(
            sa.update(HouseholdMember)
            .where(
                HouseholdMember.user_id == user_id,
                sa.or_(HouseholdMember.name_as_of.is_(None), HouseholdMember.name_as_of <= at),
            )
            .values(display_name=display_name, name_as_of=at)
            .execution_options(synchronize_session=False)
        )

    async def of_household(self, household_id: uuid.UUID) -> list[HouseholdMember]:
        """Every member row of the household, including those who left (for names)."""
        result = await self._session.scalars(
            sa.select(HouseholdMember).where(HouseholdMember.household_id == household_id)
        )
        return list(result)


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert notifications, skipping any already there for the same (event, user); returns how many are new."""
        if not rows:
            return 0
        result = await self._session.execute(
            insert(Notification)
            .values(list(rows))
            .on_conflict_do_nothing(constraint="uq_notifications_event_id_user_id")
            .returning(Notification.id)
        )
        return len(result.all())

    async def page(
        self, user_id: uuid.UUID, *, unread_only: bool, after: Cursor | None, limit: int
    ) -> list[Notification]:
        query = sa.select(Notification).where(Notification.user_id == user_id)
        if unread_only:
            query = query.where(Notification.read_time.is_(None))
        if after is not None:
            query = query.where(sa.tuple_(Notification.create_time, Notification.id) < sa.tuple_(*after))
        query = query.order_by(Notification.create_time.desc(), Notification.id.desc()).limit(limit)
        return list(await self._session.scalars(query))

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
