"""Use cases of accounts: registration, login, access and refresh tokens, logout, the caller's profile.

Every state change commits together with its event (`kit.outbox.add_event`, payloads from
services/user/events.py). Requests are validated whole (`kit.validation.Violations`): every bad field is
reported at once. Profiles are the caller's own: anyone else's is NOT_FOUND.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context, idempotency
from kit.db import utcnow
from kit.errors import AlreadyExists, Conflict, FieldViolation, MfaRequired, NotFound, Unauthenticated, invalid
from kit.field_mask import UpdateMask
from kit.ids import new_id
from kit.outbox import add_event
from kit.validation import REQUIRED_MESSAGE, Violations, caller_id
from services.user import audit, events, keys, passwords, request_ids, tokens, validation
from services.user.etags import check_etag
from services.user.models import Session, User
from services.user.policy import Policy
from services.user.recent_auth import require_recent_authentication
from services.user.repository import PasswordResetRepository, SessionRepository, UserRepository
from services.user.revocation import Revoker

# What UpdateUser may change, in the order events list them. Nothing is output-only here: a mask naming
# any other field (name, create_time) is refused, not ignored. A new email needs a recent sign-in
# (services/user/recent_auth.py).
USER_MASK = UpdateMask(updatable=("display_name", "time_zone", "locale", "email"))
SAME_PASSWORD_MESSAGE = "must differ from the current password"


class SecondFactor(Protocol):
    async def check_login(self, session: AsyncSession, user_id: uuid.UUID, code: str) -> None:
        """MFA_REQUIRED unless the account has no second factor or `code` is a good, unused one (spent here)."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


