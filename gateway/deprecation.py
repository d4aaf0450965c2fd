"""Deprecated routes and what they answer: `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and a `Link` to the
successor (`rel="successor-version"`), on every response of the route, errors included.

The policy (README, "Versioning"): a route is deprecated by adding it to `DEPRECATED` (and `deprecated=True` where it
is declared, so the OpenAPI document says so too). It keeps working, unchanged, until its sunset, which is at
least six months after its deprecation; breaking changes otherwise go to a new path version (`/api/v2`), never
into `/api/v1`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

MIN_NOTICE_DAYS = 183


@dataclass(frozen=True)
class Deprecated:
    since: datetime
    sunset: datetime
    successor: str

    def __post_init__(self) -> None:
        if (self.sunset - self.since).days < MIN_NOTICE_DAYS:
            raise ValueError("a deprecated route is kept for at least six months")

    @property
    def headers(self) -> tuple[tuple[bytes, bytes], ...]:
        return (
            (b"deprecation", f"@{int(self.since.timestamp())}".encode()),
            (b"sunset", format_datetime(self.sunset, usegmt=True).encode()),
            (b"link", f'<{self.successor}>; rel="successor-version"'.encode()),
        )


# Route template → its deprecation. The JWKS is where OIDC clients look for it, at the root; the copy under the API
# prefix was a convenience that only splits caches.
DEPRECATED: dict[str, Deprecated] = {
    "/api/v1/.well-known/jwks.json": Deprecated(
        since=datetime(2026, 12, 1, tzinfo=UTC),
        sunset=datetime(2027, 6, 30, tzinfo=UTC),
        successor="/.well-known/jwks.json",
    ),
}


def headers_for(route: str) -> tuple[tuple[bytes, bytes], ...]:
    deprecated = DEPRECATED.get(route)
    return deprecated.headers if deprecated is not None else ()


__all__ = ["DEPRECATED", "Deprecated", "headers_for"]
