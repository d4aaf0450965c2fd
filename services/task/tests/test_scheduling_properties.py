"""Invariants of the scheduling rules, over generated schedules, zones (with and without DST, odd offsets,
both hemispheres), due times and completion times (hypothesis). The example-based tests in test_scheduling.py
pin the individual cases; these check that the rules hold everywhere in between.

Rolling schedules count from the completion by design, so an early completion of a rolling chore may bring
its next due time forward; "never moves backwards" is a property of schedule-based chores only.
"""

from __future__ import annotations

import calendar
import uuid
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from services.task.scheduling import (
    ADAPTIVE_DEFAULT,
    ADAPTIVE_MAX,
    ADAPTIVE_MIN,
    Assignment,
    Recurrence,
    ScheduleState,
    complete,
    completed_on_time,
    first_due,
    next_due,
    shift,
)

FAST = settings(max_examples=150, deadline=None)

ZONES = [
    ZoneInfo(name)
    for name in (
        "Europe/Berlin",
        "America/New_York",
        "Australia/Sydney",  # southern hemisphere: DST over the new year
        "America/St_Johns",  # -03:30 with DST
        "Australia/Lord_Howe",  # a 30-minute DST shift
        "Asia/Kolkata",  # +05:30, no DST
        "UTC",
    )
]
DAY_OR_LONGER = ("days", "weeks", "months", "years")

zones = st.sampled_from(ZONES)
units = st.sampled_from(("hours", *DAY_OR_LONGER))


def _valid(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, min(day, calendar.monthrange(year, month)[1]), hour, minute)


# Local wall times, biased towards the small hours where DST transitions happen (and the 31st, which clamps).
walls = st.builds(
    _valid,
    st.integers(2001, 2035),
    st.integers(1, 12),
    st.integers(1, 31),
    st.sampled_from((0, 1, 2, 3, 12, 23)) | st.integers(0, 23),
    st.sampled_from((0, 30)) | st.integers(0, 59),
)


def instant(wall: datetime, tz: tzinfo) -> datetime:
    """The instant of a local wall time (gaps and overlaps resolved with fold=0, as scheduling does)."""
    return wall.replace(tzinfo=tz).astimezone(UTC)


def exists(wall: datetime, tz: tzinfo) -> bool:
    return instant(wall, tz).astimezone(tz).replace(tzinfo=None) == wall


def local_wall(moment: datetime, tz: tzinfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None, fold=0)


@st.composite
def schedules(draw: Any, *, unit: Any = units, rolling: bool = False) -> tuple[Recurrence, datetime, datetime, tzinfo]:
    """(recurrence, anchor, previous due on the anchor's grid, zone)."""
    tz = draw(zones)
    chosen = draw(unit)
    every = draw(st.integers(1, 4) if chosen != "hours" else st.integers(1, 48))
    recurrence = Recurrence("interval", every, chosen, rolling=rolling)
    anchor = instant(draw(walls), tz)
    previous_due = shift(anchor, chosen, every * draw(st.integers(0, 12)), tz)
    return recurrence, anchor, previous_due, tz


# Early (up to 3 days before due) or late (up to 400 days after).
offsets = st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=400))


@FAST
@given(schedules(), offsets)
def test_a_schedule_based_chore_falls_due_strictly_after_its_previous_due_and_its_completion(
    schedule: tuple[Recurrence, datetime, datetime, tzinfo], offset: timedelta
) -> None:
    recurrence, anchor, previous_due, tz = schedule
    completed_at = previous_due + offset
    due = next_due(recurrence, previous_due=previous_due, completed_at=completed_at, tz=tz, anchor=anchor)
    assert due is not None
    assert due > previous_due
    assert due > completed_at


def _steps_between(anchor: datetime, due: datetime, unit: str, tz: tzinfo) -> int:
    """How many units of `unit` lie between the anchor and the due time on the wall clock (hours: absolute)."""
    if unit == "hours":
        return int((due - anchor) / timedelta(hours=1))
    start, end = local_wall(anchor, tz), local_wall(due, tz)
    if unit in ("days", "weeks"):
        days = (end.date() - start.date()).days
        return days if unit == "days" else days // 7
    months = (end.year - start.year) * 12 + end.month - start.month
    return months if unit == "months" else months // 12


