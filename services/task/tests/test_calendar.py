"""The calendar feed's bytes (services/task/calendar.py), parsed back with `icalendar`: each recurrence kind's RRULE
or expansion gives the due times scheduling gives, on the household's wall clock across DST."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from icalendar import Calendar, vRecur

from services.task import calendar, scheduling
from services.task.calendar import FeedChore
from services.task.scheduling import Recurrence

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def chore(recurrence: Recurrence, due: datetime, **overrides: object) -> FeedChore:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "title": "Dishes",
        "description": "",
        "category": "",
        "recurrence": recurrence,
        "anchor_time": due,
        "next_due_time": due,
        "estimated_minutes": None,
        "update_time": NOW - timedelta(days=1),
    }
    return FeedChore(**(fields | overrides))  # type: ignore[arg-type]


def parsed(*chores: FeedChore, tz: tzinfo = BERLIN) -> Any:
    """The feed parsed back (Any: icalendar types a property as the union of every value type)."""
    return Calendar.from_ical(calendar.build(chores, tz=tz, now=NOW))


def expand(event: Any, count: int) -> list[datetime]:
    """The first `count` starts of a parsed VEVENT, its RRULE expanded by dateutil (as a client would)."""
    start = event["dtstart"].dt
    rule = rrulestr(event["rrule"].to_ical().decode(), dtstart=start)
    return [slot for _, slot in zip(range(count), rule, strict=False)]


def scheduled(item: FeedChore, count: int) -> list[datetime]:
    """What scheduling makes of the same chore: each occurrence done on time."""
    return calendar.occurrences(item, BERLIN, until=NOW + timedelta(days=3650))[:count]


def test_the_calendar_names_itself_and_its_zone() -> None:
    feed = parsed(chore(Recurrence(kind="once"), datetime(2027, 3, 2, 9, tzinfo=BERLIN)))
    assert feed["prodid"] == calendar.PRODID
    assert feed["version"] == "2.0"
    assert feed["x-wr-calname"] == "Hearth chores"
    assert [tz["tzid"] for tz in feed.walk("VTIMEZONE")] == ["Europe/Berlin"]
    (event,) = feed.events
    assert event["dtstart"].dt == datetime(2027, 3, 2, 9, tzinfo=BERLIN)
    assert event["dtstart"].params["TZID"] == "Europe/Berlin"
    assert "rrule" not in event
    assert event["summary"] == "Dishes"


def test_a_weekly_chore_is_an_rrule_and_09_00_stays_09_00_across_dst() -> None:
    due = datetime(2027, 3, 22, 9, tzinfo=BERLIN)  # a Monday, a week before the clocks go forward
    item = chore(Recurrence(kind="weekly", days=("mon", "thu"), time="09:00"), due)
    (event,) = parsed(item).events
    assert event["uid"] == f"{item.id}@hearth"
    rule = event["rrule"]
    assert (rule["FREQ"], rule["BYDAY"], rule["BYHOUR"], rule["BYMINUTE"]) == (["WEEKLY"], ["MO", "TH"], [9], [0])
    starts = expand(event, 6)
    assert starts == scheduled(item, 6)
    assert {start.strftime("%H:%M") for start in starts} == {"09:00"}
    assert {start.utcoffset() for start in starts} == {timedelta(hours=1), timedelta(hours=2)}  # both sides of DST


def test_a_monthly_31st_is_the_last_day_of_a_short_month() -> None:
    item = chore(Recurrence(kind="monthly", day_of_month=31), datetime(2027, 1, 31, 9, tzinfo=BERLIN))
    (event,) = parsed(item).events
    days = [start.strftime("%m-%d %H:%M") for start in expand(event, 4)]
    assert days == ["01-31 09:00", "02-28 09:00", "03-31 09:00", "04-30 09:00"]
    assert expand(event, 4) == scheduled(item, 4)


def test_interval_days_months_and_years_map_to_freq_and_interval() -> None:
    every_3_days = chore(Recurrence(kind="interval", every=3, unit="days"), datetime(2027, 3, 26, 9, tzinfo=BERLIN))
    monthly_31 = chore(Recurrence(kind="interval", every=1, unit="months"), datetime(2027, 1, 31, 8, tzinfo=BERLIN))
    leap_day = chore(Recurrence(kind="interval", every=1, unit="years"), datetime(2028, 2, 29, 8, tzinfo=BERLIN))
    for item in (every_3_days, monthly_31, leap_day):
        (event,) = parsed(item).events
        assert expand(event, 5) == scheduled(item, 5), item.recurrence


def test_a_later_occurrence_keeps_the_anchors_day() -> None:
    # Anchored on 31 January, next due on the clamped 28 February: the 31st again in March.
    item = chore(
        Recurrence(kind="interval", every=1, unit="months"),
        datetime(2027, 2, 28, 8, tzinfo=BERLIN),
        anchor_time=datetime(2027, 1, 31, 8, tzinfo=BERLIN),
    )
    (event,) = parsed(item).events
    assert [start.day for start in expand(event, 3)] == [28, 31, 30]


def test_an_rrule_chore_is_its_rule_verbatim_with_until_in_utc() -> None:
    text = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=7;BYMINUTE=15"
    item = chore(Recurrence(kind="rrule", rrule=text), datetime(2027, 3, 7, 7, 15, tzinfo=BERLIN))
    (event,) = parsed(item).events
    assert event["rrule"] == vRecur.from_ical(text)  # the same parts (icalendar writes them in its own order)
    assert expand(event, 5) == scheduled(item, 5)
    until = chore(Recurrence(kind="rrule", rrule="FREQ=DAILY;UNTIL=20270310"), datetime(2027, 3, 7, 9, tzinfo=BERLIN))
    (event,) = parsed(until).events
    assert event["rrule"]["UNTIL"] == [datetime(2027, 3, 10, 22, 59, 59, tzinfo=UTC)]  # the whole day, Berlin
    assert [start.day for start in expand(event, 10)] == [7, 8, 9, 10]


def test_an_hourly_interval_is_expanded_to_the_horizon() -> None:
    due = datetime(2027, 3, 27, 22, tzinfo=BERLIN)  # across the night the clocks go forward
    item = chore(Recurrence(kind="interval", every=8, unit="hours"), due)
    events = parsed(item).events
    assert "rrule" not in events[0]
    starts = [event["dtstart"].dt.astimezone(UTC) for event in events]
    assert starts[0] == due
    assert all(later - earlier == timedelta(hours=8) for earlier, later in pairwise(starts))
    assert starts[-1] <= NOW + calendar.HORIZON < starts[-1] + timedelta(hours=8)
    assert len({event["uid"] for event in events}) == len(events)


def test_expansion_is_bounded_per_chore_and_chores_per_feed() -> None:
    item = chore(Recurrence(kind="interval", every=1, unit="hours"), NOW)
    assert len(parsed(item).events) == calendar.MAX_EXPANDED
    many = [chore(Recurrence(kind="once"), NOW + timedelta(minutes=i)) for i in range(calendar.MAX_CHORES + 5)]
    assert len(parsed(*many).events) == calendar.MAX_CHORES
    # 500 hourly chores: the feed stops expanding at MAX_EVENTS, and every chore still shows its next occurrence.
    hourly = [chore(Recurrence(kind="interval", every=1, unit="hours"), NOW + timedelta(minutes=i)) for i in range(500)]
    events = parsed(*hourly).events
    assert len(events) <= calendar.MAX_EVENTS
    assert {event["uid"].split("-2027")[0] for event in events} == {f"{item.id}" for item in hourly}


def test_rolling_count_and_adaptive_chores_are_not_rules() -> None:
    due = datetime(2027, 3, 2, 9, tzinfo=BERLIN)
    rolling = chore(Recurrence(kind="interval", every=1, unit="days", rolling=True), due)
    counted = chore(Recurrence(kind="rrule", rrule="FREQ=DAILY;COUNT=3"), due)
    adaptive = chore(Recurrence(kind="adaptive"), due)
    assert all("rrule" not in event for event in parsed(rolling, counted, adaptive).events)
    assert len(parsed(adaptive).events) == 1
    assert len(parsed(rolling).events) == 30  # 2 March, then every day to the horizon (31 March)


def test_a_season_becomes_bymonth() -> None:
    item = chore(
        Recurrence(kind="weekly", days=("sat",), time="10:00", months=(4, 5)), datetime(2027, 4, 3, 10, tzinfo=BERLIN)
    )
    (event,) = parsed(item).events
    assert event["rrule"]["BYMONTH"] == [4, 5]
    assert expand(event, 12) == scheduled(item, 12)


def test_the_same_chores_give_the_same_bytes() -> None:
    item = chore(Recurrence(kind="weekly", days=("mon",), time="09:00"), datetime(2027, 3, 1, 9, tzinfo=BERLIN))
    assert calendar.build([item], tz=BERLIN, now=NOW) == calendar.build([item], tz=BERLIN, now=NOW)


def test_a_household_without_a_zone_gets_utc() -> None:
    (event,) = parsed(chore(Recurrence(kind="once"), datetime(2027, 3, 2, 9, tzinfo=UTC)), tz=UTC).events
    assert event["dtstart"].to_ical() == b"20270302T090000Z"


def test_scheduling_agrees_on_a_weekly_every_two() -> None:
    due = datetime(2027, 3, 4, 18, tzinfo=BERLIN)
    item = chore(Recurrence(kind="weekly", every=2, days=("mon", "thu"), time="18:00"), due)
    (event,) = parsed(item).events
    assert expand(event, 8) == scheduled(item, 8)
    assert scheduling.first_due(item.recurrence, start=due, tz=BERLIN) == due


def test_a_rule_due_in_a_dst_gap_starts_at_its_own_wall_time() -> None:
    # 02:30 does not exist on 28 March 2027 in Berlin: scheduling makes that occurrence 03:00, but the rule the
    # client expands must start at 02:30, or every later Sunday would be 03:00 too.
    gap_day = datetime(2027, 3, 28, 3, 0, tzinfo=BERLIN)
    item = chore(
        Recurrence(kind="weekly", days=("sun",), time="02:30"),
        gap_day,
        anchor_time=datetime(2027, 3, 21, 2, 30, tzinfo=BERLIN),
    )
    (event,) = parsed(item).events
    assert event["dtstart"].to_ical() == b"20270328T023000"
    later = expand(event, 3)[1:]
    assert [start.strftime("%m-%d %H:%M") for start in later] == ["04-04 02:30", "04-11 02:30"]
    assert later == scheduled(item, 3)[1:]
