"""Text that PostgreSQL and people can both hold: no NUL (PostgreSQL `text` refuses it), no other C0
control characters apart from tab, newline and carriage return (invisible, and a favourite of log and
header injection), and no lone surrogates (JSON can carry "\ud800"; UTF-8 cannot encode it, so the
driver would fail). Every service's text validation and the gateway's request models use this.
"""

from __future__ import annotations

import re

from email_validator import validate_email

_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
CONTROL_CHARACTERS_MESSAGE = "must not contain control characters or invalid Unicode"


def has_control_characters(value: str) -> bool:
    return _FORBIDDEN.search(value) is not None


def normalized_email(value: str) -> str:
    """An address as accounts are stored and looked up — email_validator's normalisation (IDNA for the domain, so
    full-width letters and ideographic full stops are the ASCII ones; NFC for the local part), then lower case.
    `EmailNotValidError` for anything that is not an address. The user service keys accounts by it; the gateway's
    failed-attempt budget keys them by it too, so no spelling of one account is another account to either."""
    return validate_email(value.strip(), check_deliverability=False).normalized.lower()


def printable(value: str, max_length: int) -> str:
    """Client-reported context kept for display (a session's User-Agent): control characters dropped, not refused,
    and cut to `max_length`."""
    return "".join(char for char in value if not has_control_characters(char))[:max_length]
