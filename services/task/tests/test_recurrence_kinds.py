"""The calendar recurrence kinds (weekly, monthly, yearly, rrule) and adaptive ones, as tables: DST in
Europe/Berlin and America/New_York, month ends (Grocy's overflow), leap years, seasons, rolling, RRULE limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.task import scheduling
from services.task.scheduling import (
    ADAPTIVE_DEFAULT,
    ADAPTIVE_MAX,
    ADAPTIVE_MIN,
    Recurrence,
    adaptive_interval,
    first_due,
    next_due,
    parse_rrule,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def at(tz: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=tz, fold=fold)  # type: ignore[misc,arg-type]


def series(recurrence: Recurrence, anchor: datetime, tz: ZoneInfo, count: int) -> list[datetime]:
    """The first `count` due times of a chore created with first due time `anchor`, each completed on time."""
    due = first_due(recurrence, start=anchor, tz=tz)
    result = []
    for _ in range(count):
        assert due is not None
        result.append(due)
        due = next_due(recurrence, previous_due=due, completed_at=due, tz=tz, anchor=anchor)
    return result


def walls(moments: Sequence[datetime], tz: ZoneInfo) -> list[str]:
    return [m.astimezone(tz).strftime("%Y-%m-%d %a %H:%M %Z") for m in moments]


# --- weekly ------------------------------------------------------------------------------------------


def test_a_weekly_0900_chore_stays_0900_across_both_berlin_transitions() -> None:
    weekly = Recurrence("weekly", days=("sun", "thu"), time="09:00")
    dues = series(weekly, at(BERLIN, 2026, 3, 26, 0, 0), BERLIN, 4)
    assert walls(dues, BERLIN) == [
        "2026-03-26 Thu 09:00 CET",
        "2026-03-29 Sun 09:00 CEST",  # the day of the spring change
        "2026-04-02 Thu 09:00 CEST",
        "2026-04-05 Sun 09:00 CEST",
    ]
    assert dues[0] == datetime(2026, 3, 26, 8, tzinfo=UTC)
    assert dues[1] == datetime(2026, 3, 29, 7, tzinfo=UTC)
    autumn = series(weekly, at(BERLIN, 2026, 10, 22, 0, 0), BERLIN, 3)
    assert walls(autumn, BERLIN) == [
        "2026-10-22 Thu 09:00 CEST",
        "2026-10-25 Sun 09:00 CET",
        "2026-10-29 Thu 09:00 CET",
    ]


def test_a_weekly_0900_chore_stays_0900_across_both_new_york_transitions() -> None:
    weekly = Recurrence("weekly", days=("sun",), time="09:00")
    assert walls(series(weekly, at(NEW_YORK, 2026, 3, 1, 12, 0), NEW_YORK, 2), NEW_YORK) == [
        "2026-03-08 Sun 09:00 EDT",
        "2026-03-15 Sun 09:00 EDT",
    ]
    assert walls(series(weekly, at(NEW_YORK, 2026, 10, 26, 0, 0), NEW_YORK, 2), NEW_YORK) == [
        "2026-11-01 Sun 09:00 EST",
        "2026-11-08 Sun 09:00 EST",
    ]


@pytest.mark.parametrize(
    ("tz", "monday", "time", "expected_utc", "after_wall"),
    [
        # Spring forward: 02:30 does not exist; the first valid instant after the gap is 03:00 summer time.
        (BERLIN, (2026, 3, 23), "02:30", datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "2026-04-05 Sun 02:30 CEST"),
        (NEW_YORK, (2026, 3, 2), "02:30", datetime(2026, 3, 8, 7, 0, tzinfo=UTC), "2026-03-15 Sun 02:30 EDT"),
        # Fall back: 02:30 (Berlin) / 01:30 (New York) happen twice; the first (summer time) is the one.
        (BERLIN, (2026, 10, 19), "02:30", datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "2026-11-01 Sun 02:30 CET"),
        (NEW_YORK, (2026, 10, 26), "01:30", datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "2026-11-08 Sun 01:30 EST"),
    ],
)
def test_weekly_times_in_gaps_and_overlaps(
    tz: ZoneInfo, monday: tuple[int, int, int], time: str, expected_utc: datetime, after_wall: str
) -> None:
    weekly = Recurrence("weekly", days=("sun",), time=time)
    dues = series(weekly, at(tz, *monday, 0, 0), tz, 2)
    assert dues[0] == expected_utc
    assert walls(dues[1:], tz) == [after_wall]


def test_every_second_week_counts_weeks_from_the_anchor_week() -> None:
    fortnightly = Recurrence("weekly", every=2, days=("mon", "fri"), time="18:00")
    assert walls(series(fortnightly, at(BERLIN, 2026, 1, 7, 12, 0), BERLIN, 5), BERLIN) == [
        "2026-01-09 Fri 18:00 CET",
        "2026-01-19 Mon 18:00 CET",
        "2026-01-23 Fri 18:00 CET",
        "2026-02-02 Mon 18:00 CET",
        "2026-02-06 Fri 18:00 CET",
    ]


def test_weekly_without_a_time_takes_the_anchors_time_of_day() -> None:
    weekly = Recurrence("weekly", days=("wed",))
    assert walls(series(weekly, at(BERLIN, 2026, 3, 25, 7, 15), BERLIN, 2), BERLIN) == [
        "2026-03-25 Wed 07:15 CET",
        "2026-04-01 Wed 07:15 CEST",
    ]


def test_an_early_completion_keeps_the_schedule_and_a_late_one_skips_what_was_missed() -> None:
    weekly = Recurrence("weekly", days=("mon",), time="09:00")
    anchor = due = at(BERLIN, 2026, 6, 1, 9, 0)
    early = next_due(weekly, previous_due=due, completed_at=due - timedelta(days=2), tz=BERLIN, anchor=anchor)
    assert early == at(BERLIN, 2026, 6, 8, 9, 0)
    late = next_due(weekly, previous_due=due, completed_at=at(BERLIN, 2026, 6, 17, 0, 0), tz=BERLIN, anchor=anchor)
    assert late == at(BERLIN, 2026, 6, 22, 9, 0)


def test_a_rolling_weekly_chore_counts_its_weeks_from_the_completion() -> None:
    fortnightly = Recurrence("weekly", every=2, days=("mon",), time="09:00", rolling=True)
    anchor = due = at(BERLIN, 2026, 6, 1, 9, 0)
    # Done on Wednesday 10 June (a week late): two weeks from that week, not from the anchor's.
    done = at(BERLIN, 2026, 6, 10, 20, 0)
    assert next_due(fortnightly, previous_due=due, completed_at=done, tz=BERLIN, anchor=anchor) == at(
        BERLIN, 2026, 6, 22, 9, 0
    )
    # Done early (Sunday before the due Monday): never the occurrence just done, and two weeks on from then.
    sunday = at(BERLIN, 2026, 5, 31, 10, 0)
    assert next_due(fortnightly, previous_due=due, completed_at=sunday, tz=BERLIN, anchor=anchor) == at(
        BERLIN, 2026, 6, 8, 9, 0
    )


def test_a_seasonal_weekly_chore_sleeps_through_winter() -> None:
    mowing = Recurrence("weekly", days=("sat",), time="10:00", months=(4, 5, 6, 7, 8, 9))
    due = at(BERLIN, 2026, 9, 26, 10, 0)
    assert next_due(mowing, previous_due=due, completed_at=due, tz=BERLIN, anchor=due) == at(BERLIN, 2027, 4, 3, 10, 0)
    assert first_due(mowing, start=at(BERLIN, 2026, 12, 1, 0, 0), tz=BERLIN) == at(BERLIN, 2027, 4, 3, 10, 0)


# --- monthly -----------------------------------------------------------------------------------------


def test_monthly_on_the_31st_never_drifts_to_the_28th() -> None:
    """Grocy's bug: "the 31st" computed from the previous due date became the 28th after February."""
    monthly = Recurrence("monthly", day_of_month=31)
    assert [
        d.astimezone(BERLIN).date().isoformat() for d in series(monthly, at(BERLIN, 2026, 1, 31, 9, 0), BERLIN, 7)
    ] == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
        "2026-06-30",
        "2026-07-31",
    ]
    leap = series(monthly, at(BERLIN, 2028, 1, 31, 9, 0), BERLIN, 3)
    assert [d.astimezone(BERLIN).date().isoformat() for d in leap] == ["2028-01-31", "2028-02-29", "2028-03-31"]
    assert {d.astimezone(BERLIN).strftime("%H:%M") for d in leap} == {"09:00"}


