"""Forgotten passwords: ForgotPassword mails a reset link (through notify), ResetPassword spends it.

**ForgotPassword** answers the same, in the same time, for every address: it only enqueues the job
`user:send_password_reset` (kit.jobs, on the user service's worker) — one INSERT whether or not the address has an
account, so neither the answer nor its timing says which. The job's argument is sealed (Fernet, under a key derived
from the signing key): the address the person typed, and where the request came from (for the audit log), are
never in the queue's table in clear.

**The job** looks the address up. For an account, it makes a token of `TOKEN_BYTES` random bytes (stored as its
SHA-256 only, like refresh tokens: it is high-entropy), valid for `RESET_TTL`, and asks notify's
EmailService.SendEmail (template `password_reset`, the account's locale) to mail the link USER_PASSWORD_RESET_URL
names, as the user service itself: a service token it signs with its own key. The token is stored only once notify
has taken the mail, so a failed call leaves nothing behind and the job's retry (jittered backoff) starts afresh; the
mail's `request_id` is derived from the token, so notify sends one mail per token however often it is asked. At most
`MAX_LIVE_RESETS` unused, unexpired tokens per account: more requests mail nothing (nobody fills an inbox through
the user service, whatever reaches its port).

**ResetPassword** takes the token, a new password (services/user/passwords.py's rules) and, when the account has
TOTP on, a code or recovery code (mfa.Mfa.check_login: a reset never bypasses the second factor). An unknown token
is NOT_FOUND; a used or expired one FAILED_PRECONDITION, reason GONE (410), with a message saying which. The token
is checked before anything costly and again under lock in the transaction that spends it: single use, however many
try at once. The new password is hashed (argon2, the login's gate) before the second factor is checked, so every
guess at a code costs what a guess at a login does. Success spends every unused token of the account and ends all
its sessions, their access tokens at once (services/user/revocation.py).
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol

import grpc
import procrastinate
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context
from kit.auth import service_audience
from kit.db import utcnow
from kit.errors import Gone, NotFound, invalid
from kit.grpc_client import make_channel
from kit.interceptors import error_from_rpc
from kit.jobs import DEFAULT_RETRY, SESSIONS, defer_in
from kit.validation import REQUIRED_MESSAGE, Violations
from services.user import audit, keys, tokens, validation
from services.user.accounts import SecondFactor
from services.user.config import Settings
from services.user.mfa import SecretBox
from services.user.models import PasswordReset, User
from services.user.passwords import PasswordHashing
from services.user.repository import PasswordResetRepository, SessionRepository, UserRepository
from services.user.revocation import Revoker
from services.user.service_tokens import SERVICE_TOKEN_TTL, issue_service_token

log = logging.getLogger("hearth.user.password_reset")

RESET_TTL = timedelta(minutes=30)
TOKEN_BYTES = 32
MAX_LIVE_RESETS = 3
# The job's name on the queue: the blueprint's task under the service's namespace (kit.jobs.create_app).
TASK = "send_password_reset"
SEND_PASSWORD_RESET = f"user:{TASK}"
# Longer than any address (RFC 5321: 254); beyond, the request names no account and is not even looked at.
EMAIL_MAX_LENGTH = 320
REQUEST_KEY_LABEL = b"hearth.user.password-reset-request.v1"
NOTIFY_TIMEOUT_SECONDS = 10.0

INVALID_RESET_MESSAGE = "the new password is not valid"


def request_box(key: keys.SigningKey) -> SecretBox:
    """What seals ForgotPassword's job argument (the RPC) and opens it again (the worker)."""
    return SecretBox(tokens.derived_secret(key, REQUEST_KEY_LABEL))


def _usable(reset: PasswordReset | None, now: datetime) -> PasswordReset:
    if reset is None:
        raise NotFound("reset link not found: ask for a new one")
    if reset.use_time is not None:
        raise Gone("this reset link has been used already: ask for a new one")
    if reset.expire_time <= now:
        raise Gone("this reset link has expired: ask for a new one")
    return reset


