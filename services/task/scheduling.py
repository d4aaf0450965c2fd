"""Recurrence: when a chore falls due next (who does it: services.task.assignment). Pure functions, no I/O.

Times in and out are timezone-aware datetimes (returned in UTC). Calendar steps (days, weeks,
months, years) are taken on the wall clock of the household's time zone, so a chore due 18:00
local stays due 18:00 local across daylight-saving changes; hour steps are absolute time.

Schedule-based recurrences count from an *anchor* (the schedule's origin: the first due time, or
the time the schedule was last reset): occurrence k is `anchor + k * every * unit`. Counting from
the anchor rather than from the previous occurrence is what keeps "the 31st" the 31st: a monthly
chore anchored on 31 January is due 28 February (clamped to the month's end) and 31 March again.

Calendar kinds are rules on the wall clock, expanded with dateutil's rrule in naive local time and then
localised (a weekly 09:00 chore stays 09:00 whatever the offset does):
- weekly: `days` (mon..sun) at `time` ("HH:MM"), every `every` weeks (weeks start on Monday and are counted
  from the anchor's week);
- monthly: `day_of_month` 1..31 or -1 (last), a day beyond the month's end being its last day (the 31st is
  28/29 February, then 31 March again: each month is computed afresh, never from the previous one); or the
  `week`-th (1..4, -1 = last) `weekday` of the month; every `every` months from the anchor's month;
- yearly: `month` + `day` every `every` years; 29 February is 28 February in common years;
- rrule: an RFC 5545 RRULE (FREQ DAILY or slower, no DTSTART: the anchor starts it, so COUNT counts from
  the first due time; after its COUNT/UNTIL the chore is done).
Monthly, yearly and rrule chores are due at the anchor's local time of day (the first due time's), unless
the rule names BYHOUR/BYMINUTE; weekly ones at `time` (the anchor's when empty). The first due time of a
calendar chore is its first slot at or after the requested one.

Adaptive chores learn their interval: the next due time is the completion plus the decay-weighted mean of
the intervals between the last ADAPTIVE_HISTORY completions (the newest weighs most), ADAPTIVE_DEFAULT (a
week) until two completions give an interval.

`rolling` counts from the completion instead of the schedule (interval: completion + step; calendar kinds:
the rule restarts on the completion's day at the schedule's time of day, so "every 2 weeks" counts from the
completion's week; adaptive always is). `months` limits any kind to a season: slots outside it are skipped.

Wall-clock times that do not exist (spring forward, e.g. 02:30 on the last Sunday of March in
Europe/Berlin) resolve to the first valid instant after the gap (03:00 local); ambiguous ones (fall back)
resolve to their first occurrence (PEP 495, fold=0).

What a completion does to a chore (`complete`: its next due time, whether it is done, who has it next,
whether it was on time) is one function of the chore's schedule state and the completion; the use case
applies the `CompletionChange` it returns. Who has it next is services.task.assignment's (`next_assignee`).

No running ahead of the schedule (`is_open`, `opens_at`): a recurring chore's open occurrence may be completed
(or skipped) only once it is *open*. The first occurrence is open from the chore's creation (or from the reset of
its schedule: `chores.open_time` NULL). When an occurrence due at D ends at instant t (the server's clock, not the
client's `completed_at`, which may be backdated) and the next one is due at N:
- t <= D (early or on time): the next occurrence opens at D — the period (D, N] is its own, so completing the
  current period's occurrence early is fine, but a second completion before D is 409 `not_due_yet`;
- t > D (late): the late completion used up the period it fell in, so the next occurrence opens at N (it can be
  done once it is due, not ahead).
An occurrence that opens at O is open strictly after O. So a member completing a daily chore 30 times in a row
gets one completion (and its points) and 29 refusals (`not_due_yet`), however the first due time was chosen.

The occurrence lifecycle — what each step does (D: the open occurrence's due time, N: the next one's, t: when it
ended; the use cases are services.task.service's):

    step                | next_due_at                          | assignee          | points         | occurrence row
    --------------------|--------------------------------------|-------------------|----------------|---------------
    complete early      | N, opening at D                      | moves on (1)      | the chore's (2)| done (3)
    complete on time    | N, opening at D                      | moves on          | the chore's    | done
    complete late       | first slot after t, opening when due | moves on          | the chore's    | done
    again before open   | unchanged: 409 not_due_yet           | unchanged         | none           | none
    skip (4)            | N, opening as a completion's would   | moves on          | none           | skipped (3)
    snooze {until} (5)  | until; anchor and window unchanged   | unchanged         | none           | none (not ended)
    undo the latest (6) | back to D, with D's window           | back to D's       | taken back (2) | deleted
    undo older/changed  | unchanged: 409 conflict              | unchanged         | unchanged      | unchanged
    pending (10)        | as a completion's                    | moves on          | none yet       | done
    approve (10)        | unchanged                            | unchanged         | the chore's    | unchanged
    reject, unchanged   | back to D, with D's window           | back to D's       | none, ever     | deleted
    reject, moved on    | unchanged                            | unchanged         | none, ever     | missed
    missed (7)          | first slot after the scan, when due  | on_miss (8)       | - penalty (9)  | missed (3)

(1) the strategy's next (services.task.assignment.next_assignee), judged at the next due time; a chore rotating
    daily/weekly keeps its assignee (the turn decides: the rotation scan, services.task.jobs).
(2) the completion carries the chore's points (least_points and the points ledger count them); an undo deletes
    the completion, so they no longer count.
(3) due D, assignee who held it, completed_by (done only), recorded_by, at t, the completion's id; it keeps the
    chore's state before the step, which an undo restores.
(4) adults only; the assignee moves on as after a completion, no points; the window applies (409 not_due_yet).
(5) adults only; now < until < the occurrence after D (one-off chores: within SNOOZE_LIMIT), else 422 on until.
(6) only while the chore's version is the one the completion left (nothing completed, skipped, snoozed or edited
    since, else 409 conflict; a claim or a subtask tick, which leave the schedule alone, carry the completion's
    version along); adults undo any completion, everyone else one they did or recorded (else 403).
(7) the miss scan (services.task.jobs, TASK_MISS_SCAN_CRON, every minute): D is missed when it is still open at
    D + grace_minutes — marked once, ending at D + grace, and chore.overdue is written then (by the first scan after
    it), in the transaction that marks it. The next due time is the first slot after the scan, as for a late
    completion (a worker down for a day marks one occurrence of an hourly chore, not 24). A one-off chore keeps D
    and stays overdue (it can still be completed), marked once.
(8) keep (or unset): unchanged; advance: the strategy's next, away members skipped (chore.assigned); a chore
    rotating daily/weekly keeps its turn's assignee either way.
(9) miss_penalty_points from whoever held D (nobody: no penalty), once per occurrence (points.changed); a penalty is
    a debt, not a redemption: it may take the balance below zero.
(10) a chore with requires_approval: a child's completion is pending (an adult's is approved at once) — the
     schedule moves on as for any completion, but it earns nothing and is not yet a chore.completed. An adult
     approves it (its points are booked then; chore.completed) or rejects it (it never counts): the occurrence opens
     again as an undo would when nothing changed the chore since, else it stays ended and counts as missed. The same
     decision twice is a no-op; the other one on a reviewed completion is 409 conflict (undo an approved one).

Each row's test (in services/task/tests/test_lifecycle_rpc.py unless said otherwise):
- complete early: test_lifecycle_complete_early
- complete on time: test_lifecycle.py::test_on_time_completion_opens_the_next_occurrence_at_the_due_time
- complete late: test_lifecycle_complete_late
- again before open: test_a_second_completion_before_the_next_occurrence_opens_is_not_due_yet,
  tests/test_lifecycle_rest.py::test_thirty_completions_in_a_row_count_once
- skip: test_lifecycle_skip
- snooze: test_lifecycle_snooze, test_snooze_refuses_the_past_the_next_occurrence_and_absurd_dates
- undo the latest: test_lifecycle_undo, test_a_child_undoes_only_their_own_completions
- undo older/changed: test_only_the_latest_completion_can_be_undone
- missed (all in tests/test_task_jobs.py): test_grace_is_respected, test_keep_and_advance,
  test_advance_skips_an_away_member, test_a_penalty_is_deducted_once_and_may_leave_a_debt,
  test_a_one_off_chore_is_marked_once_and_stays_overdue, test_two_concurrent_scans_mark_each_occurrence_missed_once,
  test_a_long_outage_marks_one_occurrence_not_every_slot; a killed worker: tests/test_task_worker_kill.py
- complete, pending / approve / reject (both cases): services/task/tests/test_review.py
"""

