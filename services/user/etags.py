"""Entity tags of users and households (AIP-154): the row's version, and the precondition an update checks."""

from __future__ import annotations

from kit.errors import PreconditionFailed


def etag_of(version: int) -> str:
    return f'W/"{version}"'


def check_etag(given: str, version: int, what: str) -> None:
    """An `etag` sent with a change must still match: `W/"3"` as we return it, or `3` / `"3"` as the gateway
    forwards an If-Match entity tag (quotes and weakness stripped). Empty means no precondition."""
    value = given.strip().removeprefix("W/").strip('"')
    if value and value != str(version):
        raise PreconditionFailed(f"the {what} has changed since it was read (etag mismatch)")


__all__ = ["check_etag", "etag_of"]