class PasswordResets:
    """AuthService's ForgotPassword and ResetPassword."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        box: SecretBox,
        hashing: PasswordHashing,
        revoker: Revoker,
        second_factor: SecondFactor,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._hashing = hashing
        self._revoker = revoker
        self._second_factor = second_factor

    async def forgot(self, email: str) -> None:
        """Enqueue the job that mails a reset link if `email` has an account (see the module docstring)."""
        if not email.strip():
            raise invalid("email", REQUIRED_MESSAGE)
        # A malformed or absurd address is looked up as no account, by the job like any other: the same work here.
        address = validation.login_email(email) if len(email) <= EMAIL_MAX_LENGTH else ""
        client = context.client.get()
        request = {
            "email": address,
            "ip_address": client.ip_address,
            "user_agent": client.user_agent,
            "correlation_id": context.correlation_id.get(),
        }
        sealed = self._box.seal(json.dumps(request)).decode()
        async with self._sessions() as session, session.begin():
            await defer_in(session, SEND_PASSWORD_RESET, request=sealed)

    async def reset(self, *, token: str, new_password: str, totp_code: str) -> None:
        """Set the password of the token's account and end all its sessions (see the module docstring)."""
        errors = Violations()
        token = token.strip()
        if not token:
            errors.add("token", REQUIRED_MESSAGE)
        validation.password(errors, new_password, field="new_password")
        errors.raise_if_any(INVALID_RESET_MESSAGE)
        digest = tokens.secret_hash(token)
        async with self._sessions() as session:
            _usable(await PasswordResetRepository(session).get(digest), utcnow())
        new_hash = await self._hashing.hashed(new_password)
        now = utcnow()
        async with self._sessions() as session, session.begin():
            resets = PasswordResetRepository(session)
            reset = _usable(await resets.get(digest, lock=True), now)
            user_id = reset.user_id
            await self._second_factor.check_login(session, user_id, totp_code)
            user = await UserRepository(session).get(user_id, lock=True)
            if user is None:
                raise NotFound("reset link not found: ask for a new one")
            user.password_hash = new_hash
            user.password_change_time = now
            await resets.spend_all(user_id, now)
            ended = await SessionRepository(session).revoke_all(user_id, now)
            revocations = await self._revoker.record(
                session, [(s, user_id) for s in ended], reason="password_reset", now=now
            )
            await audit.record(
                session, "password.reset", user_id=user_id, actor_id=user_id, details={"sessions_revoked": len(ended)}
            )
        await self._revoker.publish(revocations)


# --- the job ------------------------------------------------------------------------------------------------


class Mailer(Protocol):
    async def send(self, request: notify_pb2.SendEmailRequest) -> None: ...


class NotifyMailer:
    """notify's EmailService.SendEmail, called as the user service: with a service token it signs itself (it is the
    issuer of every service token; it need not ask itself over the network)."""

    def __init__(self, address: str, key: keys.SigningKey, *, issuer: str, audience: str) -> None:
        self._address = address
        self._key = key
        self._issuer = issuer
        self._audience = service_audience(audience, "notify")

    async def send(self, request: notify_pb2.SendEmailRequest) -> None:
        token = issue_service_token(
            self._key,
            service="user",
            audience=self._audience,
            issuer=self._issuer,
            ttl=SERVICE_TOKEN_TTL,
            now=utcnow(),
        )
        # A channel per mail: resets are rare, and the job owns nothing that outlives it.
        async with make_channel(self._address, default_timeout=NOTIFY_TIMEOUT_SECONDS) as channel:
            try:
                await notify_pb2_grpc.EmailServiceStub(channel).SendEmail(
                    request, metadata=(("authorization", f"Bearer {token}"),)
                )
            except grpc.aio.AioRpcError as exc:
                raise error_from_rpc(exc) from exc


@contextmanager
def _requested_by(request: dict[str, Any]) -> Iterator[None]:
    """The ForgotPassword call's client and correlation id, for the audit log and the logs of the job's run."""
    client = context.client.set(context.Client(str(request.get("ip_address", "")), str(request.get("user_agent", ""))))
    correlation = context.correlation_id.set(str(request.get("correlation_id", "")))
    try:
        yield
    finally:
        context.correlation_id.reset(correlation)
        context.client.reset(client)


