"""The fast converters against the slow ones they replaced: byte-for-byte the same output."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hearth.user.v1 import user_pb2

from gateway import converters

NANOS = (0, 1, 999, 1000, 1001, 123_456_789, 500_000_000, 999_999, 1_000_000, 999_999_000, 999_999_999)


def stamp(seconds: int, nanos: int = 0) -> Timestamp:
    return Timestamp(seconds=seconds, nanos=nanos)


def seconds_of(year: int, *rest: int) -> int:
    return int(datetime(year, *rest, tzinfo=UTC).timestamp())  # type: ignore[misc]


def edges() -> list[int]:
    """Midnights and the second before them, leap days, 1900..2200 bounds, the epoch, negatives."""
    points = {0, 1, -1, 59, 60, 3599, 3600, 86399, 86400, -86400, -86401}
    for year in (1900, 1901, 1969, 1970, 1971, 1999, 2000, 2024, 2038, 2100, 2199, 2200):
        for month, day in ((1, 1), (2, 28), (3, 1), (12, 31)):
            start = seconds_of(year, month, day)
            points |= {start - 1, start, start + 1, start + 86399}
        if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
            points.add(seconds_of(year, 2, 29, 12, 30, 45))
    points |= {seconds_of(2200, 12, 31, 23, 59, 59), seconds_of(1900, 1, 1, 0, 0, 0)}
    return sorted(points)


@pytest.mark.parametrize("seconds", edges())
def test_time_out_matches_the_datetime_path_at_the_edges(seconds: int) -> None:
    for nanos in NANOS:
        value = stamp(seconds, nanos)
        if seconds == 0 and nanos == 0:
            assert converters.time_out(value) is None
            continue
        assert converters.time_out(value) == converters.time_out_slow(value), (seconds, nanos)


def test_time_out_matches_the_datetime_path_on_random_moments_1900_to_2200() -> None:
    rng = random.Random(13)
    low, high = seconds_of(1900, 1, 1), seconds_of(2201, 1, 1) - 1
    for _ in range(20_000):
        value = stamp(rng.randint(low, high), rng.choice((0, rng.randrange(1_000_000_000), rng.randrange(1000) * 1000)))
        assert converters.time_out(value) == converters.time_out_slow(value)


def test_time_out_shapes() -> None:
    assert converters.time_out(stamp(1_796_000_000)) == "2026-11-30T00:53:20Z"
    assert converters.time_out(stamp(1_796_000_000, 123_456_789)) == "2026-11-30T00:53:20.123456Z"
    assert converters.time_out(stamp(1_796_000_000, 999)) == "2026-11-30T00:53:20Z"  # below a microsecond: cut
    assert converters.time_out(stamp(1_796_000_000, 1000)) == "2026-11-30T00:53:20.000001Z"
    assert converters.time_out(stamp(0, 1000)) == "1970-01-01T00:00:00.000001Z"
    assert converters.time_out(stamp(1_796_000_000), present=False) is None
    assert converters.time_out(Timestamp()) is None


def test_time_out_range_bounds_and_invalid_stamps_behave_as_before() -> None:
    for value in (stamp(-62135596800), stamp(253402300799, 999_999_999)):  # year 1 and year 9999
        assert converters.time_out(value) == converters.time_out_slow(value)
    for bad in (stamp(253402300800), stamp(-62135596801), stamp(1, -1), stamp(1, 1_000_000_000)):
        with pytest.raises(ValueError, match="Timestamp") as slow:
            converters.time_out_slow(bad)
        with pytest.raises(ValueError, match="Timestamp") as fast:
            converters.time_out(bad)
        assert str(fast.value) == str(slow.value)


def test_role_names_from_the_table_match_the_enum() -> None:
    for name, number in user_pb2.Role.items():
        expected = name.removeprefix("ROLE_").lower() if number else ""
        assert converters.role(number) == expected
    with pytest.raises(ValueError, match="99"):
        converters.role(99)
