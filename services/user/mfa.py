"""TOTP (RFC 6238, pyotp) as the second factor of an account: enrol, activate, check, disable (MfaService).

- **Enrol** (`start_enrollment`, recent authentication: services/user/recent_auth.py): a new random secret (160
  bits, base32) and its `otpauth://` URI for an authenticator app, kept as the account's *pending* secret. Nothing
  changes for the account yet.
- **Activate** (`activate`) with a first code of the pending secret, within `ENROLLMENT_TTL` of the enrolment (the
  enrolment's recent authentication covers its activation; ActivateTotp takes no password): TOTP is on, and the
  answer holds ten recovery codes, shown this once.
- **Check** (`check_login`, the `SecondFactor` of accounts.py; password change and reset use it too): an account
  with TOTP on needs a current code or an unused recovery code; without one it is UNAUTHENTICATED, reason
  MFA_REQUIRED (401 `mfa_required`).
- **Disable** (`disable`, recent authentication) needs a code too.

Secrets at rest are Fernet tokens (AES-CBC + HMAC) under a key derived from the signing key
(tokens.derived_secret): a copy of the database alone holds no usable second factor. The pending secret's Fernet
timestamp is its enrolment time, so an abandoned enrolment expires without a column of its own.

A code is accepted once (RFC 6238 §5.2): the 30-second step it belongs to is stored (`users.totp_last_step`), and a
code of that step or an earlier one is refused — checked and recorded under the user row's lock, in the
transaction of what the code allows, so two requests with one code cannot both pass. Codes of the step before and
after the current one count too (`VALID_WINDOW`: clock drift between phone and server). Every candidate is compared
in constant time, all of them each time.

Recovery codes: ten of `RECOVERY_CODE_LENGTH` random base32 characters (50 bits), shown as `ABCDE-FGHJK`, typed in
any case, with or without the hyphen and spaces. Stored as HMAC-SHA256 under another derived key, so even a copy
of the database does not allow searching their space offline; each works once (`recovery_codes.use_time`).
Activating again (after disabling) replaces them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.db import utcnow
from kit.errors import Conflict, FieldViolation, Gone, MfaRequired, NotFound, invalid
from kit.validation import caller_id
from services.user import audit, tokens
from services.user.keys import SigningKey
from services.user.models import User
from services.user.passwords import PasswordHashing
from services.user.recent_auth import RECENT_AUTHENTICATION, require_recent_authentication
from services.user.repository import RecoveryCodeRepository, UserRepository

ISSUER = "Hearth"
VALID_WINDOW = 1
ENROLLMENT_TTL = RECENT_AUTHENTICATION
RECOVERY_CODES = 10
RECOVERY_CODE_LENGTH = 10
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TOTP_CODE = re.compile(r"[0-9]{6}")
_SEPARATORS = re.compile(r"[\s-]+")

CODE_REQUIRED_MESSAGE = "this account has two-factor authentication on: give a code from the app or a recovery code"
WRONG_CODE_MESSAGE = "the code is wrong or has been used already"
CODE_FIELD_MESSAGE = "is wrong or has been used already"


class SecretBox:
    """Encrypts short secrets under one key (Fernet); `open` gives None for anything it did not seal, or sealed longer
    ago than `ttl`."""

    def __init__(self, key: bytes, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self._clock = clock

    def seal(self, plain: str, *, at: datetime | None = None) -> bytes:
        return self._fernet.encrypt_at_time(plain.encode(), int((at or self._clock()).timestamp()))

    def open(self, sealed: bytes, *, ttl: timedelta | None = None) -> str | None:
        try:
            if ttl is None:
                return self._fernet.decrypt(sealed).decode()
            now = int(self._clock().timestamp())
            return self._fernet.decrypt_at_time(sealed, int(ttl.total_seconds()), now).decode()
        except InvalidToken:
            return None


@dataclass(frozen=True)
class Enrollment:
    secret: str
    otpauth_uri: str


def accepted_step(secret: str, code: str, now: datetime, *, after: int) -> int | None:
    """The time step whose code `code` is, among the current one and VALID_WINDOW either side, if it is later than
    step `after` (the last one used); None otherwise. Every candidate is compared, in constant time."""
    if not _TOTP_CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    found = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        matches = hmac.compare_digest(totp.generate_otp(step).encode(), code.encode())
        if matches and step > after and found is None:
            found = step
    return found


def new_recovery_codes() -> list[str]:
    """Ten fresh codes as they are shown: `ABCDE-FGHJK`."""
    half = RECOVERY_CODE_LENGTH // 2
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_BASE32) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append(f"{raw[:half]}-{raw[half:]}")
    return codes


def canonical_code(code: str) -> str:
    """A code as typed, without spaces and hyphens ("123 456", "abcde-fghjk"), in upper case: how TOTP codes are
    compared and recovery codes hashed."""
    return _SEPARATORS.sub("", code).upper()


class Mfa:
    """MfaService's use cases, and the second factor other use cases check (`check_login`)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        box: SecretBox,
        recovery_key: bytes,
        hashing: PasswordHashing,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._recovery_key = recovery_key
        self._hashing = hashing
        self._clock = clock

    @classmethod
    def under(
        cls, sessions: async_sessionmaker[AsyncSession], signing_key: SigningKey, *, hashing: PasswordHashing
    ) -> Mfa:
        """The second factor with its keys derived from the service's signing key (how the service is wired)."""
        return cls(
            sessions,
            box=SecretBox(tokens.derived_secret(signing_key, b"hearth.user.totp-secret.v1")),
            recovery_key=tokens.derived_secret(signing_key, b"hearth.user.recovery-code.v1"),
            hashing=hashing,
        )

    def _recovery_digest(self, code: str) -> bytes:
        return hmac.new(self._recovery_key, canonical_code(code).encode(), hashlib.sha256).digest()

    async def _own_account(self) -> User:
        async with self._sessions() as session:
            user = await UserRepository(session).get(caller_id())
        if user is None:
            raise NotFound("user not found")
        return user

    async def _locked_account(self, session: AsyncSession, user_id: uuid.UUID) -> User:
        user = await UserRepository(session).get(user_id, lock=True)
        if user is None:
            raise NotFound("user not found")
        return user

    # --- MfaService ----------------------------------------------------------------------------------

    async def start_enrollment(self, password: str) -> Enrollment:
        """A pending secret for the caller's account (replacing an earlier pending one); TOTP stays as it was."""
        user = await self._own_account()
        await require_recent_authentication(self._hashing, user.password_hash, password, now=self._clock())
        secret = pyotp.random_base32()
        async with self._sessions() as session, session.begin():
            user = await self._locked_account(session, user.id)
            if user.totp_secret is not None:
                raise Conflict("two-factor authentication is on already; turn it off first to enrol another app")
            user.totp_pending_secret = self._box.seal(secret)
            await audit.record(session, "mfa.enrolled", user_id=user.id)
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
        return Enrollment(secret, uri)

    async def activate(self, code: str) -> list[str]:
        """Turn TOTP on with a first code of the pending secret; the recovery codes, shown this once."""
        me = caller_id()
        code = code.strip()
        if not code:
            raise invalid("code", "is required")
        now = self._clock()
        codes = new_recovery_codes()
        async with self._sessions() as session, session.begin():
            user = await self._locked_account(session, me)
            if user.totp_secret is not None:
                raise Conflict("two-factor authentication is on already")
            if user.totp_pending_secret is None:
                raise Conflict("there is no enrolment to activate: start one first")
            secret = self._box.open(user.totp_pending_secret, ttl=ENROLLMENT_TTL)
            if secret is None:
                raise Gone("the enrolment has expired: start a new one")
            # A new secret: the steps used with an earlier one say nothing about it.
            step = accepted_step(secret, canonical_code(code), now, after=0)
            if step is None:
                raise MfaRequired(WRONG_CODE_MESSAGE, [FieldViolation("code", CODE_FIELD_MESSAGE)])
            user.totp_secret = self._box.seal(secret)
            user.totp_pending_secret = None
            user.totp_last_step = step
            await RecoveryCodeRepository(session).replace(me, [self._recovery_digest(c) for c in codes])
            await audit.record(session, "mfa.enabled", user_id=me)
        return codes

    async def disable(self, code: str, password: str) -> None:
        """Turn TOTP off (its recovery codes go too): needs a code and recent authentication."""
        user = await self._own_account()
        await require_recent_authentication(self._hashing, user.password_hash, password, now=self._clock())
        if not code.strip():
            raise invalid("code", "is required")
        async with self._sessions() as session, session.begin():
            user = await self._locked_account(session, user.id)
            if user.totp_secret is None:
                raise NotFound("two-factor authentication is not on")
            await self._spend(session, user, code)
            user.totp_secret = None
            user.totp_pending_secret = None
            await RecoveryCodeRepository(session).delete_all(user.id)
            await audit.record(session, "mfa.disabled", user_id=user.id)

    # --- the second factor of other use cases -----------------------------------------------------------

    async def check_login(self, session: AsyncSession, user_id: uuid.UUID, code: str) -> None:
        """MFA_REQUIRED unless the account has TOTP off or `code` is a good, unused code — spent here, in `session`'s
        transaction (the user row is locked until it ends)."""
        user = await self._locked_account(session, user_id)
        if user.totp_secret is None:
            return
        if not code.strip():
            raise MfaRequired(CODE_REQUIRED_MESSAGE, [FieldViolation("totp_code", "is required")])
        await self._spend(session, user, code, field="totp_code")

    async def _spend(self, session: AsyncSession, user: User, code: str, *, field: str = "code") -> None:
        """Spend `code` — a TOTP code of a step after the last one used, or an unused recovery code — on `user`
        (locked by the caller); MFA_REQUIRED when it is neither."""
        assert user.totp_secret is not None
        given = canonical_code(code)
        refused = MfaRequired(WRONG_CODE_MESSAGE, [FieldViolation(field, CODE_FIELD_MESSAGE)])
        if _TOTP_CODE.fullmatch(given):
            secret = self._box.open(user.totp_secret)
            if secret is None:  # sealed under another key: the signing key was replaced without migrating secrets
                raise refused
            step = accepted_step(secret, given, self._clock(), after=user.totp_last_step)
            if step is None:
                raise refused
            user.totp_last_step = step
            return
        if len(given) != RECOVERY_CODE_LENGTH:
            raise refused
        if not await RecoveryCodeRepository(session).use(user.id, self._recovery_digest(given), self._clock()):
            raise refused
        await audit.record(session, "mfa.recovery_code_used", user_id=user.id, actor_id=user.id)


__all__ = [
    "ENROLLMENT_TTL",
    "ISSUER",
    "RECOVERY_CODES",
    "Enrollment",
    "Mfa",
    "SecretBox",
    "accepted_step",
    "canonical_code",
    "new_recovery_codes",
]
