"""Request validation every service shares: one collector that reports every bad field at once, the
checks for text, time zones and request ids (each with one rule and one maximum), and the caller's id.

A use case gathers its field problems in a `Violations` and raises once, so a form can show them all:

    errors = Violations()
    title = errors.text("title", data.title, max_length=MAX_TITLE, required=True)
    zone = errors.time_zone("time_zone", data.time_zone, default="UTC")
    errors.request_id(request_id)
    errors.raise_if_any()

or, where nothing else happens between the checks, as a block that raises when it ends:

    with Violations() as errors:
        name = errors.text("household.display_name", name, max_length=NAME_MAX, required=True)

The limits of a domain's fields (a title's 200 characters) are the service's; the rules a string must
follow to be stored and shown at all (kit.text) and the limits of ids and zone names are here.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from kit import context
from kit.errors import FieldViolation, InvalidArgument, Unauthenticated
from kit.ids import parse_id
from kit.text import CONTROL_CHARACTERS_MESSAGE, has_control_characters

# AIP-155 asks for a UUID (36 characters); clients' own keys (the gateway's Idempotency-Key) get room.
REQUEST_ID_MAX_LENGTH = 128
# The longest IANA zone name is 32 characters ("America/Argentina/ComodRivadavia"); twice that is generous.
TIME_ZONE_MAX_LENGTH = 64
REQUIRED_MESSAGE = "is required"
TIME_ZONE_REQUIRED_MESSAGE = "is required (an IANA time zone such as Europe/Berlin)"
INVALID_REQUEST_MESSAGE = "invalid request"


def too_long_message(max_length: int) -> str:
    return f"must be at most {max_length} characters"


# Files of a tz database that available_timezones() lists but that are no zone a client may name: "localtime" (the
# host's own zone, a link to /etc/localtime: another answer on each machine), "posixrules" and "Factory" (a
# placeholder whose offset is "-00"); and the copies under posix/ and right/ (right/ counts leap seconds) that some
# databases hold beside the zones.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_NOT_ZONE_PREFIXES = ("posix/", "right/")


@functools.cache
def _known_time_zones() -> frozenset[str]:
    # available_timezones() walks the tz database on disk: once per process is enough.
    names = {name for name in available_timezones() if name not in _NOT_ZONES}
    return frozenset(name for name in names if not name.startswith(_NOT_ZONE_PREFIXES)) | {"UTC"}


def is_time_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone name ("Europe/Berlin", "UTC"), exactly as spelt.

    ZoneInfo alone is not enough: it also opens files such as "posixrules", "localtime" or "Etc/../UTC" that are
    not zone names a client should send (and that another system reading the value may not know). Only the
    canonical spelling is one: "europe/berlin" is not (a case-insensitive file system would open it)."""
    if not name or len(name) > TIME_ZONE_MAX_LENGTH or has_control_characters(name):
        return False
    if name not in _known_time_zones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class Violations:
    """Field violations gathered while validating one request; `raise_if_any` raises them together.

    Each check returns the value to use (text stripped, a zone name defaulted) whether or not it was valid,
    so validation reads straight through; nothing may act on the values before `raise_if_any`."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[FieldViolation]:
        return iter(self.items)

    @property
    def fields(self) -> list[str]:
        return [violation.field for violation in self.items]

    def add(self, field: str, message: str) -> None:
        self.items.append(FieldViolation(field, message))

    def extend(self, violations: Iterable[FieldViolation]) -> None:
        self.items.extend(violations)

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Run a check that raises InvalidArgument (a parser, another module's validator) and keep its
        violations here instead of stopping at it."""
        try:
            yield
        except InvalidArgument as exc:
            self.extend(exc.violations or [FieldViolation("", exc.message)])

    def raise_if_any(self, message: str = INVALID_REQUEST_MESSAGE) -> None:
        """InvalidArgument with every violation (the message lists them) when there is any."""
        if self.items:
            summary = "; ".join(f"{v.field}: {v.message}" for v in self.items)
            raise InvalidArgument(f"{message}: {summary}", list(self.items))

    def __enter__(self) -> Violations:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is None:  # an exception already on its way wins; it is not hidden behind field errors
            self.raise_if_any()

    # --- checks ---------------------------------------------------------------------------------------

    def text(self, field: str, value: str, *, max_length: int, required: bool = False) -> str:
        """`value` stripped: required (when asked), at most `max_length` characters, and text PostgreSQL and
        people can hold (kit.text). One violation per field: the first rule it breaks."""
        stripped = value.strip()
        if required and not stripped:
            self.add(field, REQUIRED_MESSAGE)
        elif len(stripped) > max_length:
            self.add(field, too_long_message(max_length))
        elif has_control_characters(stripped):
            self.add(field, CONTROL_CHARACTERS_MESSAGE)
        return stripped

    def time_zone(self, field: str, value: str, *, default: str = "") -> str:
        """An IANA time zone name (stripped; `default` when empty, required when there is no default)."""
        name = value.strip() or default
        if not name:
            self.add(field, TIME_ZONE_REQUIRED_MESSAGE)
        elif len(name) > TIME_ZONE_MAX_LENGTH:
            self.add(field, too_long_message(TIME_ZONE_MAX_LENGTH))
        elif has_control_characters(name):
            self.add(field, CONTROL_CHARACTERS_MESSAGE)
        elif not is_time_zone(name):
            self.add(field, f"{name!r} is not an IANA time zone")
        return name

    def request_id(self, value: str, *, field: str = "request_id") -> str:
        """A client's `request_id` (AIP-155), kept as sent (an opaque key is not trimmed): empty (no
        idempotency asked), or at most REQUEST_ID_MAX_LENGTH characters of text PostgreSQL can hold."""
        if len(value) > REQUEST_ID_MAX_LENGTH:
            self.add(field, too_long_message(REQUEST_ID_MAX_LENGTH))
        elif has_control_characters(value):
            self.add(field, CONTROL_CHARACTERS_MESSAGE)
        return value


def caller_id() -> uuid.UUID:
    """The authenticated user's id; UNAUTHENTICATED when the call has no authenticated user (no token, or a
    token that names no user, such as a service token on a user-facing RPC)."""
    caller = context.caller.get()
    if caller is None:
        raise Unauthenticated("authentication required")
    user_id = parse_id(caller.user_id)
    if user_id is None:
        raise Unauthenticated("the access token does not name a user")
    return user_id


__all__ = [
    "REQUEST_ID_MAX_LENGTH",
    "TIME_ZONE_MAX_LENGTH",
    "Violations",
    "caller_id",
    "is_time_zone",
    "too_long_message",
]
