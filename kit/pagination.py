"""Keyset pagination with opaque page tokens (never OFFSET: page 1,000 costs what page 1 costs).

A token holds the sort key of the last row returned plus a fingerprint of the query (filters and
order) it belongs to, so a token replayed against a different query is refused, not misread.
Tokens are not signed (anyone can build one), so they are validated instead: `decode_cursor` checks
every part of the key against its kind (`Timestamp()`, `Uuid()`, `Integer(...)`, `Text()`, each
optionally nullable) and the range the database can hold, so tampering yields INVALID_ARGUMENT,
never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from kit import timestamps
from kit.errors import invalid
from kit.text import has_control_characters

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


# --- typed cursors -----------------------------------------------------------------------------------


class CursorPart(Protocol):
    @property
    def nullable(self) -> bool: ...

    def parse(self, value: Any) -> Any:
        """The value in its Python type; ValueError (or TypeError) when it is not one."""


@dataclass(frozen=True)
class Timestamp:
    nullable: bool = False

    def parse(self, value: Any) -> datetime:
        if not isinstance(value, str):
            raise TypeError("timestamp")
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None or not timestamps.in_range(moment):
            raise ValueError("timestamp out of range")
        return moment


@dataclass(frozen=True)
class Uuid:
    nullable: bool = False

    def parse(self, value: Any) -> uuid.UUID:
        if not isinstance(value, str):
            raise TypeError("uuid")
        return uuid.UUID(value)


@dataclass(frozen=True)
class Integer:
    nullable: bool = False
    low: int = -(2**31)
    high: int = 2**31 - 1

    def parse(self, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not self.low <= value <= self.high:
            raise ValueError("integer out of range")
        return value


@dataclass(frozen=True)
class Text:
    nullable: bool = False
    max_length: int = 1000

    def parse(self, value: Any) -> str:
        if not isinstance(value, str) or len(value) > self.max_length or has_control_characters(value):
            raise ValueError("text")
        return value


def decode_cursor(token: str, query: str, parts: Sequence[CursorPart]) -> tuple[Any, ...] | None:
    """The previous page's last sort key, each part parsed by its kind; None for the first page."""
    key = decode_token(token, query)
    if key is None:
        return None
    if len(key) != len(parts):
        raise invalid("page_token", "malformed page token")
    try:
        return tuple(
            None if value is None and part.nullable else part.parse(value)
            for part, value in zip(parts, key, strict=True)
        )
    except (ValueError, TypeError, OverflowError) as exc:
        raise invalid("page_token", "malformed page token") from exc
