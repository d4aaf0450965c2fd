"""The shortcuts scheduling takes for speed give exactly what the plain definitions give: month steps are
relativedelta's (month ends clamp, an ambiguous wall time is its first), and the first occurrence after a
threshold is the one walking up from k = 0 finds — across DST changes and a skipped day (Samoa, 2011)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from services.task import scheduling
from services.task.scheduling import Unit, shift

ZONES = [ZoneInfo(n) for n in ("Europe/Berlin", "America/New_York", "Pacific/Chatham", "Pacific/Apia", "Asia/Kolkata")]
UNITS: list[Unit] = ["days", "weeks", "months", "years"]
instants = st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


@given(
    wall=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)),
    months=st.integers(-1200, 1200),
    fold=st.sampled_from([0, 1]),
)
def test_month_steps_are_relativedeltas(wall: datetime, months: int, fold: int) -> None:
    assert scheduling._plus_months(wall.replace(fold=fold), months) == wall + relativedelta(months=months)
    assert scheduling._plus_months(wall.replace(fold=fold), months).fold == 0


def _walk_from_zero(anchor: datetime, unit: Unit, every: int, threshold: datetime, tz: ZoneInfo) -> datetime:
    """The definition: the first anchor + k * every * unit (k >= 0) strictly after threshold."""
    k = 0
    while (candidate := shift(anchor, unit, every * k, tz)) <= threshold:
        k += 1
    return candidate


@settings(max_examples=400)
@given(
    anchor=instants,
    lag=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3 * 366)),
    unit=st.sampled_from(UNITS),
    every=st.sampled_from([1, 2, 3, 13]),
    tz=st.sampled_from(ZONES),
)
def test_the_first_step_after_is_the_walks(
    anchor: datetime, lag: timedelta, unit: Unit, every: int, tz: ZoneInfo
) -> None:
    threshold = anchor + lag
    expected = _walk_from_zero(anchor, unit, every, threshold, tz)
    assert scheduling._first_step_after(anchor, unit, every, threshold, tz) == expected


def test_samoa_skipped_day() -> None:
    apia = ZoneInfo("Pacific/Apia")
    anchor = datetime(2011, 12, 20, 18, tzinfo=apia).astimezone(UTC)
    for day in range(25, 35):
        threshold = (datetime(2011, 12, 1, 18, tzinfo=apia) + timedelta(days=day)).astimezone(UTC)
        assert scheduling._first_step_after(anchor, "days", 1, threshold, apia) == _walk_from_zero(
            anchor, "days", 1, threshold, apia
        )