@pytest.mark.parametrize(
    ("fields", "start", "expected"),
    [
        ({"day_of_month": -1}, at(BERLIN, 2027, 1, 5, 8, 0), ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]),
        ({"day_of_month": 30}, at(BERLIN, 2028, 1, 1, 8, 0), ["2028-01-30", "2028-02-29", "2028-03-30", "2028-04-30"]),
        ({"day_of_month": 29}, at(BERLIN, 2027, 1, 1, 8, 0), ["2027-01-29", "2027-02-28", "2027-03-29", "2027-04-29"]),
        ({"day_of_month": 1}, at(BERLIN, 2027, 1, 1, 8, 0), ["2027-01-01", "2027-02-01", "2027-03-01", "2027-04-01"]),
        (
            {"day_of_month": 15, "every": 3},
            at(BERLIN, 2027, 1, 20, 8, 0),
            ["2027-04-15", "2027-07-15", "2027-10-15", "2028-01-15"],
        ),
        (
            {"weekday": "sat", "week": 2},
            at(BERLIN, 2026, 3, 1, 8, 0),
            ["2026-03-14", "2026-04-11", "2026-05-09", "2026-06-13"],
        ),
        (
            {"weekday": "sun", "week": -1},
            at(BERLIN, 2026, 3, 1, 8, 0),
            ["2026-03-29", "2026-04-26", "2026-05-31", "2026-06-28"],
        ),
        (
            {"weekday": "mon", "week": 4},
            at(BERLIN, 2026, 2, 1, 8, 0),
            ["2026-02-23", "2026-03-23", "2026-04-27", "2026-05-25"],
        ),
    ],
)
def test_monthly_dates(fields: dict[str, object], start: datetime, expected: list[str]) -> None:
    monthly = Recurrence("monthly", **fields)  # type: ignore[arg-type]
    dues = series(monthly, start, BERLIN, len(expected))
    assert [d.astimezone(BERLIN).date().isoformat() for d in dues] == expected
    assert {d.astimezone(BERLIN).strftime("%H:%M") for d in dues} == {"08:00"}  # the anchor's time, DST or not


