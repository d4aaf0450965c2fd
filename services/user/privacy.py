"""Erasing an account (GDPR art. 17): DeleteUser, and what the user service keeps of the person afterwards.

DeleteUser needs the account's password and, with MFA on, a second factor. It is one
transaction; when it commits the account is gone (the email can sign up again) and:

- **households**: the person's memberships are removed (member.left each). A household they were the only member
  of is deleted (delete_time, its name cleared; household.deleted, after the member.left). A household they owned
  with others in it passes to the longest-standing admin, else the longest-standing member, else the
  longest-standing child (`successor`; member.updated): a household is never left without an owner, and one
  whose adults are all gone still has someone who can invite an adult or delete it. The transfer (and a
  deletion) is in the household's audit log, its actor the deleted-user marker (below);
- **sessions and API keys** end at once (services/user/revocation.py: `session.revoked` for each, reason
  `user_deleted`, and the shared revocation set after the commit); then their rows are deleted with the account
  (refresh-token hashes, recovery codes, password resets, API keys, away periods, exports: ON DELETE CASCADE);
- **invites**: those addressed to their email are deleted; on the others they created or accepted, their id is
  replaced by `DELETED_USER` (the invite is the household's);
- **the audit log**: their own log (rows concerning only them) is deleted; rows in a household's log keep the
  event but lose the person — no longer in their log, their id replaced by `DELETED_USER` in the actor, target and
  details, and, where they were the actor, the address and User-Agent (theirs) cleared. One row records that an
  account was erased, naming nobody (`user.deleted`, without actor, address or User-Agent);
- **request ids** they made (theirs, and their registration's, keyed by their email) are deleted;
- **user.deleted** (user id, households) is written last: every service erases or anonymises what it holds.

What stays in the user database naming them is only the outbox, until its events are on the stream: the
service consumes its own user.deleted (`handlers`) and then rewrites every outbox row naming the person
(kit.erasure: their id becomes `DELETED_USER`, and the display name, time zone and locale that user.registered,
member.joined and user.updated carry are cleared, as is the name of a household deleted with them), so the
retained events name nobody either. A household that lives on keeps its name, in its row and its events: it is
the household's, which its remaining members may have chosen to keep.

The account is deleted, not anonymised: a row of a deleted person would be an account nobody can use, kept only to
be filtered out everywhere. Households keep their history elsewhere (task's completions, analytics' facts),
attributed to the one deleted-user marker.

The second factor is asked as a login asks it (services/user/mfa.py through accounts.SecondFactor): a TOTP code of
a step not used before, or an unused recovery code, spent in the deletion's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

import sqlalchemy as sa
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hearth.events.v1 import events_pb2
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context
from kit.db import utcnow
from kit.erasure import DELETED_USER, Scrub, anonymise_outbox
from kit.errors import Conflict, NotFound, Unauthenticated, invalid
from kit.events import Event, Handlers
from kit.ids import new_id
from kit.names import household_name
from kit.outbox import add_event
from kit.revocations import Revocation
from kit.validation import caller_id
from services.user import audit, events, passwords, request_ids
from services.user.accounts import SecondFactor
from services.user.models import (
    AuditEvent,
    Household,
    Invite,
    Membership,
    Session,
    User,
    idempotency_keys,
)
from services.user.repository import (
    ApiKeyRepository,
    AuditRepository,
    SessionRepository,
    UserRepository,
)
from services.user.revocation import Revoker

# Who takes over a household whose owner's account is deleted: the first role here that someone holds.
SUCCESSION = ("admin", "member", "child")
REASON = "owner_deleted_account"
# The fields of an event's (sub)message about the person (or a household that was theirs alone), cleared with
# their id (kit.erasure's scrub).
PERSONAL_FIELDS = ("display_name", "time_zone", "locale", "email")
TOTP_STEP_SECONDS = 30


class Privacy:
    """UserService.DeleteUser's use case."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        hashing: passwords.PasswordHashing,
        revoker: Revoker,
        second_factor: SecondFactor,
    ) -> None:
        self._sessions = sessions
        self._hashing = hashing
        self._revoker = revoker
        self._second_factor = second_factor

    async def delete_user(self, user_id: uuid.UUID, *, password: str, totp_code: str = "") -> None:
        """Erase the caller's account (see the module docstring). Anyone else's, or an account already gone, is
        NOT_FOUND; a wrong password UNAUTHENTICATED; a missing or wrong second factor MFA_REQUIRED."""
        me = caller_id()
        if user_id != me:
            raise NotFound("user not found")
        if not password:
            raise invalid("password", "is required")
        async with self._sessions() as session:
            user = await UserRepository(session).get(me)
        if user is None:
            raise NotFound("user not found")
        # argon2 outside any transaction (slow on purpose): neither the event loop nor a connection waits for it.
        if not await self._hashing.verified(user.password_hash, password):
            raise Unauthenticated("wrong password")
        verified_hash = user.password_hash
        async with self._sessions() as session, session.begin():
            user = await UserRepository(session).get(me, lock=True)
            if user is None:
                raise NotFound("user not found")
            if user.password_hash != verified_hash:
                raise Conflict("the password changed meanwhile; try again with the new one")
            await self._second_factor.check_login(session, user.id, totp_code)
            revocations = await erase_account(session, user, self._revoker)
        await self._revoker.publish(revocations)