from __future__ import annotations

import random
import uuid
from calendar import isleap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any, Literal, cast, get_args

from dateutil.rrule import MO, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr, weekday

from services.task.assignment import NO_TALLY, Tally, is_scheduled, next_assignee

# Re-exported: where callers found them before assignment had its own module.
from services.task.assignment import Assignment as Assignment
from services.task.assignment import AwayPeriod as AwayPeriod
from services.task.assignment import available as available
from services.task.assignment import initial_assignee as initial_assignee
from services.task.assignment import is_away as is_away
from services.task.assignment import without as without

Kind = Literal["once", "interval", "weekly", "monthly", "yearly", "rrule", "adaptive"]
Unit = Literal["hours", "days", "weeks", "months", "years"]

KINDS: tuple[Kind, ...] = get_args(Kind)
UNITS: tuple[Unit, ...] = get_args(Unit)
# Weekday names as API.md spells them, in dateutil's (and datetime.weekday()'s) order: mon = 0.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Kinds whose occurrences are calendar slots (a dateutil rule expanded on the wall clock).
CALENDAR_KINDS = ("weekly", "monthly", "yearly", "rrule")
# Adaptive: the interval assumed until two completions tell a real one, how fast older intervals stop
# counting (each interval weighs this much less than the next newer one), the completions it looks at,
# and the bounds of what it learns.
ADAPTIVE_DEFAULT = timedelta(days=7)
ADAPTIVE_DECAY = 0.5
ADAPTIVE_HISTORY = 10
ADAPTIVE_MIN = timedelta(hours=1)
ADAPTIVE_MAX = timedelta(days=366)
# How far ahead a calendar rule is searched for its next slot: a rule with none within it has ended.
RULE_HORIZON_YEARS = 100

