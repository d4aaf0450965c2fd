"""Recurrence: when a chore falls due next (who does it: services.task.assignment). Pure functions, no I/O.

Times in and out are timezone-aware datetimes (returned in UTC). Calendar steps (days, weeks,
months, years) are taken on the wall clock of the household's time zone, so a chore due 18:00
local stays due 18:00 local across daylight-saving changes; hour steps are absolute time.

Schedule-based recurrences count from an *anchor* (the schedule's origin: the first due time, or
the time the schedule was last reset): occurrence k is `anchor + k * every * unit`. Counting from
the anchor rather than from the previous occurrence is what keeps "the 31st" the 31st: a monthly
chore anchored on 31 January is due 28 February (clamped to the month's end) and 31 March again.

Wall-clock times that do not exist (spring forward, e.g. 02:30 on the last Sunday of March in
Europe/Berlin) resolve to the same instant as the time before the transition plus the gap, i.e.
03:30 local; ambiguous ones (fall back) resolve to their first occurrence (PEP 495, fold=0).

What a completion does to a chore (`complete`: its next due time, whether it is done, who has it next,
whether it was on time) is one function of the chore's schedule state and the completion; the use case
applies the `CompletionChange` it returns. Who has it next is services.task.assignment's (`next_assignee`).
"""

from __future__ import annotations

import random
import uuid
from calendar import isleap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal, cast, get_args

from services.task.assignment import NO_TALLY, Tally, next_assignee

# Re-exported: where callers found them before assignment had its own module.
from services.task.assignment import Assignment as Assignment
from services.task.assignment import AwayPeriod as AwayPeriod
from services.task.assignment import available as available
from services.task.assignment import initial_assignee as initial_assignee
from services.task.assignment import is_away as is_away
from services.task.assignment import without as without

Kind = Literal["once", "interval"]
Unit = Literal["hours", "days", "weeks", "months", "years"]

KINDS: tuple[Kind, ...] = get_args(Kind)
UNITS: tuple[Unit, ...] = get_args(Unit)

# Upper bound of one step of each unit in absolute time (a step is never longer than this).
_MAX_STEP: Mapping[Unit, timedelta] = {
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
    "weeks": timedelta(weeks=1),
    "months": timedelta(days=31),
    "years": timedelta(days=366),
}
# Offsets of one zone differ by at most ~26 h between any two instants (UTC-12 … UTC+14): the slack
# that makes "k steps of nominal length" a safe lower bound for where to start searching.
_OFFSET_SLACK = timedelta(days=2)
# Days of each month (index 1..12) in a common year; February gains one in leap years.
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# A season that a schedule never reaches (yearly in March, season April) must not loop forever.
_MAX_SEASON_JUMPS = 400


@dataclass(frozen=True)
class Recurrence:
    """A validated recurrence. `every`/`unit` only for kind "interval"; `months` empty = all year."""

    kind: Kind
    every: int = 1
    unit: Unit | None = None
    rolling: bool = False
    months: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown recurrence kind {self.kind!r}")
        if self.kind == "interval" and (self.unit not in UNITS or self.every < 1):
            raise ValueError("an interval needs every >= 1 and a unit")
        if any(not 1 <= month <= 12 for month in self.months):
            raise ValueError("months are 1..12")

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "every": self.every,
            "unit": self.unit,
            "rolling": self.rolling,
            "months": list(self.months),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recurrence:
        unit = data.get("unit")
        return cls(
            kind=cast(Kind, data["kind"]),
            every=int(data.get("every") or 1),
            unit=cast(Unit, unit) if unit else None,
            rolling=bool(data.get("rolling", False)),
            months=tuple(int(m) for m in data.get("months") or ()),
        )


# --- recurrence ------------------------------------------------------------------------------------


def _utc(value: datetime, name: str) -> datetime:
    """`value` in UTC. Arithmetic on two datetimes that share a zone is wall-clock arithmetic in Python
    (23:00 + 24 h is 23:00 the next day, whatever DST did), so every instant is normalised first."""
    if value.tzinfo is UTC:  # the common case (every instant here is UTC once normalised): already the answer
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def _plus_months(wall: datetime, n: int) -> datetime:
    """`wall` moved by `n` calendar months, the day clamped to the target month's last day (31 January + 1 month
    is 28 or 29 February): what `dateutil.relativedelta(months=n)` does, without its per-call cost."""
    year, month0 = divmod(wall.year * 12 + wall.month - 1 + n, 12)
    month = month0 + 1
    days = _DAYS_IN_MONTH[month] + (month == 2 and isleap(year))
    # fold=0 like every other step (datetime + timedelta drops the fold): an ambiguous wall time is its first.
    return wall.replace(year=year, month=month, day=min(wall.day, days), fold=0)