def test_monthly_in_the_spring_gap_takes_the_first_valid_instant_and_returns_to_its_time() -> None:
    # The last Sunday of March at 02:30 (Berlin) never exists: each year it is 03:00 summer time.
    last_sunday = Recurrence("monthly", weekday="sun", week=-1)
    dues = series(last_sunday, at(BERLIN, 2026, 2, 22, 2, 30), BERLIN, 3)
    assert walls(dues, BERLIN) == ["2026-02-22 Sun 02:30 CET", "2026-03-29 Sun 03:00 CEST", "2026-04-26 Sun 02:30 CEST"]


# --- yearly ------------------------------------------------------------------------------------------


def test_yearly_on_29_february_is_28_february_in_common_years() -> None:
    birthday = Recurrence("yearly", month=2, day=29)
    dues = series(birthday, at(BERLIN, 2027, 1, 1, 10, 0), BERLIN, 5)
    assert [d.astimezone(BERLIN).date().isoformat() for d in dues] == [
        "2027-02-28",
        "2028-02-29",
        "2029-02-28",
        "2030-02-28",
        "2031-02-28",
    ]


def test_yearly_every_two_years_counts_from_the_anchor_year() -> None:
    biennial = Recurrence("yearly", every=2, month=10, day=31)
    dues = series(biennial, at(NEW_YORK, 2026, 11, 1, 9, 0), NEW_YORK, 3)
    # 2026's 31 October is before the anchor; the rule's years are 2026, 2028, 2030, ...
    assert walls(dues, NEW_YORK) == ["2028-10-31 Tue 09:00 EDT", "2030-10-31 Thu 09:00 EDT", "2032-10-31 Sun 09:00 EDT"]


