"""What the tests of credentials share (MFA, password change and reset, over gRPC and REST): an account with TOTP on
and its codes, a session that signed in long ago, and reset tokens as the worker stores them.

TOTP codes: a test uses at most two steps, the one current at activation and the next (`Totp.next_code`). Both stay
inside the service's window (the current step and one either side) even if a step boundary passes meanwhile, so no
test waits for the clock."""

from __future__ import annotations

import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pyotp
import sqlalchemy as sa
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit.db import utcnow
from services.notify.tests.helpers import Received
from services.user import tokens
from services.user.models import PasswordReset
from services.user.password_reset import RESET_TTL
from services.user.recent_auth import RECENT_AUTHENTICATION
from tests.support.stack import Stack

# The page a reset mail links to in the tests (USER_PASSWORD_RESET_URL without its `{token}`).
RESET_PAGE = "https://app.hearth.example/reset-password#token="


def token_in(mail: Received) -> str:
    """The reset token of the link in a reset mail."""
    found = re.search(re.escape(RESET_PAGE) + r"([A-Za-z0-9_-]{43,})", mail.part("plain"))
    assert found is not None, mail.part("plain")
    return found.group(1)


def current_step() -> int:
    return int(time.time() // 30)


@dataclass(frozen=True)
class Totp:
    secret: str
    step: int
    recovery_codes: list[str] = field(default_factory=list)

    def code(self, step: int) -> str:
        return pyotp.TOTP(self.secret).generate_otp(step)

    @property
    def activation_code(self) -> str:
        return self.code(self.step)

    @property
    def next_code(self) -> str:
        return self.code(self.step + 1)


def wrong_code(*right: str) -> str:
    """Six digits that are none of `right`."""
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in right)


async def enable_totp(
    mfa: user_pb2_grpc.MfaServiceStub, metadata: tuple[tuple[str, str], ...], password: str = ""
) -> Totp:
    """TOTP turned on for the caller of `metadata` with a code of the current step."""
    enrollment = await mfa.StartTotpEnrollment(
        user_pb2.StartTotpEnrollmentRequest(password=password), metadata=metadata
    )
    step = current_step()
    totp = Totp(enrollment.secret, step)
    codes = await mfa.ActivateTotp(user_pb2.ActivateTotpRequest(code=totp.activation_code), metadata=metadata)
    return Totp(enrollment.secret, step, list(codes.codes))


async def sign_in_long_ago(stack: Stack, user_id: str) -> None:
    """Move every session of the user to a sign-in longer ago than recent authentication allows; the next refresh
    carries that into its access token (`auth_time`)."""
    async with stack.servers["user"].runtime.sessions() as session, session.begin():
        await session.execute(
            sa.text("UPDATE sessions SET auth_time = :when WHERE user_id = :id"),
            {"when": utcnow() - RECENT_AUTHENTICATION - timedelta(minutes=1), "id": uuid.UUID(user_id)},
        )


async def stored_reset_token(stack: Stack, user_id: str, *, expires_in: timedelta = RESET_TTL) -> str:
    """A reset token of the user's, stored as the worker stores one (its hash), as if mailed to them."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    async with stack.servers["user"].runtime.sessions() as session, session.begin():
        session.add(
            PasswordReset(
                token_hash=tokens.secret_hash(token),
                user_id=uuid.UUID(user_id),
                create_time=now,
                expire_time=now + expires_in,
            )
        )
    return token


async def audit_actions(stack: Stack, user_id: str) -> list[str]:
    """The actions in the user's audit log, oldest first."""
    async with stack.servers["user"].runtime.sessions() as session:
        rows = await session.scalars(
            sa.text("SELECT action FROM audit_events WHERE user_id = :id ORDER BY id"), {"id": uuid.UUID(user_id)}
        )
        return list(rows)


__all__ = [
    "RESET_PAGE",
    "Totp",
    "audit_actions",
    "current_step",
    "enable_totp",
    "sign_in_long_ago",
    "stored_reset_token",
    "token_in",
    "wrong_code",
]
