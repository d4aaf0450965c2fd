"""Unsubscribe links of notify's own mails: a signed token per (person, email category) and what it does.

A token is `<payload>.<mac>`: the payload is URL-safe base64 of `<user id>|<category>|<expiry, unix seconds>`, the
mac URL-safe base64 of HMAC-SHA256 over the payload under NOTIFY_UNSUBSCRIBE_SECRET (services.notify.config). It is
never a user's access token and grants one thing only: turning that category's email off for that person. A token
that does not verify, names an unknown category, has expired, or whose person notify no longer knows is one answer —
NOT_FOUND (404), the same for each, so a forger learns nothing from trying.

The link is GET and POST /api/v1/notification-preferences/unsubscribe?token=…; each mail carries it in its footer
and as `List-Unsubscribe` with `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), so a mail client's
unsubscribe button POSTs to it without the person signing in. Unsubscribing twice is harmless (already off).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from kit.errors import NotFound
from services.notify.preferences import DEFAULTS, EMAIL

# Whatever a token is, more than this is not one of ours (bounded work for a hostile query string).
TOKEN_MAX_LENGTH = 512
NOT_FOUND_MESSAGE = "unsubscribe link not found or expired"


@dataclass(frozen=True)
class Subscription:
    user_id: uuid.UUID
    category: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> bytes:
    return hmac.new(secret, b"hearth.notify.unsubscribe.v1|" + payload.encode(), hashlib.sha256).digest()


def make_token(secret: bytes, user_id: uuid.UUID, category: str, *, now: datetime, days: int) -> str:
    expiry = int((now + timedelta(days=days)).timestamp())
    payload = _b64(f"{user_id}|{category}|{expiry}".encode())
    return f"{payload}.{_b64(_mac(secret, payload))}"


def read_token(secret: bytes, token: str, *, now: datetime) -> Subscription:
    """The person and category a valid token names; NotFound for anything else (see the module docstring)."""
    missing = NotFound(NOT_FOUND_MESSAGE)
    if not token or len(token) > TOKEN_MAX_LENGTH or token.count(".") != 1:
        raise missing
    payload, mac = token.split(".")
    try:
        given = _unb64(mac)
        if not hmac.compare_digest(given, _mac(secret, payload)):
            raise missing
        user, category, expiry = _unb64(payload).decode().split("|")
        user_id, expires = uuid.UUID(user), int(expiry)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise missing from None
    if expires <= now.timestamp() or EMAIL not in DEFAULTS.get(category, {}):
        raise missing
    return Subscription(user_id, category)


def link(base_url: str, token: str) -> str:
    """The unsubscribe URL under the gateway's public /api/v1 address."""
    return f"{base_url}/notification-preferences/unsubscribe?token={quote(token, safe='')}"


__all__ = ["NOT_FOUND_MESSAGE", "Subscription", "link", "make_token", "read_token"]