def test_an_old_anchor_gives_what_walking_from_it_gives() -> None:
    """Starting the rule near the threshold (for speed) keeps its phase: the same answer as from the anchor."""
    cases = [
        Recurrence("weekly", every=3, days=("tue", "sat"), time="07:45"),
        Recurrence("monthly", every=5, day_of_month=31),
        Recurrence("monthly", every=2, weekday="fri", week=-1),
        Recurrence("yearly", every=3, month=2, day=29),
        Recurrence("rrule", rrule="FREQ=DAILY;INTERVAL=3"),
        Recurrence("rrule", rrule="FREQ=DAILY;INTERVAL=7;BYMONTH=2,3;BYHOUR=2,14"),
        Recurrence("rrule", rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SA;WKST=SU"),
        Recurrence("rrule", rrule="FREQ=WEEKLY;INTERVAL=3"),  # the weekday and time left to the start
        Recurrence("rrule", rrule="FREQ=WEEKLY;BYDAY=MO,WE,FR;BYSETPOS=-1;UNTIL=20300101"),
    ]
    anchor = at(NEW_YORK, 2009, 3, 8, 2, 30)
    for recurrence in cases:
        for threshold in (
            at(NEW_YORK, 2026, 3, 8, 1, 0),
            at(NEW_YORK, 2031, 11, 2, 1, 30),
            at(NEW_YORK, 2010, 1, 1, 0, 0),
        ):
            got = next_due(recurrence, previous_due=anchor, completed_at=threshold, tz=NEW_YORK, anchor=anchor)
            rule = scheduling._rule(recurrence, anchor.astimezone(UTC).astimezone(NEW_YORK).replace(tzinfo=None))
            plain = rule.rule if rule.until is None else rule.rule.replace(until=rule.until)
            walked = next((s for w in plain if (s := scheduling._localise(w, NEW_YORK)) > threshold), None)
            assert got == walked, recurrence


# --- rrule -------------------------------------------------------------------------------------------


def test_an_rrule_expands_on_the_local_wall_clock() -> None:
    rule = Recurrence("rrule", rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SA;BYHOUR=18;BYMINUTE=30")
    assert walls(series(rule, at(BERLIN, 2026, 3, 17, 0, 0), BERLIN, 4), BERLIN) == [
        "2026-03-17 Tue 18:30 CET",
        "2026-03-21 Sat 18:30 CET",
        "2026-03-31 Tue 18:30 CEST",
        "2026-04-04 Sat 18:30 CEST",
    ]


def test_an_rrule_with_a_count_ends_the_chore() -> None:
    thrice = Recurrence("rrule", rrule="RRULE:FREQ=DAILY;COUNT=3")
    anchor = at(NEW_YORK, 2026, 3, 7, 2, 30)
    dues = series(thrice, anchor, NEW_YORK, 3)
    assert walls(dues, NEW_YORK) == ["2026-03-07 Sat 02:30 EST", "2026-03-08 Sun 03:00 EDT", "2026-03-09 Mon 02:30 EDT"]
    assert next_due(thrice, previous_due=dues[-1], completed_at=dues[-1], tz=NEW_YORK, anchor=anchor) is None


def test_an_rrule_until_date_includes_its_day() -> None:
    rule = Recurrence("rrule", rrule="FREQ=DAILY;UNTIL=20260302")
    anchor = at(BERLIN, 2026, 3, 1, 9, 0)
    assert walls(series(rule, anchor, BERLIN, 2), BERLIN) == ["2026-03-01 Sun 09:00 CET", "2026-03-02 Mon 09:00 CET"]
    last = at(BERLIN, 2026, 3, 2, 9, 0)
    assert next_due(rule, previous_due=last, completed_at=last, tz=BERLIN, anchor=anchor) is None


def test_an_rrule_until_is_local_wall_time() -> None:
    rule = Recurrence("rrule", rrule="FREQ=MONTHLY;BYMONTHDAY=1;UNTIL=20260301T000000")
    anchor = at(BERLIN, 2026, 1, 1, 0, 0)
    dues = series(rule, anchor, BERLIN, 3)
    assert [d.astimezone(BERLIN).date().isoformat() for d in dues] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert next_due(rule, previous_due=dues[-1], completed_at=dues[-1], tz=BERLIN, anchor=anchor) is None


def test_an_rrule_with_a_season_skips_the_rest_of_the_year() -> None:
    rule = Recurrence("rrule", rrule="FREQ=DAILY;INTERVAL=10", months=(12,))
    due = at(BERLIN, 2026, 12, 31, 9, 0)
    following = next_due(rule, previous_due=due, completed_at=due, tz=BERLIN, anchor=due)
    # Every 10 days from 31 Dec 2026 (day 340 is the first in December 2027), still at 09:00 in winter time.
    assert following == at(BERLIN, 2027, 12, 6, 9, 0)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("FREQ=HOURLY", "FREQ must be DAILY"),
        ("FREQ=MINUTELY;INTERVAL=1", "FREQ must be DAILY"),
        ("BYDAY=MO", "FREQ must be DAILY"),
        ("FREQ=DAILY;DTSTART=20260101T000000", "DTSTART"),
        ("DTSTART:20260101T000000\nRRULE:FREQ=DAILY", "one RRULE value"),
        ("FREQ=DAILY;BYSECOND=1,2,3", "BYSECOND"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20270101", "exclude each other"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be 1 to 10000"),
        ("FREQ=DAILY;COUNT=99999", "COUNT must be 1 to 10000"),
        ("FREQ=DAILY;INTERVAL=-2", "INTERVAL must be 1 to 50"),
        ("FREQ=DAILY;INTERVAL=51", "INTERVAL must be 1 to 50"),
        ("FREQ=DAILY;UNTIL=tomorrow", "UNTIL must be a date"),
        ("FREQ=DAILY;BYMONTH=13", "BYMONTH must be 1 to 12"),
        ("FREQ=DAILY;BYMONTH=-1", "BYMONTH must be 1 to 12"),
        ("FREQ=DAILY;BYYEARDAY=400", "BYYEARDAY must be 1 to 366"),
        ("FREQ=DAILY;BYWEEKNO=0", "BYWEEKNO must be 1 to 53"),
        ("FREQ=DAILY;FREQ=WEEKLY", "twice"),
        ("FREQ=WEEKLY;BYDAY=XX", "not a valid RRULE"),
        ("FREQ=WEEKLY;WHEN=SOON", "not a valid RRULE"),
        ("FREQ=MONTHLY;BYMONTHDAY=40", "BYMONTHDAY must be 1 to 31"),
        ("FREQ=WEEKLY;BYHOUR=24", "not a valid RRULE"),
        ("FREQ", "not NAME=VALUE"),
        ("", "one RRULE value"),
    ],
)
def test_parse_rrule_refuses(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_rrule(text, datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31",
        "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31;COUNT=2",
    ],
)
def test_an_rrule_that_never_falls_due_has_no_first_due_time(text: str) -> None:
    # Searched to its frequency's horizon only (dateutil alone would walk every day up to the year 9999).
    assert first_due(Recurrence("rrule", rrule=text), start=at(BERLIN, 2026, 1, 1, 0, 0), tz=BERLIN) is None


