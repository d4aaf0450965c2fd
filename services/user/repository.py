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
from services.user.models import (
    ApiKey,
    AuditEvent,
    Away,
    Household,
    Invite,
    Membership,
    PasswordReset,
    RecoveryCode,
    Session,
    SpentRefreshToken,
    User,
)


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

    async def revoke(
        self, session_id: uuid.UUID, now: datetime, *, user_id: uuid.UUID | None = None
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Revoke the session if it is live (and, given `user_id`, that user's); what was ended."""
        return await self._revoke(Session.id == session_id, now, user_id)

    async def revoke_by_refresh_hash(
        self, digest: bytes, now: datetime, *, user_id: uuid.UUID | None = None
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Revoke the live session whose current refresh token has this hash (and, given `user_id`, is theirs)."""
        return await self._revoke(Session.refresh_hash == digest, now, user_id)

    async def _revoke(
        self, condition: sa.ColumnElement[bool], now: datetime, user_id: uuid.UUID | None
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Revoke the live sessions matching `condition`; (session id, user id) of each one ended."""
        if user_id is not None:
            condition = condition & (Session.user_id == user_id)
        rows = await self._session.execute(
            sa.update(Session)
            .where(condition, Session.revoke_time.is_(None))
            .values(revoke_time=now)
            .returning(Session.id, Session.user_id)
        )
        return [(session_id, owner) for session_id, owner in rows]

    async def revoke_returning(
        self, session_ids: Sequence[uuid.UUID], now: datetime, *, user_id: uuid.UUID
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        return await self._revoke(Session.id.in_(session_ids), now, user_id)

    async def revoke_all(self, user_id: uuid.UUID, now: datetime, *, keep: uuid.UUID | None = None) -> list[uuid.UUID]:
        """End every live session of `user_id` (but `keep`); the ids ended."""
        condition = Session.user_id == user_id
        if keep is not None:
            condition = condition & (Session.id != keep)
        return [session_id for session_id, _ in await self._revoke(condition, now, None)]

    async def page_live(self, user_id: uuid.UUID, now: datetime, *, after: Cursor | None, limit: int) -> list[Session]:
        """`user_id`'s sessions that are neither revoked nor expired, newest first."""
        statement = sa.select(Session).where(
            Session.user_id == user_id, Session.revoke_time.is_(None), Session.expire_time > now
        )
        paged = keyset(statement, (Session.id.expression,), after=after, limit=limit, descending=True)
        return list(await self._session.scalars(paged))


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


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, event: AuditEvent) -> None:
        self._session.add(event)

    async def page(self, kind: str, owner: uuid.UUID, *, after: Cursor | None, limit: int) -> list[AuditEvent]:
        """A user's (`kind` "user") or a household's events, newest first (ids are UUIDv7)."""
        column = AuditEvent.user_id if kind == "user" else AuditEvent.household_id
        statement = sa.select(AuditEvent).where(column == owner)
        paged = keyset(statement, (AuditEvent.id.expression,), after=after, limit=limit, descending=True)
        return list(await self._session.scalars(paged))


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, key: ApiKey) -> None:
        self._session.add(key)

    async def by_hash(self, digest: bytes) -> ApiKey | None:
        return await self._session.scalar(sa.select(ApiKey).where(ApiKey.key_hash == digest))

    async def get(self, key_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False) -> ApiKey | None:
        statement = sa.select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id)
        return await self._session.scalar(statement.with_for_update() if lock else statement)

    async def page(self, user_id: uuid.UUID, *, after: Cursor | None, limit: int) -> list[ApiKey]:
        """`user_id`'s keys not revoked, newest first."""
        statement = sa.select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoke_time.is_(None))
        paged = keyset(statement, (ApiKey.id.expression,), after=after, limit=limit, descending=True)
        return list(await self._session.scalars(paged))

    async def count_live(self, user_id: uuid.UUID, now: datetime) -> int:
        """`user_id`'s keys neither deleted nor expired."""
        count = await self._session.scalar(
            sa.select(sa.func.count())
            .select_from(ApiKey)
            .where(
                ApiKey.user_id == user_id,
                ApiKey.revoke_time.is_(None),
                sa.or_(ApiKey.expire_time.is_(None), ApiKey.expire_time > now),
            )
        )
        return int(count or 0)

    async def mark_used(self, key_id: uuid.UUID, now: datetime) -> bool:
        """Record a use; True when it was the key's first."""
        first = await self._session.scalar(
            sa.update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.last_use_time.is_(None))
            .values(last_use_time=now)
            .returning(ApiKey.id)
        )
        if first is None:
            await self._session.execute(sa.update(ApiKey).where(ApiKey.id == key_id).values(last_use_time=now))
        return first is not None

    async def revoke_all(self, user_id: uuid.UUID, now: datetime) -> list[uuid.UUID]:
        rows = await self._session.scalars(
            sa.update(ApiKey)
            .where(ApiKey.user_id == user_id, ApiKey.revoke_time.is_(None))
            .values(revoke_time=now)
            .returning(ApiKey.id)
        )
        return list(rows)


class RecoveryCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def replace(self, user_id: uuid.UUID, digests: Sequence[bytes]) -> None:
        await self._session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        self._session.add_all(RecoveryCode(code_hash=d, user_id=user_id) for d in digests)

    async def use(self, user_id: uuid.UUID, digest: bytes, now: datetime) -> bool:
        """Spend the code if it is this user's and unused; True when it was."""
        used = await self._session.scalar(
            sa.update(RecoveryCode)
            .where(RecoveryCode.code_hash == digest, RecoveryCode.user_id == user_id, RecoveryCode.use_time.is_(None))
            .values(use_time=now)
            .returning(RecoveryCode.code_hash)
        )
        return used is not None

    async def delete_all(self, user_id: uuid.UUID) -> None:
        await self._session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


class AwayRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, household_id: uuid.UUID, user_id: uuid.UUID) -> Away | None:
        return await self._session.get(Away, (household_id, user_id))

    async def put(self, away: Away) -> Away:
        return await self._session.merge(away)

    async def delete(self, household_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        deleted = await self._session.scalar(
            sa.delete(Away).where(Away.household_id == household_id, Away.user_id == user_id).returning(Away.user_id)
        )
        return deleted is not None

    async def delete_household(self, household_id: uuid.UUID) -> None:
        await self._session.execute(sa.delete(Away).where(Away.household_id == household_id))


class PasswordResetRepository:
    """Password-reset tokens (only their SHA-256 is stored)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, reset: PasswordReset) -> None:
        self._session.add(reset)

    async def get(self, digest: bytes, *, lock: bool = False) -> PasswordReset | None:
        return await self._session.get(PasswordReset, digest, with_for_update=lock)

    async def live_count(self, user_id: uuid.UUID, now: datetime) -> int:
        """How many of `user_id`'s tokens are neither used nor expired."""
        return int(
            await self._session.scalar(
                sa.select(sa.func.count())
                .select_from(PasswordReset)
                .where(
                    PasswordReset.user_id == user_id,
                    PasswordReset.use_time.is_(None),
                    PasswordReset.expire_time > now,
                )
            )
            or 0
        )

    async def delete(self, digest: bytes) -> None:
        """A token that was never mailed (notify did not take the mail)."""
        await self._session.execute(sa.delete(PasswordReset).where(PasswordReset.token_hash == digest))

    async def spend_all(self, user_id: uuid.UUID, now: datetime) -> None:
        """Every unused token of `user_id` stops working (one was used, or the password changed)."""
        await self._session.execute(
            sa.update(PasswordReset)
            .where(PasswordReset.user_id == user_id, PasswordReset.use_time.is_(None))
            .values(use_time=now)
        )