async def mail_reset_link(
    sessions: async_sessionmaker[AsyncSession],
    mailer: Mailer,
    box: SecretBox,
    sealed: str,
    *,
    reset_url: str,
    clock: Callable[[], datetime] = utcnow,
) -> str:
    """One run of the job: "sent", or why nothing was ("no_account", "too_many", "unreadable"). Raises when notify
    did not take the mail (the job is retried)."""
    opened = box.open(sealed.encode())
    if opened is None:
        log.warning("a password-reset request that this key did not seal; dropped")
        return "unreadable"
    request = json.loads(opened)
    with _requested_by(request):
        address = str(request.get("email", ""))
        now = clock()
        async with sessions() as session:
            user: User | None = await UserRepository(session).by_email(address) if address else None
            live = await PasswordResetRepository(session).live_count(user.id, now) if user is not None else 0
        if user is None:
            log.info("password reset asked for an address without an account; nothing sent")
            return "no_account"
        if live >= MAX_LIVE_RESETS:
            log.info("password reset not sent: the account has enough live links", extra={"user_id": str(user.id)})
            return "too_many"
        token = secrets.token_urlsafe(TOKEN_BYTES)
        digest = tokens.secret_hash(token)
        # Stored before it is mailed: the mail can arrive (and be clicked) before this job's next step, so the
        # link must work the moment notify has it. A mail notify did not take takes its token back, so failed
        # sends do not fill the account's live links.
        async with sessions() as session, session.begin():
            PasswordResetRepository(session).add(
                PasswordReset(token_hash=digest, user_id=user.id, create_time=now, expire_time=now + RESET_TTL)
            )
        try:
            await mailer.send(
                notify_pb2.SendEmailRequest(
                    to=user.email,
                    template="password_reset",
                    locale=user.locale,
                    values={
                        "display_name": user.display_name,
                        "reset_url": reset_url.replace("{token}", token),
                        "expires_minutes": str(int(RESET_TTL.total_seconds() // 60)),
                    },
                    request_id=str(uuid.UUID(bytes=digest[:16])),
                )
            )
        except BaseException:
            async with sessions() as session, session.begin():
                await PasswordResetRepository(session).delete(digest)
            raise
        async with sessions() as session, session.begin():
            await audit.record(session, "password.reset_requested", user_id=user.id, actor_id=None)
        log.info("password reset link mailed", extra={"user_id": str(user.id)})
        return "sent"


def password_reset_jobs(settings: Settings, *, mailer: Mailer | None = None) -> procrastinate.Blueprint:
    """The user service's own jobs for its worker (`python -m services.user worker`): `user:send_password_reset`.

    The signing key is read when the first job runs (the worker holds it, as the server does: it seals and signs
    with keys derived from it), not when the blueprint is built."""
    blueprint = procrastinate.Blueprint()
    held: dict[str, Any] = {}

    def parts() -> tuple[SecretBox, Mailer]:
        if not held:
            key = keys.load_or_create(settings.keys_dir)
            held["box"] = request_box(key)
            held["mailer"] = mailer or NotifyMailer(
                settings.notify_addr, key, issuer=settings.jwt_issuer, audience=settings.jwt_audience
            )
        return held["box"], held["mailer"]

    @blueprint.task(name=TASK, pass_context=True, retry=DEFAULT_RETRY)
    async def send_password_reset(job: procrastinate.JobContext, request: str) -> str:
        sessions: async_sessionmaker[AsyncSession] = job.additional_context[SESSIONS]
        box, sender = parts()
        return await mail_reset_link(sessions, sender, box, request, reset_url=settings.password_reset_url)

    return blueprint


__all__ = [
    "MAX_LIVE_RESETS",
    "RESET_TTL",
    "SEND_PASSWORD_RESET",
    "Mailer",
    "NotifyMailer",
    "PasswordResets",
    "mail_reset_link",
    "password_reset_jobs",
    "request_box",
]