def test_an_rrule_until_in_utc_is_read_on_the_households_clock() -> None:
    # 20260301T000000Z is 1 March 01:00 in Berlin: the 1 March 00:30 slot is still within it.
    rule = Recurrence("rrule", rrule="FREQ=MONTHLY;BYMONTHDAY=1;UNTIL=20260301T000000Z")
    dues = series(rule, at(BERLIN, 2026, 1, 1, 0, 30), BERLIN, 3)
    assert dues[-1] == at(BERLIN, 2026, 3, 1, 0, 30)
    assert next_due(rule, previous_due=dues[-1], completed_at=dues[-1], tz=BERLIN, anchor=dues[0]) is None
    in_new_york = first_due(rule, start=at(NEW_YORK, 2026, 2, 28, 20, 0), tz=NEW_YORK)
    assert in_new_york is None  # 1 March 00:30 New York is after 28 February 19:00 there


# --- adaptive ----------------------------------------------------------------------------------------

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("gaps_days", "expected"),
    [
        ([], ADAPTIVE_DEFAULT),  # no completion yet
        (None, ADAPTIVE_DEFAULT),  # one completion: no interval to measure
        ([3], timedelta(days=3)),
        ([2, 2, 2], timedelta(days=2)),
        # Newest weighs 1, the one before 0.5: (4 * 1 + 1 * 0.5) / 1.5 = 3 days.
        ([1, 4], timedelta(days=3)),
        ([4, 1], timedelta(days=2)),
    ],
)
def test_adaptive_interval(gaps_days: list[int] | None, expected: timedelta) -> None:
    if gaps_days is None:
        times = [T0]
    else:
        times = [T0] if gaps_days else []
        for gap in gaps_days:
            times.append(times[-1] + timedelta(days=gap))
    assert adaptive_interval(reversed(times)) == expected  # any order


