"""Keyset pagination with opaque page tokens (never OFFSET: page 1,000 costs what page 1 costs).

A token holds the sort key of the last row returned plus a fingerprint of the query (filters and
order) it belongs to, so a token replayed against a different query is refused, not misread.
Tokens are signed-free but validated: tampering yields INVALID_ARGUMENT, never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from kit.errors import invalid

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def page_size(requested: int) -> int:
    if requested < 0:
        raise invalid("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()[:16]


def encode_token(last_key: list[Any], query: str) -> str:
    raw = json.dumps({"k": last_key, "q": query}, default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, query: str) -> list[Any] | None:
    """The last sort key of the previous page, or None for the first page."""
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        key, q = data["k"], data["q"]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        # RecursionError: a forged token of deeply nested JSON arrays (a few KB) exhausts the json parser.
        raise invalid("page_token", "malformed page token") from exc
    if q != query or not isinstance(key, list):
        raise invalid("page_token", "page token does not belong to this query")
    return key
