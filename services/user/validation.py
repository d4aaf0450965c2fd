"""What the user service accepts, as pure checks that add to a `kit.validation.Violations`.

The shared rules (text PostgreSQL and people can hold, IANA time zones, request ids) are kit.validation's;
the limits and formats of the user service's own fields are here: names, locales, emails, passwords, roles.
Each check returns the value to use (normalised) whether or not it was valid, as kit's do, so a use case
validates straight through and raises once with every problem.
"""

from __future__ import annotations

from collections.abc import Collection

from email_validator import EmailNotValidError

from kit.text import CONTROL_CHARACTERS_MESSAGE, has_control_characters, normalized_email
from kit.validation import Violations
from services.user import passwords

# Display names of people and households.
NAME_MAX = 100
# BCP 47 tags are short; 35 characters holds the longest in common use with room to spare.
LOCALE_MAX = 35
DEFAULT_LOCALE = "en"
DEFAULT_TIME_ZONE = "UTC"
# Client-reported context kept for display on a session.
USER_AGENT_MAX = 500
IP_ADDRESS_MAX = 100


def name(errors: Violations, field: str, value: str) -> str:
    """A display name: required, at most NAME_MAX characters."""
    return errors.text(field, value, max_length=NAME_MAX, required=True)


def locale(errors: Violations, field: str, value: str, *, default: str = "") -> str:
    """A locale tag (`default` when empty, required otherwise), at most LOCALE_MAX characters."""
    return errors.text(field, value or default, max_length=LOCALE_MAX, required=True)


def email(errors: Violations, value: str, field: str = "email") -> str:
    """The address normalised (as it is stored and looked up: lower case), or "" when it is not one."""
    if has_control_characters(value):
        errors.add(field, CONTROL_CHARACTERS_MESSAGE)
        return ""
    try:
        return normalized_email(value)
    except EmailNotValidError as exc:
        errors.add(field, str(exc))
        return ""


def login_email(value: str) -> str:
    """The address a login looks up: normalised, or "" (which matches no account) when it is not one — a login
    answers a malformed address like an unknown one."""
    return email(Violations(), value)


def password(errors: Violations, value: str, field: str = "password") -> None:
    """A new password: the policy (passwords.policy_violation), and no NUL — argon2 would hash it, but no other
    text of ours holds one, so it is refused alike."""
    reason = passwords.policy_violation(value)
    if "\x00" in value:
        reason = "must not contain NUL characters"
    if reason:
        errors.add(field, reason)


def role(errors: Violations, field: str, value: str, allowed: Collection[str]) -> str:
    if value not in allowed:
        errors.add(field, f"must be one of {', '.join(allowed)}")
    return value


def printable(value: str, max_length: int) -> str:
    """Client-reported context kept for display (a session's user agent): control characters dropped, not
    refused, and cut to `max_length`."""
    return "".join(char for char in value if not has_control_characters(char))[:max_length]


__all__ = [
    "DEFAULT_LOCALE",
    "DEFAULT_TIME_ZONE",
    "IP_ADDRESS_MAX",
    "LOCALE_MAX",
    "NAME_MAX",
    "USER_AGENT_MAX",
    "email",
    "locale",
    "login_email",
    "name",
    "password",
    "printable",
    "role",
]
