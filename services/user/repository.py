"""SQL of the user service: accounts, login sessions, households, memberships, invites.

Each repository wraps the caller's `AsyncSession`; transactions belong to the use cases. Lists are
keyset-paginated: the caller passes the previous page's last sort key and `kit.repository.keyset` orders and
bounds the select (`kit.repository.page` joins the two).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kit.repository import Cursor, keyset
from services.user.models import Household, Invite, Membership, Session, SpentRefreshToken, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, user: User) -> None:
        self._session.add(user)

    async def get(self, user_id: uuid.UUID, *, lock: bool = False) -> User | None:
        """The user; `lock` takes the row lock (FOR UPDATE)."""
        return await self._session.get(User, user_id, with_for_update=lock)

    async def by_email(self, email: str) -> User | None:
        # lower(email) is what the unique index covers, so this is an index lookup.
        return await self._session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.lower()))

    async def replace_password_hash(self, user_id: uuid.UUID, old: str, new: str) -> None:
        """Store `new` only while the hash is still `old` (a concurrent password change wins)."""
        await self._session.execute(
            sa.update(User).where(User.id == user_id, User.password_hash == old).values(password_hash=new)
        )


class SessionRepository:
    """Login sessions and their refresh tokens (only SHA-256 hashes are stored)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, login: Session) -> None:
        self._session.add(login)

    async def by_refresh_hash(self, digest: bytes) -> Session | None:
        """The session whose *current* refresh token has this hash, locked (rotation is read-modify-write)."""
        return await self._session.scalar(sa.select(Session).where(Session.refresh_hash == digest).with_for_update())

    async def spent(self, digest: bytes) -> SpentRefreshToken | None:
        return await self._session.get(SpentRefreshToken, digest)

    def spend(self, digest: bytes, session_id: uuid.UUID, now: datetime) -> None:
        self._session.add(SpentRefreshToken(refresh_hash=digest, session_id=session_id, spend_time=now))

    async def revoke(self, session_id: uuid.UUID, now: datetime, *, user_id: uuid.UUID | None = None) -> None:
        """Revoke the session if it is live (and, given `user_id`, that user's)."""
        await self._revoke(Session.id == session_id, now, user_id)

    async def revoke_by_refresh_hash(self, digest: bytes, now: datetime, *, user_id: uuid.UUID | None = None) -> None:
        """Revoke the live session whose current refresh token has this hash (and, given `user_id`, is theirs)."""
        await self._revoke(Session.refresh_hash == digest, now, user_id)

    async def _revoke(self, condition: sa.ColumnElement[bool], now: datetime, user_id: uuid.UUID | None) -> None:
        if user_id is not None:
            condition = condition & (Session.user_id == user_id)
        await self._session.execute(
            sa.update(Session).where(condition, Session.revoke_time.is_(None)).values(revoke_time=now)
        )


class HouseholdRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, household: Household) -> None:
        self._session.add(household)

    async def get(self, household_id: uuid.UUID) -> Household | None:
        """The household, a deleted one too (`delete_time` set)."""
        return await self._session.get(Household, household_id)

    async def with_membership(
        self, household_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
    ) -> tuple[Household, Membership] | None:
        """The live household and `user_id`'s membership in it; `lock` locks both rows (FOR UPDATE)."""
        statement = (
            sa.select(Household, Membership)
            .join(Membership, Membership.household_id == Household.id)
            .where(Household.id == household_id, Household.delete_time.is_(None), Membership.user_id == user_id)
        )
        if lock:
            statement = statement.with_for_update()
        row = (await self._session.execute(statement)).first()
        if row is None:
            return None
        household, membership = row
        return household, membership

    async def page_for_user(
        self, user_id: uuid.UUID, *, after: Cursor | None, limit: int
    ) -> list[tuple[Household, str]]:
        """`user_id`'s live households with the user's role, by id (UUIDv7: creation order), after the (id,) key."""
        statement = (
            sa.select(Household, Membership.role)
            .join(Membership, Membership.household_id == Household.id)
            .where(Membership.user_id == user_id, Household.delete_time.is_(None))
        )
        paged = keyset(statement, (Household.id.expression,), after=after, limit=limit)
        return [(household, role) for household, role in await self._session.execute(paged)]


class MemberRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, membership: Membership) -> None:
        self._session.add(membership)

    async def get(self, household_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
        return await self._session.get(Membership, (household_id, user_id))

    async def with_name(
        self, household_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
    ) -> tuple[Membership, str] | None:
        """The membership and the member's display name; `lock` locks the membership row (FOR UPDATE)."""
        statement = (
            sa.select(Membership, User.display_name)
            .join(User, User.id == Membership.user_id)
            .where(Membership.household_id == household_id, Membership.user_id == user_id)
        )
        if lock:
            statement = statement.with_for_update(of=Membership)
        row = (await self._session.execute(statement)).first()
        if row is None:
            return None
        membership, name = row
        return membership, name

    async def page_with_names(
        self, household_id: uuid.UUID, *, after: Cursor | None, limit: int
    ) -> list[tuple[Membership, str]]:
        """Memberships with display names, in joining order (ties by user id), after the (join_time, user_id) key."""
        statement = (
            sa.select(Membership, User.display_name)
            .join(User, User.id == Membership.user_id)
            .where(Membership.household_id == household_id)
        )
        order = (Membership.join_time.expression, Membership.user_id.expression)
        paged = keyset(statement, order, after=after, limit=limit)
        return [(membership, name) for membership, name in await self._session.execute(paged)]

    async def user_ids(self, household_id: uuid.UUID) -> Sequence[uuid.UUID]:
        """The ids of the household's members (in no particular order)."""
        return (
            await self._session.scalars(sa.select(Membership.user_id).where(Membership.household_id == household_id))
        ).all()

    async def delete(self, membership: Membership) -> None:
        await self._session.delete(membership)

    async def delete_all(self, household_id: uuid.UUID) -> None:
        await self._session.execute(sa.delete(Membership).where(Membership.household_id == household_id))


class InviteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, invite: Invite) -> None:
        self._session.add(invite)

    async def get(self, invite_id: uuid.UUID) -> Invite | None:
        return await self._session.get(Invite, invite_id)

    async def by_code_hash(self, digest: bytes) -> Invite | None:
        """Locked (FOR UPDATE): two people accepting one code at once are serialised; the second sees it used."""
        return await self._session.scalar(sa.select(Invite).where(Invite.code_hash == digest).with_for_update())