@FAST
@given(schedules(), offsets)
def test_an_interval_schedule_stays_on_its_grid_and_skips_to_the_first_occurrence_after_the_completion(
    schedule: tuple[Recurrence, datetime, datetime, tzinfo], offset: timedelta
) -> None:
    recurrence, anchor, previous_due, tz = schedule
    assert recurrence.unit is not None
    completed_at = previous_due + offset
    due = next_due(recurrence, previous_due=previous_due, completed_at=completed_at, tz=tz, anchor=anchor)
    assert due is not None
    steps = _steps_between(anchor, due, recurrence.unit, tz)
    assert steps % recurrence.every == 0
    k = steps // recurrence.every
    assert k >= 1
    assert shift(anchor, recurrence.unit, recurrence.every * k, tz) == due  # on the grid
    # ... and the first occurrence after both the previous due time and the completion.
    assert shift(anchor, recurrence.unit, recurrence.every * (k - 1), tz) <= max(previous_due, completed_at)


@FAST
@given(schedules(unit=st.sampled_from(DAY_OR_LONGER)), offsets)
def test_day_or_longer_steps_keep_the_wall_clock_time_across_dst(
    schedule: tuple[Recurrence, datetime, datetime, tzinfo], offset: timedelta
) -> None:
    recurrence, anchor, previous_due, tz = schedule
    due = next_due(recurrence, previous_due=previous_due, completed_at=previous_due + offset, tz=tz, anchor=anchor)
    assert due is not None
    start, got = local_wall(anchor, tz), local_wall(due, tz)
    assert recurrence.unit is not None
    steps = _steps_between(anchor, due, recurrence.unit, tz)
    if recurrence.unit in ("days", "weeks"):
        expected = start + timedelta(days=steps if recurrence.unit == "days" else 7 * steps)
    else:
        months = steps if recurrence.unit == "months" else 12 * steps
        expected = start + relativedelta(months=months)  # the 31st clamps to the month's last day
        last_day = calendar.monthrange(expected.year, expected.month)[1]
        assert expected.day == min(start.day, last_day)
    if exists(expected, tz):
        assert got == expected  # same local time of day, whatever the offset did meanwhile
    else:  # a spring-forward gap: the first valid instant after it (the transition)
        assert local_wall(due, tz) > expected
        assert local_wall(due - timedelta(seconds=1), tz) < expected


@FAST
@given(schedules(rolling=True), offsets)
def test_a_rolling_schedule_counts_from_the_completion(
    schedule: tuple[Recurrence, datetime, datetime, tzinfo], offset: timedelta
) -> None:
    recurrence, anchor, previous_due, tz = schedule
    assert recurrence.unit is not None
    completed_at = previous_due + offset
    due = next_due(recurrence, previous_due=previous_due, completed_at=completed_at, tz=tz, anchor=anchor)
    assert due == shift(completed_at, recurrence.unit, recurrence.every, tz)
    assert due is not None
    assert due > completed_at
    # Where the previous occurrence was due (or where the schedule started) plays no part.
    elsewhere = previous_due + timedelta(days=17)
    assert next_due(recurrence, previous_due=elsewhere, completed_at=completed_at, tz=tz, anchor=elsewhere) == due


@FAST
@given(zones, walls, offsets, st.booleans())
def test_a_one_off_chore_is_done_after_one_completion(
    tz: tzinfo, wall: datetime, offset: timedelta, rolling: bool
) -> None:
    due = instant(wall, tz)
    assignee = uuid.uuid4()
    state = ScheduleState(
        recurrence=Recurrence("once", rolling=rolling),
        assignment=Assignment("fixed", (assignee,)),
        due=due,
        assignee_id=assignee,
    )
    change = complete(state, completed_at=due + offset, tz=tz)
    assert change.done
    assert change.next_due is None
    assert change.assignee_id == assignee  # nobody has a next occurrence to be given


@FAST
@given(
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
    zones,
    st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=9)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    st.integers(0, 7 * 24 * 60),
    st.integers(0, 7 * 24 * 60),
)
def test_on_time_is_a_deadline_earlier_is_never_later_and_more_grace_never_hurts(
    due_utc: datetime, tz: tzinfo, offset: timedelta, earlier_by: timedelta, grace: int, more_grace: int
) -> None:
    """Properties, not the formula: the deadline itself counts, a moment after it does not; finishing earlier
    is never worse; a longer grace never turns an on-time completion late; the zone the instants are given in
    does not matter (instants are compared, not wall clocks — across DST changes too)."""

    def local(moment: datetime) -> datetime:  # the same instant, as a household's zone writes it
        return moment.astimezone(tz)

    def on_time(done: datetime, grace_minutes: int = grace) -> bool:
        return completed_on_time(due=local(due_utc), completed_at=local(done), grace_minutes=grace_minutes)

    deadline = due_utc + timedelta(minutes=grace)
    assert on_time(deadline)
    assert not on_time(deadline + timedelta(microseconds=1))
    done = due_utc + offset
    if on_time(done):
        assert on_time(done - earlier_by)
        assert on_time(done, grace + more_grace)
    assert on_time(done) == completed_on_time(due=due_utc, completed_at=done, grace_minutes=grace)