async def erase_account(session: AsyncSession, user: User, revoker: Revoker) -> list[Revocation]:
    """Everything of the module docstring, in `session`'s transaction (the user row locked); the revocations to
    publish once it has committed."""
    me = user.id
    now = utcnow()
    household_ids = await _leave_households(session, me)

    await session.execute(sa.delete(Invite).where(sa.func.lower(Invite.email) == user.email.lower()))
    for column in (Invite.creator_id, Invite.accepted_by):
        await session.execute(sa.update(Invite).where(column == me).values({column: DELETED_USER}))

    logins = SessionRepository(session)
    ended = [*await logins.revoke_all(me, now), *await ApiKeyRepository(session).revoke_all(me, now)]
    revocations = await revoker.record(session, [(ended_id, me) for ended_id in ended], reason="user_deleted", now=now)

    await _anonymise_audit(session, me)
    keys = idempotency_keys.c
    await session.execute(
        sa.delete(idempotency_keys).where(
            keys.caller.in_([str(me), request_ids.registration_caller(user.email)]) | (keys.resource_id == me)
        )
    )
    await session.execute(sa.delete(Session).where(Session.user_id == me))
    await session.execute(sa.delete(User).where(User.id == me).execution_options(synchronize_session=False))
    await add_event(session, events.user_deleted(me, household_ids), actor_id=me)
    AuditRepository(session).add(
        AuditEvent(
            id=new_id(),
            action="user.deleted",
            correlation_id=context.correlation_id.get(),
            details={},
            create_time=now,
        )
    )
    return revocations


async def _leave_households(session: AsyncSession, me: uuid.UUID) -> list[uuid.UUID]:
    """Remove `me` from every household (see the module docstring); the ids of the households they were in."""
    rows = (
        await session.execute(
            sa.select(Membership, Household)
            .join(Household, Household.id == Membership.household_id)
            .where(Membership.user_id == me)
            .order_by(Membership.household_id)
            .with_for_update()
        )
    ).all()
    left = []
    for membership, household in rows:
        household_id = household.id
        left.append(household_id)
        others = list(
            await session.scalars(
                sa.select(Membership)
                .where(Membership.household_id == household_id, Membership.user_id != me)
                .order_by(Membership.join_time, Membership.user_id)
                .with_for_update()
            )
        )
        owner = membership.role == "owner"
        await session.delete(membership)
        await session.flush()  # the owner's row goes before the successor's becomes one (uq_memberships_owner)
        await add_event(session, events.member_left(household_id, me), household_id=household_id)
        if not others:
            # Nobody else's: its name (often the person's own) goes too; the row stays, marked deleted.
            household.name = ""
            household.delete_time = household.update_time = utcnow()
            household.version += 1
            await add_event(session, events.household_deleted(household_id), household_id=household_id)
            await audit.record(
                session,
                "household.deleted",
                household_id=household_id,
                target=household_name(household_id),
                details={"reason": REASON},
            )
        elif owner:
            heir = successor(others)
            previous, heir.role = heir.role, "owner"
            await session.flush()
            await add_event(
                session, events.member_updated(household_id, heir.user_id, "owner"), household_id=household_id
            )
            await audit.record(
                session,
                "household.ownership_transferred",
                household_id=household_id,
                target=f"{household_name(household_id)}/members/{heir.user_id}",
                details={"previous_role": previous, "reason": REASON},
            )
    return left


