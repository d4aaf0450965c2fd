"""Use cases of the user service: accounts and sessions, households, invites, memberships.

Every state change commits together with its event (`kit.outbox.add_event`). Authorization is here:
an outsider asking about a household gets NOT_FOUND; a member without the role PERMISSION_DENIED.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from email_validator import EmailNotValidError, validate_email
from google.protobuf.timestamp_pb2 import Timestamp
from hearth.events.v1 import events_pb2
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context
from kit.db import utcnow
from kit.errors import (
    AlreadyExists,
    FieldViolation,
    Gone,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    Unauthenticated,
    invalid,
)
from kit.ids import new_id
from kit.outbox import add_event
from kit.pagination import CursorPart, Uuid, decode_cursor, encode_token, fingerprint, page_size
from kit.pagination import Timestamp as TimestampPart
from kit.text import CONTROL_CHARACTERS_MESSAGE, has_control_characters
from services.user import keys, passwords, tokens
from services.user.models import Household, Invite, Membership, Session, User
from services.user.repository import (
    HouseholdRepository,
    InviteRepository,
    MemberRepository,
    RequestRepository,
    SessionRepository,
    UserRepository,
)
from services.user.roles import ROLES

MANAGERS = ("owner", "admin")
# What UpdateUser and UpdateHousehold may change (update mask paths), in the order events list them.
USER_FIELDS = ("display_name", "time_zone", "locale")
HOUSEHOLD_FIELDS = ("display_name", "time_zone")
INVITABLE_ROLES = ("admin", "member", "child")
NAME_MAX = 100
REQUEST_ID_MAX = 100
# Page-token cursors (kit.pagination.decode_cursor): ListHouseholds by household id, ListMembers by (join time, id).
HOUSEHOLD_CURSOR: Sequence[CursorPart] = (Uuid(),)
MEMBER_CURSOR: Sequence[CursorPart] = (TimestampPart(), Uuid())


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class Member:
    membership: Membership
    display_name: str
    household_time_zone: str


@dataclass(frozen=True)
class Policy:
    issuer: str
    audience: str
    access_ttl: timedelta
    refresh_ttl: timedelta
    invite_ttl: timedelta


def caller_id() -> uuid.UUID:
    caller = context.caller.get()
    if caller is None:
        raise Unauthenticated("authentication required")
    return uuid.UUID(caller.user_id)


def _text(field: str, value: str, *, max_length: int = NAME_MAX, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise invalid(field, "is required")
    if len(value) > max_length:
        raise invalid(field, f"must be at most {max_length} characters")
    # PostgreSQL refuses NUL in text (a 500 otherwise); the other control characters are invisible mischief.
    if has_control_characters(value):
        raise invalid(field, CONTROL_CHARACTERS_MESSAGE)
    return value


def _request_id(value: str) -> str:
    """A client's `request_id` (AIP-155), stored with what it made: short, and text PostgreSQL can hold."""
    if len(value) > REQUEST_ID_MAX:
        raise invalid("request_id", f"must be at most {REQUEST_ID_MAX} characters")
    if has_control_characters(value):
        raise invalid("request_id", CONTROL_CHARACTERS_MESSAGE)
    return value


def _printable(value: str, max_length: int) -> str:
    """Client-reported context kept for display (a session's user agent): control characters dropped, not refused."""
    return "".join(char for char in value if not has_control_characters(char))[:max_length]


def valid_time_zone(field: str, value: str, default: str | None = None) -> str:
    value = value.strip() or (default or "")
    if not value:
        raise invalid(field, "is required (an IANA time zone such as Europe/Berlin)")
    if has_control_characters(value):
        raise invalid(field, CONTROL_CHARACTERS_MESSAGE)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise invalid(field, f"{value!r} is not an IANA time zone") from exc
    if value not in available_timezones() and value != "UTC":
        raise invalid(field, f"{value!r} is not an IANA time zone")
    return value


def normalise_email(value: str, field: str = "email") -> str:
    if has_control_characters(value):
        raise invalid(field, CONTROL_CHARACTERS_MESSAGE)
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise invalid(field, str(exc)) from exc