def test_adaptive_interval_is_bounded_and_ignores_duplicates_and_old_history() -> None:
    assert adaptive_interval([T0, T0 + timedelta(minutes=1)]) == ADAPTIVE_MIN
    assert adaptive_interval([T0, T0 + timedelta(days=3000)]) == ADAPTIVE_MAX
    assert adaptive_interval([T0, T0, T0 + timedelta(days=2)]) == timedelta(days=2)
    # Only the newest ten completions count: a long-ago pause makes no difference.
    recent = [T0 + timedelta(days=400 + 2 * i) for i in range(10)]
    assert adaptive_interval([T0, *recent]) == timedelta(days=2)


def test_an_adaptive_chore_is_due_the_learned_interval_after_its_completion() -> None:
    adaptive = Recurrence("adaptive")
    history = (T0, T0 + timedelta(days=3))
    done = T0 + timedelta(days=6)
    assert next_due(adaptive, previous_due=done, completed_at=done, tz=BERLIN, history=history) == done + timedelta(
        days=3
    )
    assert next_due(adaptive, previous_due=done, completed_at=done, tz=BERLIN) == done + ADAPTIVE_DEFAULT
    seasonal = Recurrence("adaptive", months=(5,))
    late_may = datetime(2026, 5, 30, 8, 0, tzinfo=UTC)
    assert next_due(seasonal, previous_due=late_may, completed_at=late_may, tz=BERLIN) == at(BERLIN, 2027, 5, 1, 0, 0)


def test_an_adaptive_chores_first_guess_is_its_interval_until_two_completions_give_one() -> None:
    done = T0 + timedelta(days=6)
    fortnight = Recurrence("adaptive", every=2, unit="weeks")
    assert next_due(fortnight, previous_due=done, completed_at=done, tz=BERLIN) == done + timedelta(weeks=2)
    # A learned interval replaces the guess.
    history = (T0, T0 + timedelta(days=3))
    assert next_due(fortnight, previous_due=done, completed_at=done, tz=BERLIN, history=history) == done + timedelta(
        days=3
    )
    # Nominal lengths, kept within the adaptive bounds.
    assert Recurrence("adaptive", every=1, unit="months").adaptive_guess == timedelta(days=30)
    assert Recurrence("adaptive", every=5, unit="years").adaptive_guess == scheduling.ADAPTIVE_MAX
    assert Recurrence("adaptive").adaptive_guess == ADAPTIVE_DEFAULT
    with pytest.raises(ValueError, match="first guess"):
        Recurrence("adaptive", every=0, unit="days")


def test_the_completion_change_carries_the_history_to_adaptive_chores() -> None:
    state = scheduling.ScheduleState(
        recurrence=Recurrence("adaptive"),
        assignment=scheduling.Assignment("unassigned"),
        due=T0,
        history=(T0 - timedelta(days=1),),
    )
    change = scheduling.complete(state, completed_at=T0, tz=BERLIN)
    assert change.next_due == T0 + timedelta(days=1)


# --- value round trip ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "recurrence",
    [
        Recurrence("weekly", every=2, days=("mon", "thu"), time="18:00", months=(4, 5)),
        Recurrence("monthly", day_of_month=-1, rolling=True),
        Recurrence("monthly", every=2, weekday="sat", week=2),
        Recurrence("yearly", month=2, day=29),
        Recurrence("rrule", rrule="FREQ=DAILY;COUNT=3"),
        Recurrence("adaptive"),
    ],
)
def test_every_kind_round_trips_through_json(recurrence: Recurrence) -> None:
    assert Recurrence.from_json(recurrence.as_json()) == recurrence


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"kind": "weekly"}, "needs days"),
        ({"kind": "monthly"}, "day_of_month"),
        ({"kind": "monthly", "day_of_month": 32}, "day_of_month"),
        ({"kind": "monthly", "weekday": "sat", "week": 5}, "week"),
        ({"kind": "yearly", "month": 4, "day": 31}, "month 1..12 and a day"),
        ({"kind": "yearly", "month": 13, "day": 1}, "month 1..12 and a day"),
        ({"kind": "rrule", "rrule": "FREQ=SECONDLY"}, "FREQ"),
    ],
)
def test_a_calendar_recurrence_refuses_fields_that_make_no_rule(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Recurrence(**fields)  # type: ignore[arg-type]
