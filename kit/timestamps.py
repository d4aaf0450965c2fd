"""The instants Hearth accepts from clients: 1900-01-01 to 2200-01-01 UTC.

Wide enough for any real due date, completion or report window; narrow enough that every driver and
PostgreSQL can hold the value in any time zone (year 1 or 9999 overflow on conversion, and a protobuf
Timestamp can name seconds no datetime holds). The gateway, every service and the page cursors refuse
anything outside it as a field error instead of failing later as a 500.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from kit.errors import invalid

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
RANGE_MESSAGE = f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)"


def in_range(moment: datetime) -> bool:
    """Whether `moment` (naive = UTC) lies in EARLIEST..LATEST; False, not an error, when it cannot even
    be shifted to UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    try:
        utc = aware.astimezone(UTC)
    except (OverflowError, ValueError):
        return False
    return EARLIEST <= utc <= LATEST


def from_proto(message: Message, field: str, *, path: str = "") -> datetime | None:
    """The Timestamp `field` of `message` as an aware datetime, None when unset; one no datetime can hold
    (seconds=2**50) is INVALID_ARGUMENT naming the field (as `path`, when the message sits inside the request,
    e.g. "api_key.expire_time"). The range is the caller's to check (`in_range`),
    so a service can report it beside its other field errors."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise invalid(path or field, RANGE_MESSAGE) from exc