@st.composite
def states(draw: Any) -> tuple[ScheduleState, datetime, tzinfo]:
    """A chore's schedule state (any kind, rolling or not, with or without a season) and a completion time."""
    kind = draw(st.sampled_from(("once", "interval")))
    tz = draw(zones)
    if kind == "once":
        recurrence = Recurrence("once")
        anchor = instant(draw(walls), tz)
        due = anchor
    else:
        recurrence, anchor, due, tz = draw(schedules(rolling=draw(st.booleans())))
        months = draw(st.sets(st.integers(1, 12), max_size=11))
        recurrence = Recurrence(
            "interval", recurrence.every, recurrence.unit, recurrence.rolling, tuple(sorted(months))
        )
    people = tuple(uuid.UUID(int=n + 1) for n in range(draw(st.integers(0, 3))))
    assignment = Assignment(
        "fixed" if people else "unassigned", people, grace_minutes=draw(st.integers(0, 7 * 24 * 60))
    )
    last = draw(st.none() | st.just(due - timedelta(days=draw(st.integers(-5, 30)))))
    state = ScheduleState(
        recurrence=recurrence,
        assignment=assignment,
        due=due,
        anchor=anchor,
        assignee_id=people[0] if people else None,
        last_completion_time=last,
    )
    return state, due + draw(offsets), tz


@FAST
@given(states())
def test_the_completion_change_is_deterministic_and_never_moves_a_schedule_backwards(
    drawn: tuple[ScheduleState, datetime, tzinfo],
) -> None:
    state, completed_at, tz = drawn
    change = complete(state, completed_at=completed_at, tz=tz)
    assert complete(state, completed_at=completed_at, tz=tz) == change
    assert change.due == state.due
    assert change.done == (change.next_due is None)
    assert change.on_time == completed_on_time(
        due=state.due, completed_at=completed_at, grace_minutes=state.assignment.grace_minutes
    )
    latest = completed_at if state.last_completion_time is None else max(state.last_completion_time, completed_at)
    assert change.last_completion_time == latest  # a backdated completion never moves it backwards
    if change.next_due is not None:
        assert state.recurrence.kind == "interval"
        assert change.next_due > completed_at
        if not state.recurrence.rolling:
            assert change.next_due > state.due
        if state.recurrence.months:
            assert change.next_due.astimezone(tz).month in state.recurrence.months


# --- calendar kinds (weekly, monthly, yearly, rrule) and adaptive -------------------------------------------

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
clock_times = st.sampled_from(("00:00", "01:30", "02:30", "03:00", "09:00", "23:59")) | st.builds(
    lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59)
)
seasons = st.just(()) | st.lists(st.integers(1, 12), min_size=1, max_size=11, unique=True).map(
    lambda ms: tuple(sorted(ms))
)


@st.composite
def calendar_recurrences(draw: Any) -> Recurrence:
    kind = draw(st.sampled_from(("weekly", "monthly_day", "monthly_weekday", "yearly", "rrule")))
    every = draw(st.integers(1, 3))
    rolling = draw(st.booleans())
    months = draw(seasons)
    if kind == "weekly":
        days = tuple(draw(st.lists(st.sampled_from(WEEKDAY_NAMES), min_size=1, max_size=7, unique=True)))
        return Recurrence("weekly", every, days=days, time=draw(clock_times), rolling=rolling, months=months)
    if kind == "monthly_day":
        day = draw(st.sampled_from((-1, 1, 15, 28, 29, 30, 31)) | st.integers(1, 31))
        return Recurrence("monthly", every, day_of_month=day, rolling=rolling, months=months)
    if kind == "monthly_weekday":
        name, week = draw(st.sampled_from(WEEKDAY_NAMES)), draw(st.sampled_from((1, 2, 3, 4, -1)))
        return Recurrence("monthly", every, weekday=name, week=week, rolling=rolling, months=months)
    if kind == "yearly":
        month = draw(st.sampled_from(months) if months else st.integers(1, 12))
        day = draw(st.integers(1, calendar.monthrange(2000, month)[1]))  # 2000: 29 February allowed
        return Recurrence("yearly", every, month=month, day=day, rolling=rolling, months=months)
    rule = draw(
        st.sampled_from(
            (
                "FREQ=DAILY;INTERVAL=3",
                "FREQ=WEEKLY;BYDAY=MO,FR;BYHOUR=2;BYMINUTE=30",
                "FREQ=MONTHLY;BYDAY=-1SU",
                "FREQ=MONTHLY;BYMONTHDAY=31",
                "FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU;BYHOUR=2",
            )
        )
    )
    return Recurrence("rrule", rrule=rule, rolling=rolling, months=months)


