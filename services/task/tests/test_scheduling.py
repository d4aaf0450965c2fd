"""Recurrence and assignment rules (pure functions): calendar steps in the household's zone, DST, month ends,
late and early completions, rolling schedules, seasons."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.task.scheduling import (
    Assignment,
    Recurrence,
    completed_on_time,
    first_due,
    initial_assignee,
    next_assignee,
    next_due,
    shift,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc,arg-type]


def utc(value: datetime) -> datetime:
    """Python adds hours to a zoned datetime on the wall clock; absolute arithmetic needs UTC."""
    return value.astimezone(UTC)


def every(n: int, unit: str, **kwargs: object) -> Recurrence:
    return Recurrence("interval", n, unit, **kwargs)  # type: ignore[arg-type]


def on_time(recurrence: Recurrence, due: datetime, tz: ZoneInfo = BERLIN) -> datetime | None:
    """next_due when the occurrence due at `due` is done exactly on time."""
    return next_due(recurrence, previous_due=due, completed_at=due, tz=tz)


def local(value: datetime | None, tz: ZoneInfo = BERLIN) -> datetime:
    assert value is not None
    return value.astimezone(tz)


# --- once ------------------------------------------------------------------------------------------


def test_once_has_no_next_occurrence() -> None:
    due = berlin(2026, 5, 1, 18)
    assert on_time(Recurrence("once"), due) is None
    assert next_due(Recurrence("once"), previous_due=due, completed_at=due + timedelta(days=30), tz=BERLIN) is None


# --- hours: absolute time --------------------------------------------------------------------------


def test_hours_step_in_absolute_time_across_spring_forward() -> None:
    due = berlin(2026, 3, 28, 18)  # 17:00 UTC, CET
    nxt = on_time(every(24, "hours"), due)
    assert nxt == utc(due) + timedelta(hours=24)
    assert local(nxt).hour == 19  # the wall clock moved: 24 h later is 19:00 CEST


def test_hours_step_in_absolute_time_across_fall_back() -> None:
    due = berlin(2026, 10, 24, 18)  # CEST
    nxt = on_time(every(24, "hours"), due)
    assert nxt == utc(due) + timedelta(hours=24)
    assert local(nxt).hour == 17


def test_hours_result_is_utc() -> None:
    nxt = on_time(every(8, "hours"), berlin(2026, 6, 1, 9))
    assert nxt is not None
    assert nxt.utcoffset() == timedelta(0)
    assert nxt == datetime(2026, 6, 1, 15, tzinfo=UTC)


# --- calendar units: wall clock of the household's zone ---------------------------------------------


def test_daily_chore_stays_at_18_local_across_spring_forward() -> None:
    due = berlin(2026, 3, 28, 18)
    nxt = on_time(every(1, "days"), due)
    assert local(nxt) == berlin(2026, 3, 29, 18)
    assert nxt is not None
    assert nxt - due == timedelta(hours=23)  # the short day


def test_daily_chore_stays_at_18_local_across_fall_back() -> None:
    due = berlin(2026, 10, 24, 18)
    nxt = on_time(every(1, "days"), due)
    assert local(nxt) == berlin(2026, 10, 25, 18)
    assert nxt is not None
    assert nxt - due == timedelta(hours=25)  # the long day


def test_weekly_and_monthly_keep_local_time_across_dst() -> None:
    assert local(on_time(every(1, "weeks"), berlin(2026, 3, 22, 18))) == berlin(2026, 3, 29, 18)
    assert local(on_time(every(1, "weeks"), berlin(2026, 10, 20, 7, 30))) == berlin(2026, 10, 27, 7, 30)
    assert local(on_time(every(1, "months"), berlin(2026, 3, 15, 18))) == berlin(2026, 4, 15, 18)
    assert local(on_time(every(1, "years"), berlin(2026, 1, 10, 8))) == berlin(2027, 1, 10, 8)


def test_other_zones_use_their_own_transition_dates() -> None:
    # New York springs forward on 8 March 2026, three weeks before Berlin.
    due = datetime(2026, 3, 7, 18, tzinfo=NEW_YORK)
    nxt = on_time(every(1, "days"), due, NEW_YORK)
    assert local(nxt, NEW_YORK) == datetime(2026, 3, 8, 18, tzinfo=NEW_YORK)
    assert nxt is not None
    assert nxt - due == timedelta(hours=23)
    # The same instants seen from Berlin: a plain 24 h step there.
    assert on_time(every(1, "days"), due, BERLIN) == utc(due) + timedelta(hours=24)


def test_wall_time_in_the_spring_gap_resolves_forward_then_returns() -> None:
    # 02:30 does not exist on 29 March 2026 in Berlin: that day it is the first valid instant after the gap,
    # 03:00 CEST; the next day 02:30 again.
    daily = every(1, "days")
    anchor = berlin(2026, 3, 28, 2, 30)
    gap_day = next_due(daily, previous_due=anchor, completed_at=anchor, tz=BERLIN, anchor=anchor)
    assert gap_day == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert (local(gap_day).hour, local(gap_day).minute) == (3, 0)
    after = next_due(daily, previous_due=gap_day, completed_at=gap_day, tz=BERLIN, anchor=anchor)
    assert local(after) == berlin(2026, 3, 30, 2, 30)


def test_wall_time_in_the_fall_overlap_takes_the_first_occurrence() -> None:
    due = berlin(2026, 10, 24, 2, 30)
    nxt = on_time(every(1, "days"), due)
    assert nxt == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, not the later 02:30 CET


def test_shift_moves_by_units_on_the_wall_clock() -> None:
    start = berlin(2026, 3, 29, 0, 0)
    assert shift(start, "hours", 3, BERLIN) == utc(start) + timedelta(hours=3)
    assert local(shift(start, "hours", 3, BERLIN)) == berlin(2026, 3, 29, 4, 0)  # 02:00-03:00 does not exist
    assert local(shift(start, "days", 1, BERLIN)) == berlin(2026, 3, 30, 0, 0)
    assert local(shift(start, "days", -1, BERLIN)) == berlin(2026, 3, 28, 0, 0)


# --- month ends ------------------------------------------------------------------------------------


def test_month_steps_clamp_to_the_month_end_and_come_back() -> None:
    monthly = every(1, "months")
    anchor = berlin(2026, 1, 31, 18)
    dues = [anchor]
    for _ in range(4):
        dues.append(local(next_due(monthly, previous_due=dues[-1], completed_at=dues[-1], tz=BERLIN, anchor=anchor)))
    assert [d.date().isoformat() for d in dues] == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
    ]
    assert all(d.hour == 18 for d in dues)  # March 31 is already summer time


def test_leap_years_clamp_february() -> None:
    anchor = berlin(2028, 1, 31, 9)
    assert local(next_due(every(1, "months"), previous_due=anchor, completed_at=anchor, tz=BERLIN)) == berlin(
        2028, 2, 29, 9
    )
    yearly = every(1, "years")
    leap_day = berlin(2028, 2, 29, 9)
    dues = [leap_day]
    for _ in range(4):
        dues.append(local(next_due(yearly, previous_due=dues[-1], completed_at=dues[-1], tz=BERLIN, anchor=leap_day)))
    assert [d.date().isoformat() for d in dues] == [
        "2028-02-29",
        "2029-02-28",
        "2030-02-28",
        "2031-02-28",
        "2032-02-29",
    ]


def test_without_an_anchor_the_previous_due_is_the_origin() -> None:
    # A schedule whose origin is 28 February steps to 28 March (it never knew about the 31st).
    feb = berlin(2026, 2, 28, 18)
    assert local(on_time(every(1, "months"), feb)) == berlin(2026, 3, 28, 18)


def test_every_n_months() -> None:
    anchor = berlin(2026, 8, 31, 10)
    nxt = next_due(every(6, "months"), previous_due=anchor, completed_at=anchor, tz=BERLIN)
    assert local(nxt) == berlin(2027, 2, 28, 10)


# --- late and early completion ---------------------------------------------------------------------


def test_late_completion_skips_the_missed_occurrences() -> None:
    daily = every(1, "days")
    due = berlin(2026, 6, 1, 18)  # Monday
    assert local(next_due(daily, previous_due=due, completed_at=berlin(2026, 6, 4, 10), tz=BERLIN)) == berlin(
        2026, 6, 4, 18
    )
    assert local(next_due(daily, previous_due=due, completed_at=berlin(2026, 6, 4, 19), tz=BERLIN)) == berlin(
        2026, 6, 5, 18
    )


def test_late_completion_stays_on_the_schedule_grid() -> None:
    weekly = every(1, "weeks")
    due = berlin(2026, 3, 1, 18)  # Sunday, winter time
    nxt = local(next_due(weekly, previous_due=due, completed_at=berlin(2026, 4, 2, 12), tz=BERLIN))
    assert nxt == berlin(2026, 4, 5, 18)  # the next Sunday 18:00, now in summer time
    assert nxt.weekday() == 6


def test_completion_exactly_at_the_next_occurrence_moves_past_it() -> None:
    daily = every(1, "days")
    due = berlin(2026, 6, 1, 18)
    done = berlin(2026, 6, 2, 18)
    assert local(next_due(daily, previous_due=due, completed_at=done, tz=BERLIN)) == berlin(2026, 6, 3, 18)


def test_early_completion_does_not_pull_the_next_occurrence_forward() -> None:
    weekly = every(1, "weeks")
    due = berlin(2026, 6, 7, 18)  # Sunday
    done = berlin(2026, 6, 5, 9)  # Friday before
    assert local(next_due(weekly, previous_due=due, completed_at=done, tz=BERLIN)) == berlin(2026, 6, 14, 18)


def test_hours_late_completion_keeps_the_grid() -> None:
    due = datetime(2026, 6, 1, 0, tzinfo=UTC)
    nxt = next_due(every(8, "hours"), previous_due=due, completed_at=due + timedelta(hours=17), tz=BERLIN)
    assert nxt == due + timedelta(hours=24)


def test_a_long_lag_is_computed_quickly_and_exactly() -> None:
    anchor = berlin(2000, 1, 31, 18)
    done = berlin(2026, 5, 10, 12)
    nxt = next_due(every(1, "months"), previous_due=anchor, completed_at=done, tz=BERLIN)
    assert local(nxt) == berlin(2026, 5, 31, 18)
    hourly = next_due(every(7, "hours"), previous_due=anchor, completed_at=done, tz=BERLIN)
    assert hourly is not None
    assert hourly > done >= hourly - timedelta(hours=7)
    assert (hourly - anchor) % timedelta(hours=7) == timedelta(0)


# --- rolling ---------------------------------------------------------------------------------------


def test_rolling_counts_from_the_completion() -> None:
    rolling = every(3, "days", rolling=True)
    due = berlin(2026, 6, 1, 18)
    assert local(next_due(rolling, previous_due=due, completed_at=berlin(2026, 6, 2, 21), tz=BERLIN)) == berlin(
        2026, 6, 5, 21
    )
    # Done early: the next one is three days after that, earlier than the schedule would say.
    assert local(next_due(rolling, previous_due=due, completed_at=berlin(2026, 5, 30, 8), tz=BERLIN)) == berlin(
        2026, 6, 2, 8
    )


def test_rolling_ignores_the_anchor_and_keeps_local_time_across_dst() -> None:
    rolling = every(1, "days", rolling=True)
    done = berlin(2026, 3, 28, 20, 15)
    nxt = next_due(rolling, previous_due=berlin(2026, 3, 1, 8), completed_at=done, tz=BERLIN, anchor=berlin(2020, 1, 1))
    assert local(nxt) == berlin(2026, 3, 29, 20, 15)


def test_rolling_months_clamp_from_the_completion_day() -> None:
    rolling = every(1, "months", rolling=True)
    done = berlin(2026, 1, 31, 10)
    assert local(next_due(rolling, previous_due=done, completed_at=done, tz=BERLIN)) == berlin(2026, 2, 28, 10)


def test_rolling_hours() -> None:
    done = datetime(2026, 6, 1, 10, 17, tzinfo=UTC)
    nxt = next_due(
        every(36, "hours", rolling=True), previous_due=done - timedelta(days=9), completed_at=done, tz=BERLIN
    )
    assert nxt == done + timedelta(hours=36)


# --- seasons ---------------------------------------------------------------------------------------

SUMMER = (4, 5, 6, 7, 8, 9)


def test_season_skips_to_the_first_in_season_occurrence_on_the_same_grid() -> None:
    mowing = every(1, "weeks", months=SUMMER)
    due = berlin(2026, 9, 27, 17)  # last Sunday of September
    nxt = local(next_due(mowing, previous_due=due, completed_at=due, tz=BERLIN))
    assert nxt == berlin(2027, 4, 4, 17)  # first Sunday in April 2027
    assert nxt.weekday() == due.weekday()
    assert (nxt - timedelta(weeks=1)).month == 3  # the one before was out of season


def test_season_with_hours() -> None:
    twice_a_day = every(12, "hours", months=(6,))
    due = datetime(2026, 6, 30, 20, tzinfo=UTC)  # 22:00 CEST, June 30
    nxt = next_due(twice_a_day, previous_due=due, completed_at=due, tz=BERLIN)
    assert nxt is not None
    assert local(nxt).month == 6
    assert local(nxt).year == 2027
    assert (nxt - due) % timedelta(hours=12) == timedelta(0)
    assert local(nxt - timedelta(hours=12)).month == 5


def test_season_applies_to_rolling_schedules() -> None:
    rolling = every(1, "months", rolling=True, months=(12, 1, 2))
    done = berlin(2026, 2, 10, 9)
    assert local(next_due(rolling, previous_due=done, completed_at=done, tz=BERLIN)) == berlin(2026, 12, 10, 9)


def test_season_wrapping_the_year_end() -> None:
    winter = every(1, "days", months=(11, 12, 1, 2))
    due = berlin(2026, 2, 28, 7)
    assert local(on_time(winter, due)) == berlin(2026, 11, 1, 7)


def test_a_season_the_schedule_never_reaches_gives_none() -> None:
    yearly_in_march = every(1, "years", months=(4,))
    due = berlin(2026, 3, 10, 9)
    assert on_time(yearly_in_march, due) is None
    assert first_due(yearly_in_march, start=due, tz=BERLIN) is None


def test_first_due_in_season_is_the_start_itself() -> None:
    start = berlin(2026, 5, 5, 18)
    assert first_due(every(1, "weeks", months=SUMMER), start=start, tz=BERLIN) == start
    assert first_due(every(1, "weeks"), start=start, tz=BERLIN) == start
    assert first_due(Recurrence("once"), start=start, tz=BERLIN) == start


def test_first_due_out_of_season() -> None:
    january = berlin(2026, 1, 14, 18)  # Wednesday
    weekly = local(first_due(every(1, "weeks", months=SUMMER), start=january, tz=BERLIN))
    assert weekly == berlin(2026, 4, 1, 18)  # the first Wednesday in April
    once = local(first_due(Recurrence("once", months=SUMMER), start=january, tz=BERLIN))
    assert once == berlin(2026, 4, 1, 18)  # the season's first day, same time of day


def test_first_due_is_utc() -> None:
    due = first_due(Recurrence("once"), start=berlin(2026, 5, 5, 18), tz=BERLIN)
    assert due is not None
    assert due.tzinfo == UTC


# --- invariants over many random cases -------------------------------------------------------------


@pytest.mark.parametrize("unit", ["hours", "days", "weeks", "months", "years"])
@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")])
def test_next_due_is_the_first_grid_point_after_due_and_completion(unit: str, tz: ZoneInfo) -> None:
    rng = random.Random(f"{unit}-{tz}")
    for _ in range(60):
        n = rng.randint(1, 5)
        recurrence = every(n, unit)
        anchor = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 2 * 366 * 24 * 60))
        steps = rng.randint(0, 10)
        previous = shift(anchor, recurrence.unit, n * steps, tz)  # type: ignore[arg-type]
        completed = previous + timedelta(minutes=rng.randint(-3 * 24 * 60, 400 * 24 * 60))
        nxt = next_due(recurrence, previous_due=previous, completed_at=completed, tz=tz, anchor=anchor)
        assert nxt is not None
        assert nxt > previous
        assert nxt > completed
        # It is a point of the grid, and the grid point before it is not after both.
        k = 0
        while (point := shift(anchor, recurrence.unit, n * k, tz)) < nxt:  # type: ignore[arg-type]
            k += 1
        assert point == nxt
        assert k >= 1
        assert shift(anchor, recurrence.unit, n * (k - 1), tz) <= max(previous, completed)  # type: ignore[arg-type]


def test_inputs_must_be_timezone_aware() -> None:
    naive = datetime(2026, 6, 1, 18)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_due(every(1, "days"), previous_due=naive, completed_at=berlin(2026, 6, 1, 18), tz=BERLIN)
    with pytest.raises(ValueError, match="timezone-aware"):
        first_due(every(1, "days"), start=naive, tz=BERLIN)


# --- the value types -------------------------------------------------------------------------------


def test_recurrence_rejects_impossible_values() -> None:
    with pytest.raises(ValueError, match="every >= 1"):
        Recurrence("interval", 0, "days")
    with pytest.raises(ValueError, match="a unit"):
        Recurrence("interval", 1, None)
    with pytest.raises(ValueError, match="unknown recurrence kind"):
        Recurrence("fortnightly")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs days"):
        Recurrence("weekly")
    with pytest.raises(ValueError, match=r"months are 1\.\.12"):
        Recurrence("once", months=(13,))


def test_recurrence_and_assignment_round_trip_through_json() -> None:
    recurrence = Recurrence("interval", 2, "weeks", rolling=True, months=(4, 5))
    assert Recurrence.from_json(recurrence.as_json()) == recurrence
    assert Recurrence.from_json(Recurrence("once").as_json()) == Recurrence("once")
    assignment = Assignment("fixed", (uuid.uuid4(), uuid.uuid4()), rotate="on_completion", grace_minutes=30)
    assert Assignment.from_json(assignment.as_json()) == assignment


# --- assignment ------------------------------------------------------------------------------------


def test_fixed_assignment_is_always_the_first_assignee() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    fixed = Assignment("fixed", (first, second))
    assert initial_assignee(fixed) == first
    assert next_assignee(fixed, current=first) == first
    assert next_assignee(fixed, current=second) == first
    assert next_assignee(fixed, current=None) == first


def test_unassigned_has_nobody() -> None:
    unassigned = Assignment("unassigned")
    assert initial_assignee(unassigned) is None
    assert next_assignee(unassigned, current=uuid.uuid4()) is None


def test_on_time_means_by_the_due_time_plus_the_grace_period() -> None:
    due = datetime(2026, 3, 29, 16, 0, tzinfo=UTC)
    assert completed_on_time(due=due, completed_at=due)
    assert completed_on_time(due=due, completed_at=due - timedelta(days=2))
    assert not completed_on_time(due=due, completed_at=due + timedelta(seconds=1))
    assert completed_on_time(due=due, completed_at=due + timedelta(minutes=30), grace_minutes=30)
    assert not completed_on_time(due=due, completed_at=due + timedelta(minutes=31), grace_minutes=30)
    # Zones do not matter: the same instant written in Berlin time is still on time.
    assert completed_on_time(due=due, completed_at=due.astimezone(BERLIN))
    with pytest.raises(ValueError, match="completed_at must be timezone-aware"):
        completed_on_time(due=due, completed_at=datetime(2026, 3, 29, 16, 0))