def _wall_shift(wall: datetime, unit: Unit, n: int) -> datetime:
    """The naive local `wall` time moved by `n` calendar units (not hours)."""
    if unit == "days":
        return wall + timedelta(days=n)
    if unit == "weeks":
        return wall + timedelta(weeks=n)
    return _plus_months(wall, n if unit == "months" else 12 * n)


def _localise(wall: datetime, tz: tzinfo) -> datetime:
    # Attaching the zone to a naive wall time resolves gaps and overlaps with fold=0 (see module doc).
    return wall.replace(tzinfo=tz).astimezone(UTC)


def shift(start: datetime, unit: Unit, n: int, tz: tzinfo) -> datetime:
    """`start` moved by `n` units: hours in absolute time, the others on `tz`'s wall clock (month ends clamp)."""
    if unit == "hours":
        return _utc(start, "start") + timedelta(hours=n)
    return _localise(_wall_shift(start.astimezone(tz).replace(tzinfo=None), unit, n), tz)


def _first_step_past(wall: datetime, later: datetime, unit: Unit, every: int) -> int:
    """The first k whose `wall + k * every * unit` is after `later` on the wall clock: a guess of the first
    occurrence after the instant `later` (in absolute time a DST change can put it one step off)."""
    if unit == "days" or unit == "weeks":
        return max(0, (later - wall) // timedelta(days=every if unit == "days" else 7 * every) + 1)
    months = (later.year - wall.year) * 12 + later.month - wall.month
    # The same month again can still be after `later` (a later day): the step back below checks that.
    return max(0, months // (every if unit == "months" else 12 * every) + 1)


def _first_step_after(anchor: datetime, unit: Unit, every: int, threshold: datetime, tz: tzinfo) -> datetime:
    """The first occurrence `anchor + k * every * unit` (k >= 0) strictly after `threshold`."""
    if anchor > threshold:
        return anchor
    if unit == "hours":
        step = timedelta(hours=every)
        k = (threshold - anchor) // step + 1
        return anchor + k * step
    # A k that is certainly not past the answer (occurrences never come faster than _MAX_STEP apart) ...
    lag = threshold - anchor - _OFFSET_SLACK
    floor = max(0, lag // (_MAX_STEP[unit] * every)) if lag > timedelta(0) else 0
    # ... and a guess from the wall clocks, usually the answer itself. Occurrences only move forward as k grows,
    # so stepping back while the one before is still after `threshold` (never below `floor`), then forward
    # while it is not, finds the same first k as walking up from `floor` — in two steps instead of up to four.
    wall = anchor.astimezone(tz).replace(tzinfo=None)
    k = max(floor, _first_step_past(wall, threshold.astimezone(tz).replace(tzinfo=None), unit, every))
    while k > floor and _localise(_wall_shift(wall, unit, every * (k - 1)), tz) > threshold:
        k -= 1
    while True:
        candidate = _localise(_wall_shift(wall, unit, every * k), tz)
        if candidate > threshold:
            return candidate
        k += 1


def in_season(when: datetime, months: Iterable[int], tz: tzinfo) -> bool:
    if not months:  # all year (most schedules): no need to look at the local month
        return True
    season = set(months)
    return not season or when.astimezone(tz).month in season


def _season_start_after(when: datetime, months: Iterable[int], tz: tzinfo) -> datetime:
    """Local midnight of the 1st of the next in-season month after `when`'s month."""
    season = set(months)
    local = when.astimezone(tz)
    year, month = local.year, local.month
    for _ in range(12):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if month in season:
            return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)
    raise ValueError("empty season")


def _first_in_season_after(
    anchor: datetime, unit: Unit, every: int, threshold: datetime, months: tuple[int, ...], tz: tzinfo
) -> datetime | None:
    """The first occurrence after `threshold` that falls in the season; None when the schedule never does."""
    for _ in range(_MAX_SEASON_JUMPS):
        candidate = _first_step_after(anchor, unit, every, threshold, tz)
        if in_season(candidate, months, tz):
            return candidate
        # Skip the out-of-season stretch in one go: search again from the season's next start.
        threshold = _season_start_after(candidate, months, tz) - timedelta(microseconds=1)
    return None


def next_due(
    recurrence: Recurrence,
    *,
    previous_due: datetime,
    completed_at: datetime,
    tz: tzinfo,
    anchor: datetime | None = None,
) -> datetime | None:
    """When the chore falls due after the occurrence due at `previous_due` was done at `completed_at`.

    - once: None (the chore is done);
    - schedule-based interval: the first occurrence of the schedule (counted from `anchor`, default
      `previous_due`) after `previous_due` and after `completed_at` — a late completion skips the
      occurrences missed meanwhile, an early one does not pull the next one forward;
    - `rolling`: counted from `completed_at` instead;
    - `months`: occurrences outside the season are skipped (None if the schedule never reaches it).
    """
    previous_due = _utc(previous_due, "previous_due")
    completed_at = _utc(completed_at, "completed_at")
    if recurrence.kind == "once":
        return None
    assert recurrence.unit is not None  # guaranteed by Recurrence.__post_init__
    if recurrence.rolling:
        origin, threshold = completed_at, completed_at
    else:
        origin = _utc(anchor, "anchor") if anchor is not None else previous_due
        threshold = max(previous_due, completed_at)
    return _first_in_season_after(origin, recurrence.unit, recurrence.every, threshold, recurrence.months, tz)


def first_due(recurrence: Recurrence, *, start: datetime, tz: tzinfo) -> datetime | None:
    """The first due time of a chore whose schedule starts at `start` (the requested first due time).

    `start` itself when in season; otherwise the first in-season occurrence of the schedule (for a
    one-off chore: the 1st of the next in-season month, at `start`'s local time of day). None when an
    interval schedule never reaches its season.
    """
    start = _utc(start, "start")
    if in_season(start, recurrence.months, tz):
        return start
    if recurrence.kind == "once":
        season = _season_start_after(start, recurrence.months, tz).astimezone(tz)
        wall = start.astimezone(tz)
        moved = datetime.combine(season.date(), wall.time().replace(fold=0), tzinfo=tz)
        return moved.astimezone(UTC)
    assert recurrence.unit is not None
    return _first_in_season_after(start, recurrence.unit, recurrence.every, start, recurrence.months, tz)


def completed_on_time(*, due: datetime, completed_at: datetime, grace_minutes: int = 0) -> bool:
    """A completion is on time when it is done by its due time plus the chore's grace period (the same
    grace after which an occurrence counts as missed)."""
    return _utc(completed_at, "completed_at") <= _utc(due, "due") + timedelta(minutes=max(grace_minutes, 0))


# --- completion ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleState:
    """A chore's schedule as it stands before a completion: the open occurrence is due at `due`."""

    recurrence: Recurrence
    assignment: Assignment
    due: datetime
    # The schedule's origin (occurrences are anchor + k steps); None: count from `due`.
    anchor: datetime | None = None
    assignee_id: uuid.UUID | None = None
    last_completion_time: datetime | None = None


@dataclass(frozen=True)
class CompletionChange:
    """What completing the open occurrence changes on the chore."""

    # The occurrence the completion fulfilled.
    due: datetime
    # None: the chore is done (a one-off, or a season the schedule never reaches again).
    next_due: datetime | None
    # Who has the next occurrence (unchanged when the chore is done).
    assignee_id: uuid.UUID | None
    on_time: bool
    # The latest completion so far: a backdated completion never moves it backwards.
    last_completion_time: datetime

    @property
    def done(self) -> bool:
        return self.next_due is None


def complete(
    state: ScheduleState,
    *,
    completed_at: datetime,
    tz: tzinfo,
    tally: Tally = NO_TALLY,
    rng: random.Random | None = None,
) -> CompletionChange:
    """The change of completing the occurrence due at `state.due` at `completed_at` (times in `tz`); the next
    assignee is chosen by `assignment.next_assignee` from `tally` (and `rng`, for the random strategies)."""
    completed_at = _utc(completed_at, "completed_at")
    following = next_due(
        state.recurrence, previous_due=state.due, completed_at=completed_at, tz=tz, anchor=state.anchor
    )
    last = state.last_completion_time
    return CompletionChange(
        due=state.due,
        next_due=following,
        assignee_id=(
            state.assignee_id
            if following is None
            else next_assignee(state.assignment, current=state.assignee_id, at=following, tally=tally, rng=rng)
        ),
        on_time=completed_on_time(
            due=state.due, completed_at=completed_at, grace_minutes=state.assignment.grace_minutes
        ),
        last_completion_time=completed_at if last is None else max(_utc(last, "last_completion_time"), completed_at),
    )