def successor(members: Sequence[Membership]) -> Membership:
    """Who takes over from a deleted owner: the longest-standing of the first role in SUCCESSION that anyone holds
    (`members` in joining order)."""
    for role in SUCCESSION:
        for membership in members:
            if membership.role == role:
                return membership
    raise ValueError("a household with members but none of them in SUCCESSION's roles")


async def _anonymise_audit(session: AsyncSession, me: uuid.UUID) -> None:
    """Their own log deleted; a household's rows keep the event and lose the person (see the module docstring) —
    those written by this erasure too (a transfer, a household deleted: the caller's, recorded with their client)."""
    await session.flush()
    await session.execute(sa.delete(AuditEvent).where(AuditEvent.user_id == me, AuditEvent.household_id.is_(None)))
    await session.execute(sa.update(AuditEvent).where(AuditEvent.user_id == me).values(user_id=None))
    await session.execute(
        sa.update(AuditEvent)
        .where(AuditEvent.actor_id == me)
        .values(actor_id=DELETED_USER, ip_address="", user_agent="")
    )
    old, new = str(me), str(DELETED_USER)
    details_text = sa.cast(AuditEvent.details, sa.Text)
    await session.execute(
        sa.update(AuditEvent)
        .where(AuditEvent.target.contains(old) | details_text.contains(old))
        .values(
            target=sa.func.replace(AuditEvent.target, old, new),
            details=sa.cast(sa.func.replace(details_text, old, new), JSONB),
        )
    )


def scrubber(erased_households: Collection[str] = ()) -> Scrub:
    """kit.erasure's scrub for the user service's events: in any (sub)message about the person (its `user_id`
    field is theirs) the display name, time zone, locale and address are cleared (user.registered, member.joined,
    user.updated); in any about a household deleted with them (`erased_households`: nobody else's) the household's
    name and time zone (household.created, household.updated)."""

    def scrub(message: Message, user_id: str) -> None:
        fields = message.DESCRIPTOR.fields_by_name
        values = {d.name: v for d, v in message.ListFields()}
        if values.get("user_id") == user_id or values.get("household_id") in erased_households:
            for name in PERSONAL_FIELDS:
                if name in fields:
                    message.ClearField(name)
        for descriptor, value in message.ListFields():
            if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
                for item in value if descriptor.is_repeated else [value]:
                    scrub(item, user_id)

    return scrub


def handlers() -> Handlers:
    async def on_user_deleted(session: AsyncSession, event: Event[events_pb2.UserDeleted]) -> None:
        """The account's events are on the stream now (user.deleted is the last of them): rewrite every outbox row
        naming the person, so what the outbox keeps for its retention names nobody. Of the households they were in,
        those deleted by now went with them (they were alone in them: see `_leave_households`)."""
        member_of = [uuid.UUID(h) for h in event.payload.household_ids]
        deleted = await session.scalars(
            sa.select(Household.id).where(Household.id.in_(member_of), Household.delete_time.is_not(None))
        )
        erased = {str(household_id) for household_id in deleted}
        await anonymise_outbox(session, uuid.UUID(event.payload.user_id), scrub=scrubber(erased))

    return {events_pb2.UserDeleted: on_user_deleted}


__all__ = [
    "SUCCESSION",
    "Privacy",
    "erase_account",
    "handlers",
    "scrubber",
    "successor",
]