# Upper bound of one step of each unit in absolute time (a step is never longer than this).
_MAX_STEP: Mapping[Unit, timedelta] = {
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
    "weeks": timedelta(weeks=1),
    "months": timedelta(days=31),
    "years": timedelta(days=366),
}
# A unit's nominal length, for an adaptive chore's first guess (an estimate, not a calendar step).
_NOMINAL_STEP: Mapping[Unit, timedelta] = {
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
    "weeks": timedelta(weeks=1),
    "months": timedelta(days=30),
    "years": timedelta(days=365),
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
    """A validated recurrence. `every`/`unit` only for kind "interval" (`every` also for weekly, monthly,
    yearly); `months` empty = all year. Weekly: `days` (mon..sun) at `time` ("HH:MM", "" = the anchor's time
    of day). Monthly: `day_of_month` (1..31, -1 = last) or `weekday` + `week` (1..4, -1 = last). Yearly:
    `month` + `day`. Rrule: the RFC 5545 `rrule` text (validated by `parse_rrule`)."""

    kind: Kind
    every: int = 1
    unit: Unit | None = None
    rolling: bool = False
    months: tuple[int, ...] = ()
    days: tuple[str, ...] = ()
    time: str = ""
    day_of_month: int = 0
    weekday: str = ""
    week: int = 0
    month: int = 0
    day: int = 0
    rrule: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown recurrence kind {self.kind!r}")
        if self.kind == "interval" and (self.unit not in UNITS or self.every < 1):
            raise ValueError("an interval needs every >= 1 and a unit")
        if self.kind == "adaptive" and self.unit is not None and (self.unit not in UNITS or self.every < 1):
            raise ValueError("an adaptive chore's first guess needs every >= 1 and a unit")
        if any(not 1 <= month <= 12 for month in self.months):
            raise ValueError("months are 1..12")
        if self.kind in CALENDAR_KINDS:
            _rule(self, datetime(2000, 1, 1))  # raises ValueError when the fields make no rule

    @property
    def adaptive_guess(self) -> timedelta:
        """An adaptive chore's interval until two completions give one: `every` `unit`s (nominal lengths: a month is
        30 days, a year 365), within ADAPTIVE_MIN..ADAPTIVE_MAX; ADAPTIVE_DEFAULT without a unit."""
        if self.unit is None:
            return ADAPTIVE_DEFAULT
        return min(max(self.every * _NOMINAL_STEP[self.unit], ADAPTIVE_MIN), ADAPTIVE_MAX)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "every": self.every,
            "unit": self.unit,
            "rolling": self.rolling,
            "months": list(self.months),
        }
        # Only the fields of the kind: the rows of once/interval chores stay what they were.
        if self.kind == "weekly":
            data |= {"days": list(self.days), "time": self.time}
        elif self.kind == "monthly":
            data |= {"day_of_month": self.day_of_month, "weekday": self.weekday, "week": self.week}
        elif self.kind == "yearly":
            data |= {"month": self.month, "day": self.day}
        elif self.kind == "rrule":
            data["rrule"] = self.rrule
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recurrence:
        unit = data.get("unit")
        return cls(
            kind=cast(Kind, data["kind"]),
            every=int(data.get("every") or 1),
            unit=cast(Unit, unit) if unit else None,
            rolling=bool(data.get("rolling", False)),
            months=tuple(int(m) for m in data.get("months") or ()),
            days=tuple(str(d) for d in data.get("days") or ()),
            time=str(data.get("time") or ""),
            day_of_month=int(data.get("day_of_month") or 0),
            weekday=str(data.get("weekday") or ""),
            week=int(data.get("week") or 0),
            month=int(data.get("month") or 0),
            day=int(data.get("day") or 0),
            rrule=str(data.get("rrule") or ""),
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


def _wall(moment: datetime, tz: tzinfo) -> datetime:
    """The naive local wall time of the instant `moment` in `tz`."""
    return moment.astimezone(tz).replace(tzinfo=None)


def _localise(wall: datetime, tz: tzinfo) -> datetime:
    """The instant of the naive local `wall` time: an ambiguous one is its first (fold=0), a non-existent one
    (in a spring-forward gap) the first valid instant after the gap (see module doc)."""
    at = wall.replace(tzinfo=tz).astimezone(UTC)
    if tz is UTC or at.astimezone(tz).replace(tzinfo=None) == wall:
        return at
    # In a gap fold=0 reads the wall time with the offset before it, fold=1 with the one after: the
    # transition lies between the two readings. Transitions fall on whole seconds; halve down to one.
    low, high = sorted((wall.replace(tzinfo=tz, fold=1).astimezone(UTC), at))
    while high - low > timedelta(seconds=1):
        middle = low + timedelta(seconds=(high - low) // timedelta(seconds=1) // 2)
        if middle.astimezone(tz).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high


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


def _month_days(day: int) -> dict[str, Any]:
    """dateutil's rule parts for "day `day` of the month, or its last day when the month is shorter" (plain
    BYMONTHDAY=31 would skip the short months: the last of the days 28..`day` that exist is the one)."""
    if day == -1 or day <= 28:
        return {"bymonthday": day}
    return {"bymonthday": tuple(range(28, day + 1)), "bysetpos": -1}


# RFC 5545 rule parts with numbers dateutil takes without complaint but that no date has: their range.
_RULE_RANGES = {"BYMONTH": (1, 12), "BYMONTHDAY": (1, 31), "BYYEARDAY": (1, 366), "BYWEEKNO": (1, 53)}
# How far a rule of each frequency is searched for its next slot (dateutil walks every period of it, even
# those no date matches: FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30 would walk to the year 9999). A rule with no slot
# within it has ended; long enough for a leap day's rule (every 4, at worst 8 years).
_RULE_HORIZON = {"DAILY": 9, "WEEKLY": 20, "MONTHLY": 60, "YEARLY": RULE_HORIZON_YEARS}
MAX_RULE_COUNT = 10_000
# Why an RRULE is refused (the texts a client sees, in the gateway's catalogue).
ONE_RULE_MESSAGE = "must be one RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO (no DTSTART or other properties)"
DTSTART_MESSAGE = "DTSTART is not part of the rule: the chore's first due time starts it"
FREQ_MESSAGE = "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY"
BYSECOND_MESSAGE = "BYSECOND is not supported (due times are to the minute)"
COUNT_UNTIL_MESSAGE = "COUNT and UNTIL exclude each other (RFC 5545)"
INVALID_RULE_MESSAGE = "is not a valid RRULE (RFC 5545)"
UNTIL_MESSAGE = "UNTIL must be a date (YYYYMMDD) or date-time (YYYYMMDDTHHMMSS, or ...Z in UTC)"
MAX_RULE_INTERVAL = 50


def _part_message(part: str) -> str:
    return f"{part!r} is not NAME=VALUE"


def _twice_message(name: str) -> str:
    return f"{name} is given twice"


def _range_message(name: str, low: int, high: int) -> str:
    return f"{name} must be {low} to {high}"


@dataclass(frozen=True)
class Rule:
    """A calendar recurrence's dateutil rule (naive wall time), with the RFC 5545 COUNT kept apart: the rule
    itself is searched to a horizon (`until`), and the slot's index counted against `count`."""

    rule: rrule
    count: int | None = None
    # An RFC 5545 rule's FREQ and INTERVAL (a weekly/monthly/yearly kind's rule: searched like YEARLY).
    freq: str = "YEARLY"
    until: datetime | None = None
    interval: int = 1


def parse_rrule(text: str, dtstart: datetime, tz: tzinfo = UTC) -> Rule:
    """The RFC 5545 RRULE `text` ("FREQ=...;...", optionally "RRULE:"-prefixed) as a rule from the naive wall
    time `dtstart` in `tz` (an UNTIL in UTC, "...Z", is read on `tz`'s wall clock; one without Z is wall time).
    ValueError, with the reason, for what Hearth refuses: DTSTART and other properties inside it (the chore's
    first due time starts it), frequencies below DAILY (a chore is not done hourly by rule: bounded work),
    BYSECOND (times are to the minute), COUNT with UNTIL, and out-of-range numbers."""
    body = text.strip()
    if body[:6].upper() == "RRULE:":
        body = body[6:]
    if not body or any(c in body for c in "\r\n:"):
        raise ValueError(ONE_RULE_MESSAGE)
    parts: dict[str, str] = {}
    for part in body.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip().upper()
        if not sep or not name or not value.strip():
            raise ValueError(_part_message(part))
        if name in parts:
            raise ValueError(_twice_message(name))
        parts[name] = value.strip().upper()
    if "DTSTART" in parts:
        raise ValueError(DTSTART_MESSAGE)
    freq = parts.get("FREQ", "")
    if freq not in _RULE_HORIZON:
        raise ValueError(FREQ_MESSAGE)
    if "BYSECOND" in parts:
        raise ValueError(BYSECOND_MESSAGE)
    if "COUNT" in parts and "UNTIL" in parts:
        raise ValueError(COUNT_UNTIL_MESSAGE)
    for name, high in (("COUNT", MAX_RULE_COUNT), ("INTERVAL", MAX_RULE_INTERVAL)):
        if name in parts and not (parts[name].isdigit() and 1 <= int(parts[name]) <= high):
            raise ValueError(_range_message(name, 1, high))
    for name, (low, high) in _RULE_RANGES.items():
        for value in parts.get(name, "").split(",") if name in parts else ():
            number = value.removeprefix("+").removeprefix("-")
            if not number.isdigit() or not low <= int(number) <= high or (name == "BYMONTH" and value != number):
                raise ValueError(_range_message(name, low, high))
    until = _until(parts.pop("UNTIL"), tz) if "UNTIL" in parts else None
    count = int(parts.pop("COUNT")) if "COUNT" in parts else None
    try:
        rule = rrulestr(";".join(f"{k}={v}" for k, v in parts.items()), dtstart=dtstart)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as error:
        raise ValueError(INVALID_RULE_MESSAGE) from error
    if not isinstance(rule, rrule):
        raise ValueError(ONE_RULE_MESSAGE)
    return Rule(rule, count, freq, until, int(parts.get("INTERVAL", "1")))


def _until(value: str, tz: tzinfo) -> datetime:
    """An RRULE's UNTIL as naive wall time: a date includes its whole day (a chore due at 09:00 "until 1 March"
    is due on 1 March), "...Z" is UTC (RFC 5545's form when the start has a zone) seen on `tz`'s wall clock, a
    bare date-time is wall time already."""
    try:
        if len(value) == 8:
            return datetime.strptime(value, "%Y%m%d").replace(hour=23, minute=59, second=59)
        if value.endswith("Z"):
            moment = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            return moment.astimezone(tz).replace(tzinfo=None)
        return datetime.strptime(value, "%Y%m%dT%H%M%S")
    except ValueError:
        raise ValueError(UNTIL_MESSAGE) from None


def _rule(recurrence: Recurrence, dtstart: datetime, tz: tzinfo = UTC) -> Rule:
    """The rule of a calendar recurrence, in naive wall time from `dtstart` (its phase for `every`, and the time
    of day when the recurrence names none)."""
    if recurrence.kind == "rrule":
        return parse_rrule(recurrence.rrule, dtstart, tz)
    parts: dict[str, Any] = {"dtstart": dtstart, "interval": recurrence.every, "wkst": MO}
    if recurrence.kind == "weekly":
        if not recurrence.days:
            raise ValueError("a weekly recurrence needs days")
        parts["byweekday"] = tuple(WEEKDAYS.index(day) for day in recurrence.days)
        if recurrence.time:
            hour, minute = recurrence.time.split(":")
            parts |= {"byhour": int(hour), "byminute": int(minute), "bysecond": 0}
        return Rule(rrule(WEEKLY, **parts))
    if recurrence.kind == "monthly":
        if recurrence.weekday:
            if recurrence.week not in (1, 2, 3, 4, -1):
                raise ValueError("week is 1..4 or -1")
            parts["byweekday"] = weekday(WEEKDAYS.index(recurrence.weekday), recurrence.week)
        elif recurrence.day_of_month == -1 or 1 <= recurrence.day_of_month <= 31:
            parts |= _month_days(recurrence.day_of_month)
        else:
            raise ValueError("day_of_month is 1..31 or -1")
        return Rule(rrule(MONTHLY, **parts))
    if not 1 <= recurrence.month <= 12 or not 1 <= recurrence.day <= _DAYS_IN_MONTH[recurrence.month] + (
        recurrence.month == 2
    ):
        raise ValueError("a yearly recurrence needs a month 1..12 and a day of it")
    return Rule(rrule(YEARLY, bymonth=recurrence.month, **parts, **_month_days(recurrence.day)))


def _fast_forward(recurrence: Recurrence, wall: datetime, target: datetime) -> datetime:
    """A later rule start than `wall` with the same phase (whole `every` periods on) that is still well before
    the wall time `target`: dateutil walks every occurrence from the start, so a years-old anchor would cost
    hundreds of steps. An RFC 5545 rule (COUNT counts from its start) always starts at `wall`."""
    if recurrence.kind == "rrule" or target - wall < timedelta(days=62):
        return wall
    if recurrence.kind == "weekly":
        monday = wall - timedelta(days=wall.weekday())
        period = timedelta(weeks=recurrence.every)
        return monday + period * ((target - monday - _OFFSET_SLACK) // period)
    step = recurrence.every * (12 if recurrence.kind == "yearly" else 1)
    months = (target.year - wall.year) * 12 + target.month - wall.month - 1
    return _plus_months(wall.replace(day=1), step * (months // step))


def _years_on(wall: datetime, years: int) -> datetime:
    return wall.replace(year=wall.year + years)


def _first_slot(
    recurrence: Recurrence, wall: datetime, threshold: datetime, tz: tzinfo, *, inclusive: bool = False
) -> datetime | None:
    """The first slot of a calendar recurrence whose rule starts at the naive local time `wall` that is after
    `threshold` (or at it, `inclusive`) and in season; None when the rule has ended (COUNT, UNTIL) or has none
    within its horizon.

    dateutil checks UNTIL only against the slots it finds: a rule no date matches (FREQ=DAILY;BYMONTH=4;
    BYMONTHDAY=31) runs on to the year 9999, seconds of work. So the search runs on a copy moved a multiple of
    400 years on (the Gregorian calendar repeats exactly: same weekdays, leap days, week numbers) to just before
    9999, where that end comes after at most 400 more years, and its slots are moved back."""
    target = threshold.astimezone(tz).replace(tzinfo=None)
    dtstart = _fast_forward(recurrence, wall, target)
    found = _rule(recurrence, dtstart, tz)
    if found.count is None and found.freq in ("DAILY", "WEEKLY"):
        # An RFC 5545 rule walks a day (or week) per step from its start: a daily one ten years old is 3650 steps.
        # Without COUNT, starting whole INTERVAL periods later gives the same slots (the same weekdays, times of
        # day and period boundaries; what the rule leaves implicit dateutil reads from the start again).
        period = timedelta(days=found.interval * (7 if found.freq == "WEEKLY" else 1))
        if target - dtstart > 2 * period + _OFFSET_SLACK:
            dtstart += period * ((target - dtstart - _OFFSET_SLACK) // period)
    horizon = target.replace(year=min(target.year + _RULE_HORIZON[found.freq], 9999), day=min(target.day, 28))
    until = horizon if found.until is None else min(found.until, horizon)
    moved = 400 * ((9999 - horizon.year) // 400)
    rule = found.rule.replace(dtstart=_years_on(dtstart, moved), until=_years_on(until, moved))
    # Slots are localised in wall-clock order, so the answer is never before the threshold's wall time less
    # the largest offset change. A COUNT is counted from the rule's start, so that rule is walked from there.
    if found.count is None:
        start = _years_on(max(wall, target - _OFFSET_SLACK), moved)
        slots: Iterable[datetime] = rule.xafter(start, inc=True)
    else:
        slots = (slot for _, slot in zip(range(found.count), rule, strict=False))
    for slot in slots:
        at = _localise(_years_on(slot, -moved), tz)
        if (at > threshold or (inclusive and at == threshold)) and in_season(at, recurrence.months, tz):
            return at
    return None


def adaptive_interval(completions: Iterable[datetime], *, default: timedelta = ADAPTIVE_DEFAULT) -> timedelta:
    """The interval an adaptive chore expects next: the decay-weighted mean of the intervals between the last
    `ADAPTIVE_HISTORY` completions (the newest weighs 1, each older one ADAPTIVE_DECAY times the next),
    bounded to [ADAPTIVE_MIN, ADAPTIVE_MAX]; `default` until there are two completions to measure."""
    times = sorted({_utc(t, "completion") for t in completions})[-ADAPTIVE_HISTORY:]
    total = weights = 0.0
    weight = 1.0
    for earlier, later in reversed(list(pairwise(times))):
        total += (later - earlier).total_seconds() * weight
        weights += weight
        weight *= ADAPTIVE_DECAY
    if not weights:
        return default
    return min(max(timedelta(seconds=round(total / weights)), ADAPTIVE_MIN), ADAPTIVE_MAX)


def _in_season_from(when: datetime, months: tuple[int, ...], tz: tzinfo) -> datetime:
    """`when` if in season, else the start (local midnight of the 1st) of the next in-season month."""
    return when if in_season(when, months, tz) else _season_start_after(when, months, tz)


def next_due(
    recurrence: Recurrence,
    *,
    previous_due: datetime,
    completed_at: datetime,
    tz: tzinfo,
    anchor: datetime | None = None,
    history: Iterable[datetime] = (),
) -> datetime | None:
    """When the chore falls due after the occurrence due at `previous_due` was done at `completed_at`.

    - once: None (the chore is done);
    - schedule-based interval: the first occurrence of the schedule (counted from `anchor`, default
      `previous_due`) after `previous_due` and after `completed_at` — a late completion skips the
      occurrences missed meanwhile, an early one does not pull the next one forward;
    - weekly, monthly, yearly, rrule: the first slot of the rule (started at `anchor`) after `previous_due`
      and after `completed_at`, the same way; None when an RFC 5545 rule has run out (COUNT, UNTIL);
    - adaptive: `completed_at` plus `adaptive_interval` of `history` (the chore's earlier completion times)
      and this completion;
    - `rolling`: counted from `completed_at` instead (a calendar rule restarts there: `every` counts from
      the completion's week, month or year; never the occurrence just done);
    - `months`: occurrences outside the season are skipped (None if the schedule never reaches it).
    """
    previous_due = _utc(previous_due, "previous_due")
    completed_at = _utc(completed_at, "completed_at")
    if recurrence.kind == "once":
        return None
    if recurrence.kind == "adaptive":
        step = adaptive_interval([*history, completed_at], default=recurrence.adaptive_guess)
        return _in_season_from(completed_at + step, recurrence.months, tz)
    if recurrence.kind in CALENDAR_KINDS:
        origin = _wall(_utc(anchor, "anchor") if anchor is not None else previous_due, tz)
        threshold = max(previous_due, completed_at)
        if not recurrence.rolling:
            return _first_slot(recurrence, origin, threshold, tz)
        # The rule restarts on the completion's day, at the schedule's time of day. Restarted there, "every 3
        # months" may never meet a season (August, November, ... for June): then it restarts when the season does.
        restarted = datetime.combine(_wall(completed_at, tz).date(), origin.time())
        due = _first_slot(recurrence, restarted, threshold, tz)
        if due is None and recurrence.months:
            season = _wall(_season_start_after(completed_at, recurrence.months, tz), tz)
            due = _first_slot(recurrence, datetime.combine(season.date(), origin.time()), threshold, tz)
        return due
    assert recurrence.unit is not None  # guaranteed by Recurrence.__post_init__
    if recurrence.rolling:
        origin, threshold = completed_at, completed_at
    else:
        origin = _utc(anchor, "anchor") if anchor is not None else previous_due
        threshold = max(previous_due, completed_at)
    return _first_in_season_after(origin, recurrence.unit, recurrence.every, threshold, recurrence.months, tz)


def first_due(recurrence: Recurrence, *, start: datetime, tz: tzinfo) -> datetime | None:
    """The first due time of a chore whose schedule starts at `start` (the requested first due time).

    A calendar kind (weekly, monthly, yearly, rrule): its first in-season slot at or after `start`. Otherwise
    `start` itself when in season; else the first in-season occurrence of the schedule (for a one-off or
    adaptive chore: the 1st of the next in-season month, at `start`'s local time of day). None when the
    schedule never reaches its season.
    """
    start = _utc(start, "start")
    if recurrence.kind in CALENDAR_KINDS:
        return _first_slot(recurrence, _wall(start, tz), start, tz, inclusive=True)
    if in_season(start, recurrence.months, tz):
        return start
    if recurrence.kind in ("once", "adaptive"):
        season = _season_start_after(start, recurrence.months, tz).astimezone(tz)
        wall = start.astimezone(tz)
        return _localise(datetime.combine(season.date(), wall.time().replace(fold=0)), tz)
    assert recurrence.unit is not None
    return _first_in_season_after(start, recurrence.unit, recurrence.every, start, recurrence.months, tz)


def completed_on_time(*, due: datetime, completed_at: datetime, grace_minutes: int = 0) -> bool:
    """A completion is on time when it is done by its due time plus the chore's grace period (the same
    grace after which an occurrence counts as missed)."""
    return _utc(completed_at, "completed_at") <= _utc(due, "due") + timedelta(minutes=max(grace_minutes, 0))


# --- completion ------------------------------------------------------------------------------------


# How far a one-off chore (which has no next occurrence to bound it) may be snoozed.
SNOOZE_LIMIT = timedelta(days=365)


def following_due(state: ScheduleState, *, tz: tzinfo) -> datetime | None:
    """When the occurrence after the open one would be due were the open one done on time (None: there is none):
    how far a snooze may move the open one (strictly before it)."""
    return next_due(
        state.recurrence,
        previous_due=state.due,
        completed_at=state.due,
        tz=tz,
        anchor=state.anchor,
        history=state.history,
    )


def is_open(open_time: datetime | None, now: datetime) -> bool:
    """Whether the chore's open occurrence may be ended (completed, skipped) at `now`: open strictly after the
    instant it opened (None: open since the chore or its schedule began)."""
    return open_time is None or _utc(now, "now") > _utc(open_time, "open_time")


def opens_at(*, due: datetime, next_due: datetime | None, ended_at: datetime) -> datetime | None:
    """When the next occurrence (due at `next_due`; None: there is none) opens, once the occurrence due at `due`
    ended at `ended_at` (the server's clock): at `due` when it ended early or on time, at `next_due` when late."""
    if next_due is None:
        return None
    return due if _utc(ended_at, "ended_at") <= _utc(due, "due") else next_due


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
    # Earlier completion times of the chore (the newest ADAPTIVE_HISTORY suffice): what an adaptive one learns from.
    history: tuple[datetime, ...] = ()


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
        state.recurrence,
        previous_due=state.due,
        completed_at=completed_at,
        tz=tz,
        anchor=state.anchor,
        history=state.history,
    )
    last = state.last_completion_time
    return CompletionChange(
        due=state.due,
        next_due=following,
        # A chore rotating on the clock keeps its assignee until the rotation scan passes the turn on.
        assignee_id=(
            state.assignee_id
            if following is None or is_scheduled(state.assignment)
            else next_assignee(state.assignment, current=state.assignee_id, at=following, tally=tally, rng=rng)
        ),
        on_time=completed_on_time(
            due=state.due, completed_at=completed_at, grace_minutes=state.assignment.grace_minutes
        ),
        last_completion_time=completed_at if last is None else max(_utc(last, "last_completion_time"), completed_at),
    )
