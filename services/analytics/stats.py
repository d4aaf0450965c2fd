"""Household statistics as pure functions (no I/O): tallies, misses and active days in, numbers out.

Definitions (what `GetHouseholdStats` answers):

- **window**: `[start, end)`; `end` defaults to now, `start` to 30 days before `end`.
- **completions / points** of a member: their completions in the window and the points those earned.
- **on_time_rate**: completions done by their due time / completions; 0 when there are none.
- **streaks**: runs of consecutive calendar days, in the household's time zone, with at least one
  completion. They look at the member's whole history, not only the window: `current_streak` is the run
  ending today — or yesterday, so a streak does not break at midnight before today's chores are done —
  and `best_streak` the longest run ever. Days after today (clock skew) are ignored.
- **share**: the member's estimated minutes / the household's estimated minutes in the window; when no
  completion in the window carries an estimate, every completion counts the same (completions /
  household completions). 0 when the household did nothing.
- **household completions**: every completion in the window, including those of people who have left
  since (so members' shares may sum to less than 1).
- **missed** of a member: the occurrences they held that were missed (chore.overdue: still open at due time +
  grace; or completion.rejected of a chore that had moved on, whose occurrence then counts as missed) and are due
  in the window. An occurrence of a one-off chore stays overdue with its due time; once it
  is completed late after all it is a (late) completion, no longer a miss.
- **overdue**: the household's missed occurrences due in the window, including those nobody held and those of
  people who have left since.
- **completion_rate**: household completions / (household completions + overdue) in the window; 0 when there
  are neither. Skipped occurrences count in neither: a skip is an adult's decision, not a failure.
- **fairness**: 1 - the Gini coefficient of the current members' shares, normalised by n/(n-1) so that it
  spans [0, 1] for any household size: 1.0 when every share is equal, 0.0 when one member did everything
  (the plain Gini would give 1/n there). 1.0 for a household of one and for a household that did nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Shown to the caller (the use case raises it as the detail of its InvalidArgument).
INVERTED_WINDOW_MESSAGE = "start_time must not be after end_time"
DEFAULT_WINDOW = timedelta(days=30)
UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class Tally:
    """What one member (or the whole household) did in the window."""

    completions: int = 0
    on_time: int = 0
    points: int = 0
    minutes: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.completions + other.completions,
            self.on_time + other.on_time,
            self.points + other.points,
            self.minutes + other.minutes,
        )


@dataclass(frozen=True)
class MemberStats:
    user_id: str
    completions: int
    points: int
    on_time_rate: float
    current_streak: int
    best_streak: int
    share: float
    missed: int = 0


@dataclass(frozen=True)
class HouseholdTotals:
    completions: int
    completion_rate: float
    overdue: int
    fairness: float


@dataclass(frozen=True)
class HouseholdStats:
    members: list[MemberStats]
    household: HouseholdTotals


def window(
    start: datetime | None, end: datetime | None, *, now: datetime, default: timedelta = DEFAULT_WINDOW
) -> tuple[datetime, datetime]:
    """The `[start, end)` a request asks for, with the defaults filled in. ValueError when start > end."""
    end = end if end is not None else now
    start = start if start is not None else end - default
    if start > end:
        raise ValueError(INVERTED_WINDOW_MESSAGE)
    return start, end


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; UTC when it is empty or unknown (stats must not fail on a bad zone)."""
    if not name:
        return UTC_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar day `instant` (timezone-aware) falls on in `tz`."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(tz).date()


def rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def streaks(days: Iterable[date], today: date) -> tuple[int, int]:
    """(current, best) runs of consecutive days; the current run ends today or yesterday."""
    ordered = sorted({d for d in days if d <= today})
    best = run = 0
    previous: date | None = None
    for day in ordered:
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        best = max(best, run)
        previous = day
    current = run if previous is not None and today - previous <= timedelta(days=1) else 0
    return current, best


def shares(tallies: Mapping[str, Tally], household: Tally) -> dict[str, float]:
    """Each member's part of the household's work: by estimated minutes, else by completions."""
    if household.minutes > 0:
        return {user: rate(t.minutes, household.minutes) for user, t in tallies.items()}
    return {user: rate(t.completions, household.completions) for user, t in tallies.items()}


def gini(values: Sequence[float]) -> float:
    """The plain Gini coefficient (mean absolute difference / twice the mean); 0 for no or all-zero values."""
    n, total = len(values), sum(values)
    if n == 0 or total <= 0:
        return 0.0
    ordered = sorted(values)
    # Σ_i Σ_j |x_i - x_j| = 2 Σ_i (2i - n + 1) x_(i), with x sorted ascending and i from 0.
    weighted = sum((2 * i - n + 1) * x for i, x in enumerate(ordered))
    return weighted / (n * total)


def fairness(values: Sequence[float]) -> float:
    """1 - the Gini coefficient normalised to [0, 1] (* n/(n-1)); 1.0 for fewer than two members or no work."""
    n = len(values)
    if n < 2 or sum(values) <= 0:
        return 1.0
    return min(1.0, max(0.0, 1.0 - gini(values) * n / (n - 1)))


def household_stats(
    members: Sequence[str],
    tallies: Mapping[str, Tally],
    days: Mapping[str, Collection[date]],
    *,
    today: date,
    missed: Mapping[str | None, int] | None = None,
) -> HouseholdStats:
    """Stats of the current `members` (in that order, with zeros for the idle ones).

    `tallies` covers everyone with completions in the window (former members too: they count in the
    household's totals); `days` holds each member's days with a completion, over their whole history;
    `missed` the window's missed occurrences per person who held them (None: nobody), former members too.
    """
    missed = missed or {}
    household = sum(tallies.values(), Tally())
    overdue = sum(missed.values())
    part = shares(tallies, household)
    result = []
    for user in members:
        tally = tallies.get(user, Tally())
        current, best = streaks(days.get(user, ()), today)
        result.append(
            MemberStats(
                user_id=user,
                completions=tally.completions,
                points=tally.points,
                on_time_rate=rate(tally.on_time, tally.completions),
                current_streak=current,
                best_streak=best,
                share=part.get(user, 0.0),
                missed=missed.get(user, 0),
            )
        )
    totals = HouseholdTotals(
        completions=household.completions,
        completion_rate=rate(household.completions, household.completions + overdue),
        overdue=overdue,
        fairness=fairness([m.share for m in result]),
    )
    return HouseholdStats(result, totals)