def _allowed_weekdays(recurrence: Recurrence) -> set[int] | None:
    if recurrence.kind == "weekly":
        return {WEEKDAY_NAMES.index(d) for d in recurrence.days}
    if recurrence.kind == "monthly" and recurrence.weekday:
        return {WEEKDAY_NAMES.index(recurrence.weekday)}
    return None


def _wall_time(recurrence: Recurrence, anchor_wall: datetime) -> tuple[int, int] | None:
    """The local time of day every slot should show (None: the rule sets it itself)."""
    if recurrence.kind == "weekly":
        hour, minute = recurrence.time.split(":")
        return int(hour), int(minute)
    if recurrence.kind in ("monthly", "yearly"):
        return anchor_wall.hour, anchor_wall.minute
    return None


@settings(max_examples=300, deadline=None)
@given(calendar_recurrences(), zones, walls, st.integers(0, 60), offsets)
def test_a_calendar_chore_falls_due_after_the_reference_on_an_allowed_day_at_its_time(
    recurrence: Recurrence, tz: tzinfo, anchor_wall: datetime, skip_days: int, offset: timedelta
) -> None:
    anchor = instant(anchor_wall, tz)
    first = first_due(recurrence, start=anchor, tz=tz)
    if first is None:  # a season the rule never reaches (yearly in March, season April)
        return
    assert first >= anchor
    previous_due = next_due(
        recurrence, previous_due=first, completed_at=first + timedelta(days=skip_days), tz=tz, anchor=anchor
    )
    assert previous_due is not None
    completed_at = previous_due + offset
    due = next_due(recurrence, previous_due=previous_due, completed_at=completed_at, tz=tz, anchor=anchor)
    assert due is not None
    # Strictly after the reference instants.
    assert due > completed_at
    assert due > previous_due
    wall = local_wall(due, tz)
    # In season, on an allowed weekday.
    if recurrence.months:
        assert wall.month in recurrence.months
    allowed = _allowed_weekdays(recurrence)
    if allowed is not None and exists(wall, tz):
        assert wall.weekday() in allowed
    # The local time never drifts: the rule's time, except in a spring gap (then the first instant after it).
    expected = _wall_time(recurrence, local_wall(anchor, tz))
    if expected is not None:
        intended = wall.replace(hour=expected[0], minute=expected[1], second=0, microsecond=0)
        if exists(intended, tz):
            assert (wall.hour, wall.minute) == expected
        else:
            assert local_wall(due - timedelta(seconds=1), tz) < intended < wall
    if recurrence.kind == "monthly" and not recurrence.weekday and exists(wall, tz):
        last = calendar.monthrange(wall.year, wall.month)[1]
        day = recurrence.day_of_month
        assert wall.day == (last if day == -1 else min(day, last))
    # Stable under recomputation: the same inputs give the same answer, and any reference just before the
    # answer (on the same schedule) gives it again.
    assert next_due(recurrence, previous_due=previous_due, completed_at=completed_at, tz=tz, anchor=anchor) == due
    if not recurrence.rolling:
        just_before = due - timedelta(seconds=1)
        again = next_due(recurrence, previous_due=previous_due, completed_at=just_before, tz=tz, anchor=anchor)
        assert again == due


@FAST
@given(
    st.lists(
        st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
        max_size=15,
    ),
    zones,
)
def test_an_adaptive_chore_falls_due_after_its_completion_within_the_bounds(
    history: list[datetime], tz: tzinfo
) -> None:
    completed_at = max(history, default=datetime(2030, 1, 2, tzinfo=UTC)) + timedelta(minutes=1)
    due = next_due(Recurrence("adaptive"), previous_due=completed_at, completed_at=completed_at, tz=tz, history=history)
    assert due is not None
    assert completed_at + ADAPTIVE_MIN <= due <= completed_at + ADAPTIVE_MAX
    # The learned interval lies within the intervals it learned from (a weighted mean), or is the default.
    times = sorted({*history, completed_at})[-10:]
    gaps = [b - a for a, b in pairwise(times)]
    if gaps:
        assert max(min(gaps), ADAPTIVE_MIN) - timedelta(seconds=1) <= due - completed_at
        assert due - completed_at <= min(max(max(gaps), ADAPTIVE_MIN), ADAPTIVE_MAX) + timedelta(seconds=1)
    else:
        assert due - completed_at == ADAPTIVE_DEFAULT