class Accounts:
    """AuthService's and UserService's use cases."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        signing_key: keys.SigningKey,
        policy: Policy,
        hashing: passwords.PasswordHashing,
        revoker: Revoker,
        second_factor: SecondFactor | None = None,
    ) -> None:
        self._sessions = sessions
        self._second_factor = second_factor
        self._key = signing_key
        self._hashing = hashing
        self._policy = policy
        self._revoker = revoker

    def jwks(self) -> dict[str, Any]:
        return keys.jwks([self._key])

    # --- registration ---------------------------------------------------------------------------------

    async def register(
        self, *, email: str, password: str, display_name: str, time_zone: str, locale: str, request_id: str = ""
    ) -> User:
        # Every problem at once, so a form can show them all.
        errors = Violations()
        address = validation.email(errors, email)
        name = validation.name(errors, "display_name", display_name)
        zone = errors.time_zone("time_zone", time_zone, default=validation.DEFAULT_TIME_ZONE)
        tag = validation.locale(errors, "locale", locale, default=validation.DEFAULT_LOCALE)
        validation.password(errors, password)
        errors.request_id(request_id)
        errors.raise_if_any("the account details are not valid")
        # argon2 takes a good fraction of a second of CPU: off the event loop, or every RPC waits for it. Before the
        # claim, so no transaction waits for it either (a retry pays it too: retries are rare).
        password_hash = await self._hashing.hashed(password)
        now = utcnow()
        user = User(
            id=new_id(),
            email=address,
            password_hash=password_hash,
            display_name=name,
            time_zone=zone,
            locale=tag,
            version=1,
            create_time=now,
            update_time=now,
        )
        try:
            async with self._sessions() as session, session.begin():
                # First, so a concurrent retry waits here for this one and then replays it (rather than colliding
                # on the email and answering 409 to the client whose account was just made). Nobody is signed in
                # yet: the id is the email's. The password is no part of the fingerprint (it would be stored, as
                # an unsalted hash): a replay checks it against the account instead.
                earlier = await request_ids.claim(
                    session,
                    caller=request_ids.registration_caller(address),
                    request_id=request_id,
                    operation="Register",
                    request=(name, zone, tag),
                    resource_id=user.id,
                )
                if earlier is None:
                    UserRepository(session).add(user)
                    await session.flush()
                    await add_event(session, events.user_registered(user), actor_id=user.id)
        except IntegrityError as exc:
            raise AlreadyExists(
                "an account with this email already exists", [FieldViolation("email", "is already registered")]
            ) from exc
        if earlier is not None:
            return await self._replayed_registration(earlier, password)
        return user

    async def _replayed_registration(self, user_id: uuid.UUID, password: str) -> User:
        """The account a retried Register made; the password must match too (the same request, not someone who
        knows the id and the email): otherwise the id was used for a different request."""
        async with self._sessions() as session:
            user = await UserRepository(session).get(user_id)
        if user is None or not await self._hashing.verified(user.password_hash, password):
            raise idempotency.reused()
        return user

    # --- sessions and tokens --------------------------------------------------------------------------

    async def login(self, *, email: str, password: str, totp_code: str = "") -> TokenPair:
        """A new session for the right email and password (and second factor). Where the client is — its address and
        User-Agent, recorded on the session and in the audit log — is the call's own (kit.context.client): only the
        gateway, proving itself, forwards someone else's."""
        address = validation.login_email(email)
        async with self._sessions() as session:
            user = await UserRepository(session).by_email(address) if address else None
        stored = user.password_hash if user is not None else None
        # Verify even for an unknown email (against a dummy hash): the same answer in the same time. In a thread,
        # outside any transaction: argon2 is slow on purpose, and neither the event loop nor a connection waits.
        if not await self._hashing.verified(stored, password) or user is None:
            await self._failed_login(user, "wrong_password" if user is not None else "unknown_account")
            raise Unauthenticated("wrong email or password")
        rehashed = ""
        if self._hashing.needs_rehash(user.password_hash):
            rehashed = await self._hashing.hashed(password)
        try:
            return await self._signed_in(user, rehashed, totp_code)
        except MfaRequired:
            await self._failed_login(user, "mfa_required")
            raise

    async def _signed_in(self, user: User, rehashed: str, totp_code: str) -> TokenPair:
        """The new session of `user`, whose password was right: the second factor is checked (and spent) in the
        transaction that makes it."""
        client = context.client.get()
        async with self._sessions() as session, session.begin():
            if self._second_factor is not None:
                await self._second_factor.check_login(session, user.id, totp_code)
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
                user_agent=client.user_agent,
                ip_address=client.ip_address,
                create_time=now,
                last_used_time=now,
                expire_time=now + self._policy.refresh_ttl,
                auth_time=now,
            )
            SessionRepository(session).add(login)
            await session.flush()
            await audit.record(
                session,
                "login.succeeded",
                user_id=user.id,
                actor_id=user.id,
                target=f"users/{user.id}/sessions/{login.id}",
            )
        return self._pair(user.id, login.id, refresh, now, auth_time=now)

    async def _failed_login(self, user: User | None, reason: str) -> None:
        """A failed attempt on a known account goes in its owner's log (an unknown email has no log to go in)."""
        if user is None:
            return
        async with self._sessions() as session, session.begin():
            await audit.record(session, "login.failed", user_id=user.id, actor_id=None, details={"reason": reason})

    def _pair(
        self, user_id: uuid.UUID, session_id: uuid.UUID, refresh: str, now: datetime, *, auth_time: datetime | None
    ) -> TokenPair:
        access = tokens.issue_access_token(
            self._key,
            user_id=user_id,
            session_id=session_id,
            issuer=self._policy.issuer,
            audience=self._policy.audience,
            ttl=self._policy.access_ttl,
            now=now,
            auth_time=auth_time,
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
                    # A spent token came back: someone kept a copy. End the whole session, its access tokens too.
                    ended = await logins.revoke(spent.session_id, now)
                    revocations = await self._revoker.record(session, ended, reason="refresh_token_reused", now=now)
                    for session_id, user_id in ended:
                        await audit.record(
                            session,
                            "session.reuse_detected",
                            user_id=user_id,
                            actor_id=None,
                            target=f"users/{user_id}/sessions/{session_id}",
                        )
                    await session.commit()
                    await self._revoker.publish(revocations)
                    raise Unauthenticated("refresh token reused; the session has been revoked")
                raise Unauthenticated("unknown refresh token")
            if login.revoke_time is not None or login.expire_time <= now:
                raise Unauthenticated("the session has ended; log in again")
            logins.spend(digest, login.id, now)
            fresh = tokens.new_refresh_token()
            login.refresh_hash = tokens.secret_hash(fresh)
            login.generation += 1
            login.last_used_time = now
            user_id, session_id, auth_time = login.user_id, login.id, login.auth_time or login.create_time
        return self._pair(user_id, session_id, fresh, now, auth_time=auth_time)

    async def logout(self, refresh_token: str) -> None:
        """End the session of `refresh_token` (the caller's, when signed in) or, without one, the caller's own: its
        refresh token and its access tokens stop working at once."""
        signed_in = context.caller.get() is not None
        now = utcnow()
        async with self._sessions() as session, session.begin():
            logins = SessionRepository(session)
            if refresh_token:
                owner = caller_id() if signed_in else None
                ended = await logins.revoke_by_refresh_hash(tokens.secret_hash(refresh_token), now, user_id=owner)
            else:
                caller = context.caller.get()
                if caller is None or not caller.session_id:
                    raise invalid("refresh_token", "is required without an authenticated session")
                ended = await logins.revoke(uuid.UUID(caller.session_id), now, user_id=caller_id())
            revocations = await self._revoker.record(session, ended, reason="logout", now=now)
            for session_id, user_id in ended:
                await audit.record(
                    session,
                    "logout",
                    user_id=user_id,
                    actor_id=user_id,
                    target=f"users/{user_id}/sessions/{session_id}",
                )
        await self._revoker.publish(revocations)

    # --- the caller's profile -------------------------------------------------------------------------

    async def get_user(self, user_id: uuid.UUID) -> User:
        """The caller's profile; anyone else's is not shared (members see display names through ListMembers)."""
        me = caller_id()
        if user_id != me:
            raise NotFound("user not found")
        async with self._sessions() as session:
            user = await UserRepository(session).get(me)
        if user is None:
            raise NotFound("user not found")
        return user

    async def update_user(
        self, user_id: uuid.UUID, changes: Mapping[str, str], mask: Sequence[str], *, etag: str = ""
    ) -> User:
        """Change the caller's profile: the fields `mask` names (AIP-134, kit.field_mask), or those given. A new email
        needs a recent sign-in (UpdateUser carries no password) and must be no other account's."""
        me = caller_id()
        if user_id != me:
            raise NotFound("user not found")
        paths = USER_MASK.paths(mask, present=[path for path, value in changes.items() if value])
        values: dict[str, str] = {}
        with Violations() as errors:
            for path in paths:
                value = changes.get(path, "")
                if path == "display_name":
                    values[path] = validation.name(errors, "user.display_name", value)
                elif path == "time_zone":
                    values[path] = errors.time_zone("user.time_zone", value)
                elif path == "email":
                    values[path] = validation.email(errors, value, "user.email")
                else:
                    values[path] = validation.locale(errors, "user.locale", value)
        now = utcnow()
        try:
            async with self._sessions() as session, session.begin():
                user = await UserRepository(session).get(me, lock=True)
                if user is None:
                    raise NotFound("user not found")
                check_etag(etag, user.version, "user")
                changed = [path for path in paths if getattr(user, path) != values[path]]
                if "email" in changed:
                    await require_recent_authentication(self._hashing, user.password_hash, "", now=now)
                for key, value in values.items():
                    setattr(user, key, value)
                if values:
                    user.version += 1
                    user.update_time = now
                if changed:  # set to what it was already: nothing to announce
                    await session.flush()
                    await add_event(session, events.user_updated(user, changed), actor_id=user.id)
                if "email" in changed:
                    # A reset link mailed to the old address must not outlive the change.
                    await PasswordResetRepository(session).spend_all(me, now)
                    await audit.record(session, "email.changed", user_id=me)
        except IntegrityError as exc:
            raise AlreadyExists(
                "an account with this email already exists", [FieldViolation("user.email", "is already registered")]
            ) from exc
        return user

    # --- the caller's password ------------------------------------------------------------------------

    async def change_password(self, *, current_password: str, new_password: str, totp_code: str) -> None:
        """Set a new password: the current one is needed (it is the recent authentication), and with TOTP on a code;
        every other session of the account ends, its access tokens at once. Unused reset links stop working."""
        me = caller_id()
        errors = Violations()
        if not current_password:
            errors.add("current_password", REQUIRED_MESSAGE)
        validation.password(errors, new_password, field="new_password")
        if current_password and passwords.normalized(new_password) == passwords.normalized(current_password):
            errors.add("new_password", SAME_PASSWORD_MESSAGE)
        errors.raise_if_any("the new password is not valid")
        async with self._sessions() as session:
            user = await UserRepository(session).get(me)
        if user is None:
            raise NotFound("user not found")
        await require_recent_authentication(
            self._hashing, user.password_hash, current_password, now=utcnow(), field="current_password"
        )
        new_hash = await self._hashing.hashed(new_password)
        caller = context.caller.get()
        current = uuid.UUID(caller.session_id) if caller is not None and caller.session_id else None
        now = utcnow()
        async with self._sessions() as session, session.begin():
            if self._second_factor is not None:
                await self._second_factor.check_login(session, me, totp_code)
            locked = await UserRepository(session).get(me, lock=True)
            if locked is None:
                raise NotFound("user not found")
            if locked.password_hash != user.password_hash:
                raise Conflict("the password was changed meanwhile; sign in again")
            locked.password_hash = new_hash
            locked.password_change_time = now
            await PasswordResetRepository(session).spend_all(me, now)
            ended = await SessionRepository(session).revoke_all(me, now, keep=current)
            revocations = await self._revoker.record(
                session, [(s, me) for s in ended], reason="password_changed", now=now
            )
            await audit.record(session, "password.changed", user_id=me, details={"sessions_revoked": len(ended)})
        await self._revoker.publish(revocations)


__all__ = ["USER_MASK", "Accounts", "TokenPair"]