def etag_of(version: int) -> str:
    return f'W/"{version}"'


def _check_etag(given: str, version: int, what: str) -> None:
    """An `etag` sent with a change must still match: `W/"3"` as we return it, or `3` / `"3"` as the gateway
    forwards an If-Match entity tag (quotes and weakness stripped). Empty means no precondition."""
    value = given.strip().removeprefix("W/").strip('"')
    if value and value != str(version):
        raise PreconditionFailed(f"the {what} has changed since it was read (etag mismatch)")


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


class UserService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        signing_key: keys.SigningKey,
        policy: Policy,
        hashing: passwords.PasswordHashing | None = None,
    ) -> None:
        self._sessions = sessions
        self._key = signing_key
        self._invite_secret = tokens.invite_secret(signing_key)
        self._hashing = hashing or passwords.PasswordHashing()
        self._policy = policy

    # --- accounts ---------------------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        return keys.jwks([self._key])

    async def register(
        self, *, email: str, password: str, display_name: str, time_zone: str, locale: str, request_id: str = ""
    ) -> User:
        # Every problem at once, so a form can show them all.
        violations: list[FieldViolation] = []
        checks: list[Callable[[], str]] = [
            lambda: normalise_email(email),
            lambda: _text("display_name", display_name),
            lambda: valid_time_zone("time_zone", time_zone, "UTC"),
            lambda: _text("locale", locale or "en", max_length=35),
        ]
        for check in checks:
            try:
                check()
            except InvalidArgument as exc:
                violations += exc.violations
        reason = passwords.policy_violation(password)
        if "\x00" in password:
            # argon2 would hash it, but no other text of ours holds a NUL: refused alike.
            reason = "must not contain NUL characters"
        if reason:
            violations.append(FieldViolation("password", reason))
        try:
            _request_id(request_id)
        except InvalidArgument as exc:
            violations += exc.violations
        if violations:
            raise InvalidArgument("the account details are not valid", violations=violations)
        address = normalise_email(email)
        # Nobody is signed in yet: a retry is recognised by its request id together with the email.
        request_key = f"register:{address}"
        if request_id:
            replayed = await self._replayed_registration(request_key, request_id, password)
            if replayed is not None:
                return replayed
        # argon2 takes a good fraction of a second of CPU: off the event loop, or every RPC waits for it.
        password_hash = await asyncio.to_thread(self._hashing.hash, password)
        now = utcnow()
        user = User(
            id=new_id(),
            email=address,
            password_hash=password_hash,
            display_name=display_name.strip(),
            time_zone=valid_time_zone("time_zone", time_zone, "UTC"),
            locale=(locale or "en").strip(),
            version=1,
            create_time=now,
            update_time=now,
        )
        earlier = None
        try:
            async with self._sessions() as session, session.begin():
                if request_id:
                    # First, so a concurrent retry waits here for this one and then replays it (rather than
                    # colliding on the email and answering 409 to the client whose account was just made).
                    earlier = await RequestRepository(session).claim(request_key, request_id, "Register", user.id, now)
                if earlier is None:
                    UserRepository(session).add(user)
                    await session.flush()
                    await add_event(
                        session,
                        events_pb2.UserRegistered(
                            user_id=str(user.id), display_name=user.display_name, time_zone=user.time_zone
                        ),
                        actor_id=user.id,
                    )
        except IntegrityError as exc:
            raise AlreadyExists(
                "an account with this email already exists", [FieldViolation("email", "is already registered")]
            ) from exc
        if earlier is not None:
            # A concurrent call with this request id made the account first: the same answer, if it is the same request.
            replayed = await self._replayed_registration(request_key, request_id, password)
            if replayed is None:  # pragma: no cover - the claim above found the record
                raise AlreadyExists("an account with this email already exists")
            return replayed
        return user

    async def _replayed_registration(self, request_key: str, request_id: str, password: str) -> User | None:
        """The account a retried Register made, if this request id made one for this email; the password must
        match too (the same request, not someone who knows the id): otherwise the id was used differently."""
        async with self._sessions() as session:
            found = await RequestRepository(session).get(request_key, request_id)
            user = await UserRepository(session).get(found.resource_id) if found is not None else None
        if found is None:
            return None
        if user is None or not await asyncio.to_thread(self._hashing.verify, user.password_hash, password):
            raise invalid("request_id", "was already used for a different request")
        return user

    async def login(self, *, email: str, password: str, user_agent: str = "", ip_address: str = "") -> TokenPair:
        try:
            address = normalise_email(email)
        except InvalidArgument:
            address = ""
        async with self._sessions() as session:
            user = await UserRepository(session).by_email(address)
        stored = user.password_hash if user is not None else None
        # Verify even for an unknown email (against a dummy hash): the same answer in the same time. In a thread,
        # outside any transaction: argon2 is slow on purpose, and neither the event loop nor a connection waits.
        if not await asyncio.to_thread(self._hashing.verify, stored, password) or user is None:
            raise Unauthenticated("wrong email or password")
        rehashed = ""
        if self._hashing.needs_rehash(user.password_hash):
            rehashed = await asyncio.to_thread(self._hashing.hash, password)
        async with self._sessions() as session, session.begin():
            if rehashed:
                # Only if the hash is still the one verified (a concurrent password change wins).
                await UserRepository(session).replace_password_hash(user.id, user.password_hash, rehashed)
            now = utcnow()
            refresh = tokens.new_refresh_token()
            login = Session(
                id=new_id(),
                user_id=user.id,
                refresh_hash=tokens.secret_hash(refresh),
                generation=1,
                user_agent=_printable(user_agent, 500),
                ip_address=_printable(ip_address, 100),
                create_time=now,
                last_used_time=now,
                expire_time=now + self._policy.refresh_ttl,
            )
            SessionRepository(session).add(login)
        return self._pair(user.id, login.id, refresh, now)

    def _pair(self, user_id: uuid.UUID, session_id: uuid.UUID, refresh: str, now: datetime) -> TokenPair:
        access = tokens.issue_access_token(
            self._key,
            user_id=user_id,
            session_id=session_id,
            issuer=self._policy.issuer,
            audience=self._policy.audience,
            ttl=self._policy.access_ttl,
            now=now,
        )
        return TokenPair(access, refresh, int(self._policy.access_ttl.total_seconds()))

    async def refresh(self, refresh_token: str) -> TokenPair:
        if not refresh_token:
            raise invalid("refresh_token", "is required")
        digest = tokens.secret_hash(refresh_token)
        now = utcnow()
        async with self._sessions() as session, session.begin():
            logins = SessionRepository(session)
            login = await logins.by_refresh_hash(digest)
            if login is None:
                spent = await logins.spent(digest)
                if spent is not None:
                    # A spent token came back: someone kept a copy. End the whole session.
                    await logins.revoke(spent.session_id, now)
                    await session.commit()
                    raise Unauthenticated("refresh token reused; the session has been revoked")
                raise Unauthenticated("unknown refresh token")
            if login.revoke_time is not None or login.expire_time <= now:
                raise Unauthenticated("the session has ended; log in again")
            logins.spend(digest, login.id, now)
            fresh = tokens.new_refresh_token()
            login.refresh_hash = tokens.secret_hash(fresh)
            login.generation += 1
            login.last_used_time = now
            user_id, session_id = login.user_id, login.id
        return self._pair(user_id, session_id, fresh, now)

    async def logout(self, refresh_token: str) -> None:
        caller = context.caller.get()
        async with self._sessions() as session, session.begin():
            logins = SessionRepository(session)
            if refresh_token:
                digest = tokens.secret_hash(refresh_token)
                owner = uuid.UUID(caller.user_id) if caller is not None else None
                await logins.revoke_by_refresh_hash(digest, utcnow(), user_id=owner)
            elif caller is not None and caller.session_id:
                login_id = uuid.UUID(caller.session_id)
                await logins.revoke(login_id, utcnow(), user_id=uuid.UUID(caller.user_id))
            else:
                raise invalid("refresh_token", "is required without an authenticated session")

    async def get_user(self, user_ref: str) -> User:
        me = caller_id()
        if user_ref not in ("me", str(me)):
            # Profiles of other people are not shared yet (members see display names through ListMembers).
            raise NotFound("user not found")
        async with self._sessions() as session:
            user = await UserRepository(session).get(me)
        if user is None:
            raise NotFound("user not found")
        return user

    async def update_user(self, user_ref: str, changes: dict[str, str], mask: list[str], *, etag: str = "") -> User:
        me = caller_id()
        if user_ref not in ("me", str(me)):
            raise NotFound("user not found")
        allowed = USER_FIELDS
        unknown = [path for path in mask if path not in allowed]
        if unknown:
            raise invalid("update_mask", f"cannot update {', '.join(unknown)}")
        values: dict[str, str] = {}
        for path in mask or [key for key in allowed if changes.get(key)]:
            if path == "display_name":
                values[path] = _text("user.display_name", changes.get(path, ""))
            elif path == "time_zone":
                values[path] = valid_time_zone("user.time_zone", changes.get(path, ""))
            else:
                values[path] = _text("user.locale", changes.get(path, ""), max_length=35)
        async with self._sessions() as session, session.begin():
            user = await UserRepository(session).get(me, lock=True)
            if user is None:
                raise NotFound("user not found")
            _check_etag(etag, user.version, "user")
            changed = [path for path in USER_FIELDS if path in values and getattr(user, path) != values[path]]
            for key, value in values.items():
                setattr(user, key, value)
            if values:
                user.version += 1
                user.update_time = utcnow()
            if changed:  # set to what it was already: nothing to announce
                await session.flush()
                await add_event(
                    session,
                    events_pb2.UserUpdated(
                        user_id=str(user.id),
                        display_name=user.display_name,
                        time_zone=user.time_zone,
                        locale=user.locale,
                        changed=changed,
                    ),
                    actor_id=user.id,
                )
        return user

    # --- households -------------------------------------------------------------------------------

    async def _membership(
        self,
        session: AsyncSession,
        household_id: uuid.UUID,
        *,
        roles: tuple[str, ...] | None = None,
        lock: bool = False,
    ) -> tuple[Household, Membership]:
        """The household and the caller's membership; NOT_FOUND for outsiders, PERMISSION_DENIED without `roles`.

        `lock` locks both rows (FOR UPDATE) for a change that depends on the caller's role: concurrent membership
        changes in one household queue up and each sees the roles the previous one left."""
        row = await HouseholdRepository(session).with_membership(household_id, caller_id(), lock=lock)
        if row is None:
            raise NotFound("household not found")
        household, membership = row
        if roles is not None and membership.role not in roles:
            raise PermissionDenied(f"a {membership.role} may not do this")
        return household, membership

    async def _claim(
        self, session: AsyncSession, operation: str, request_id: str, resource_id: uuid.UUID, now: datetime
    ) -> uuid.UUID | None:
        """Record that the caller's `request_id` makes `resource_id` (in the caller's transaction, so it commits or
        rolls back with the resource); or the id of what an earlier call with it made, a concurrent one included
        (the claim waits for it). None: there was none, this call goes ahead."""
        if not request_id:
            return None
        earlier = await RequestRepository(session).claim(str(caller_id()), request_id, operation, resource_id, now)
        if earlier is None:
            return None
        if earlier.operation != operation:
            raise invalid("request_id", "was already used for a different request")
        return earlier.resource_id

    async def create_household(self, *, name: str, time_zone: str, request_id: str = "") -> tuple[Household, str]:
        me = caller_id()
        name = _text("household.display_name", name)
        zone = valid_time_zone("household.time_zone", time_zone)
        request_id = _request_id(request_id)
        async with self._sessions() as session, session.begin():
            households = HouseholdRepository(session)
            now = utcnow()
            household_id = new_id()
            replayed = await self._claim(session, "CreateHousehold", request_id, household_id, now)
            if replayed is not None:
                earlier = await households.get(replayed)
                if earlier is None:  # pragma: no cover - households are only ever soft-deleted
                    raise NotFound("household not found")
                return earlier, "owner"
            user = await UserRepository(session).get(me)
            if user is None:
                raise NotFound("user not found")
            household = Household(
                id=household_id, name=name, time_zone=zone, version=1, create_time=now, update_time=now
            )
            households.add(household)
            await session.flush()
            MemberRepository(session).add(
                Membership(household_id=household.id, user_id=me, role="owner", join_time=now)
            )
            await add_event(
                session,
                events_pb2.HouseholdCreated(
                    household_id=str(household.id), display_name=name, time_zone=zone, owner_id=str(me)
                ),
                household_id=household.id,
            )
            await self._member_joined(session, household.id, user, "owner", now)
        return household, "owner"

    async def _member_joined(
        self, session: AsyncSession, household_id: uuid.UUID, user: User, role: str, now: datetime
    ) -> None:
        await add_event(
            session,
            events_pb2.MemberJoined(
                household_id=str(household_id),
                user_id=str(user.id),
                display_name=user.display_name,
                role=role,
                joined_at=_timestamp(now),
            ),
            household_id=household_id,
        )

    async def get_household(self, household_id: uuid.UUID) -> tuple[Household, str]:
        async with self._sessions() as session:
            household, membership = await self._membership(session, household_id)
        return household, membership.role

    async def list_households(self, *, size: int, token: str) -> tuple[list[tuple[Household, str]], str]:
        me = caller_id()
        limit = page_size(size)
        query = fingerprint("households", str(me))
        # Tokens are not signed (anyone can build one): every part is checked, INVALID_ARGUMENT otherwise.
        after = decode_cursor(token, query, HOUSEHOLD_CURSOR)
        after_id: uuid.UUID | None = after[0] if after is not None else None
        async with self._sessions() as session:
            rows = await HouseholdRepository(session).page_for_user(me, after=after_id, limit=limit + 1)
        next_token = encode_token([str(rows[limit - 1][0].id)], query) if len(rows) > limit else ""
        return rows[:limit], next_token

    async def update_household(
        self, household_id: uuid.UUID, changes: dict[str, str], mask: list[str], *, etag: str = ""
    ) -> tuple[Household, str]:
        allowed = HOUSEHOLD_FIELDS
        unknown = [path for path in mask if path not in allowed]
        if unknown:
            raise invalid("update_mask", f"cannot update {', '.join(unknown)}")
        values: dict[str, str] = {}
        for path in mask or [key for key in allowed if changes.get(key)]:
            if path == "display_name":
                values["name"] = _text("household.display_name", changes.get(path, ""))
            else:
                values["time_zone"] = valid_time_zone("household.time_zone", changes.get(path, ""))
        async with self._sessions() as session, session.begin():
            household, membership = await self._membership(session, household_id, roles=MANAGERS, lock=True)
            _check_etag(etag, household.version, "household")
            changed = [
                path
                for path, key in (("display_name", "name"), ("time_zone", "time_zone"))
                if key in values and getattr(household, key) != values[key]
            ]
            for key, value in values.items():
                setattr(household, key, value)
            if values:
                household.version += 1
                household.update_time = utcnow()
            if changed:  # set to what it was already: nothing to announce
                await session.flush()
                # With every current member, so consumers drop what they cache per member (the time zone).
                members = sorted(await MemberRepository(session).user_ids(household_id))
                await add_event(
                    session,
                    events_pb2.HouseholdUpdated(
                        household_id=str(household.id),
                        display_name=household.name,
                        time_zone=household.time_zone,
                        changed=changed,
                        member_ids=[str(user_id) for user_id in members],
                    ),
                    household_id=household.id,
                )
        return household, membership.role

    async def delete_household(self, household_id: uuid.UUID, *, etag: str = "") -> None:
        async with self._sessions() as session, session.begin():
            household, _ = await self._membership(session, household_id, roles=("owner",), lock=True)
            _check_etag(etag, household.version, "household")
            household.delete_time = utcnow()
            memberships = MemberRepository(session)
            members = await memberships.user_ids(household_id)
            # Everyone leaves a deleted household: consumers drop their read models and cached access.
            for user_id in members:
                await add_event(
                    session,
                    events_pb2.MemberLeft(household_id=str(household_id), user_id=str(user_id)),
                    household_id=household_id,
                )
            await memberships.delete_all(household_id)

    # --- invites and members ----------------------------------------------------------------------

    async def create_invite(
        self, household_id: uuid.UUID, *, role: str, email: str, request_id: str = ""
    ) -> tuple[Invite, str]:
        if role not in INVITABLE_ROLES:
            raise invalid("invite.role", f"must be one of {', '.join(INVITABLE_ROLES)}")
        address = normalise_email(email, "invite.email") if email.strip() else ""
        request_id = _request_id(request_id)
        async with self._sessions() as session, session.begin():
            _, membership = await self._membership(session, household_id, roles=MANAGERS)
            if role == "admin" and membership.role != "owner":
                raise PermissionDenied("only the owner may invite admins")
            now = utcnow()
            invite_id = new_id()
            replayed = await self._claim(session, "CreateInvite", request_id, invite_id, now)
            if replayed is not None:
                return await self._replayed_invite(session, replayed, household_id)
            # Derived from the invite id under a server secret (tokens.invite_code): only its hash is stored, and a
            # retry with the same request id can still show the same code.
            code = tokens.invite_code(self._invite_secret, invite_id)
            invite = Invite(
                id=invite_id,
                household_id=household_id,
                code_hash=tokens.secret_hash(code),
                role=role,
                email=address,
                creator_id=membership.user_id,
                create_time=now,
                expire_time=now + self._policy.invite_ttl,
            )
            InviteRepository(session).add(invite)
        return invite, code

    async def _replayed_invite(
        self, session: AsyncSession, invite_id: uuid.UUID, household_id: uuid.UUID
    ) -> tuple[Invite, str]:
        """The invite a retried CreateInvite made, with its code computed again."""
        invite = await InviteRepository(session).get(invite_id)
        if invite is None or invite.household_id != household_id:
            raise invalid("request_id", "was already used for a different request")
        code = tokens.invite_code(self._invite_secret, invite.id)
        if tokens.secret_hash(code) != invite.code_hash:
            # Made under another signing key (rotated since): the code cannot be shown again.
            raise AlreadyExists(
                "this request_id already created an invite whose code can no longer be shown; "
                "create a new invite with a new request_id"
            )
        return invite, code

    async def accept_invite(self, code: str) -> Member:
        me = caller_id()
        if not code.strip():
            raise invalid("code", "is required")
        now = utcnow()
        async with self._sessions() as session, session.begin():
            invite = await InviteRepository(session).by_code_hash(tokens.secret_hash(code.strip()))
            household = await HouseholdRepository(session).get(invite.household_id) if invite else None
            if invite is None or household is None or household.delete_time is not None:
                raise NotFound("invite not found")
            if invite.accept_time is not None:
                raise Gone("this invite has already been used")
            if invite.expire_time <= now:
                raise Gone("this invite has expired")
            user = await UserRepository(session).get(me)
            if user is None:
                raise NotFound("user not found")
            if invite.email and invite.email != user.email.lower():
                raise PermissionDenied("this invite is for another email address")
            memberships = MemberRepository(session)
            already = AlreadyExists("you are already a member of this household")
            if await memberships.get(invite.household_id, me) is not None:
                raise already
            membership = Membership(household_id=invite.household_id, user_id=me, role=invite.role, join_time=now)
            memberships.add(membership)
            try:
                # Alone in this flush: a violation here is the membership's key. Accepting two invites to one
                # household at once, the second insert waits for the first and then finds the membership there.
                await session.flush()
            except IntegrityError as exc:
                raise already from exc
            invite.accept_time = now
            invite.accepted_by = me
            await self._member_joined(session, invite.household_id, user, invite.role, now)
        return Member(membership, user.display_name, household.time_zone)

    async def list_members(self, household_id: uuid.UUID, *, size: int, token: str) -> tuple[list[Member], str]:
        limit = page_size(size)
        query = fingerprint("members", str(household_id))
        after = decode_cursor(token, query, MEMBER_CURSOR)
        key: tuple[datetime, uuid.UUID] | None = (after[0], after[1]) if after is not None else None
        async with self._sessions() as session:
            household, _ = await self._membership(session, household_id)
            rows = await MemberRepository(session).page_with_names(household_id, after=key, limit=limit + 1)
        members = [Member(membership, name, household.time_zone) for membership, name in rows]
        next_token = ""
        if len(members) > limit:
            last = members[limit - 1].membership
            next_token = encode_token([last.join_time.isoformat(), str(last.user_id)], query)
        return members[:limit], next_token

    async def get_member(self, household_id: uuid.UUID, user_id: uuid.UUID) -> Member:
        """The membership check every other service relies on: only members may ask."""
        async with self._sessions() as session:
            household, _ = await self._membership(session, household_id)
            return await self._member(session, household, user_id)

    async def _member(
        self, session: AsyncSession, household: Household, user_id: uuid.UUID, *, lock: bool = False
    ) -> Member:
        row = await MemberRepository(session).with_name(household.id, user_id, lock=lock)
        if row is None:
            raise NotFound("member not found")
        membership, name = row
        return Member(membership, name, household.time_zone)

    async def update_member(
        self, household_id: uuid.UUID, user_id: uuid.UUID, *, role: str, mask: list[str] | None = None
    ) -> Member:
        unknown = [path for path in mask or [] if path != "role"]
        if unknown:
            raise invalid("update_mask", f"cannot update {', '.join(unknown)} (only role)")
        if role not in ROLES:
            raise invalid("member.role", f"must be one of {', '.join(ROLES)}")
        async with self._sessions() as session, session.begin():
            household, mine = await self._membership(session, household_id, roles=MANAGERS, lock=True)
            target = await self._member(session, household, user_id, lock=True)
            if role == "owner":
                await self._transfer_ownership(session, household_id, mine, target.membership)
                return target
            if target.membership.role == "owner":
                raise PermissionDenied("the owner's role cannot be changed; the owner may transfer ownership")
            if mine.role == "admin" and (role == "admin" or target.membership.role == "admin"):
                raise PermissionDenied("only the owner manages admins")
            if target.membership.role != role:
                target.membership.role = role
                await self._member_updated(session, household_id, user_id, role)
        return target

    async def _transfer_ownership(
        self, session: AsyncSession, household_id: uuid.UUID, mine: Membership, target: Membership
    ) -> None:
        """The owner hands the household to another member and stays on as an admin (one owner, always)."""
        if mine.role != "owner":
            raise PermissionDenied("only the owner may transfer ownership")
        if target.user_id == mine.user_id:
            return
        mine.role = "admin"
        # Step down before the new owner steps up: uq_memberships_owner allows one owner at any moment.
        await session.flush()
        target.role = "owner"
        await self._member_updated(session, household_id, mine.user_id, "admin")
        await self._member_updated(session, household_id, target.user_id, "owner")

    async def _member_updated(
        self, session: AsyncSession, household_id: uuid.UUID, user_id: uuid.UUID, role: str
    ) -> None:
        await add_event(
            session,
            events_pb2.MemberUpdated(household_id=str(household_id), user_id=str(user_id), role=role),
            household_id=household_id,
        )

    async def delete_member(self, household_id: uuid.UUID, user_id: uuid.UUID) -> None:
        me = caller_id()
        async with self._sessions() as session, session.begin():
            household, mine = await self._membership(session, household_id, lock=True)
            target = await self._member(session, household, user_id, lock=True)
            if user_id == me:
                if mine.role == "owner":
                    raise PermissionDenied("the owner cannot leave; transfer ownership first or delete the household")
            elif mine.role not in MANAGERS:
                raise PermissionDenied(f"a {mine.role} may not remove members")
            elif target.membership.role == "owner" or (mine.role == "admin" and target.membership.role == "admin"):
                raise PermissionDenied("you may not remove this member")
            await MemberRepository(session).delete(target.membership)
            await add_event(
                session,
                events_pb2.MemberLeft(household_id=str(household_id), user_id=str(user_id)),
                household_id=household_id,
            )


__all__ = ["Member", "Policy", "TokenPair", "UserService"]
