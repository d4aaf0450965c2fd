"""Recent authentication: what a change to an account's credentials (password, email, MFA) needs (issue 15).

Someone holding a stolen access token, or a device left signed in, must not be able to lock the owner out. So
such a change needs the person to have proved who they are within `RECENT_AUTHENTICATION` (ten minutes): either
their session signed in with the password that recently — the access token's `auth_time`, which refreshes keep —
or the account's password comes with the request. Anything else is PERMISSION_DENIED, reason
REAUTHENTICATION_REQUIRED (403 `reauthentication_required`), and so is a wrong password.

Only a person's own session counts: an API key's token (kit.interceptors already refuses those on these methods,
which carry no scope) and a service token never do.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kit import context
from kit.context import Caller
from kit.errors import FieldViolation, ReauthenticationRequired
from services.user.passwords import PasswordHashing

RECENT_AUTHENTICATION = timedelta(minutes=10)
# An auth_time this far ahead of this process's clock still counts (another replica signed the login).
CLOCK_SKEW = timedelta(seconds=30)
WRONG_PASSWORD_MESSAGE = "is not the account's password"


def signed_in_recently(caller: Caller, now: datetime) -> bool:
    """Whether `caller` is a person whose session proved the password within RECENT_AUTHENTICATION of `now`."""
    if caller.is_api_key or caller.is_service or not caller.auth_time:
        return False
    age = now.timestamp() - caller.auth_time
    return -CLOCK_SKEW.total_seconds() <= age <= RECENT_AUTHENTICATION.total_seconds()


async def require_recent_authentication(
    hashing: PasswordHashing, password_hash: str, password: str, *, now: datetime, field: str = "password"
) -> None:
    """Pass when `password` (given) is the account's, or (not given) the caller signed in recently; refuse otherwise.

    The password is checked with argon2 (PasswordHashing's gate): call this outside any transaction."""
    caller = context.caller.get()
    if caller is None or caller.is_api_key or caller.is_service:
        raise ReauthenticationRequired("only the account's owner, signed in with the password, may change this")
    if password:
        if await hashing.verified(password_hash, password):
            return
        raise ReauthenticationRequired("the password is wrong", [FieldViolation(field, WRONG_PASSWORD_MESSAGE)])
    if not signed_in_recently(caller, now):
        raise ReauthenticationRequired(
            "this change needs a recent sign-in: give your password, or sign in again and retry within 10 minutes"
        )


__all__ = ["RECENT_AUTHENTICATION", "require_recent_authentication", "signed_in_recently"]
