"""Assignment: who has a chore's open occurrence. Pure functions, no I/O, no clock, no global randomness.

The strategies (`Assignment.strategy`), each choosing among `assignees` (the rotation order):

- `fixed`: always `assignees[0]`, away or not (nobody else is named to stand in);
- `unassigned`: nobody; anyone may claim or complete it;
- `round_robin`: the next in list order after the current assignee, wrapping around. It never restarts from
  the first: an edit of the chore keeps the current assignee while they are still listed, and when they left
  the list the next is whoever followed them in the old list (`reassigned`); with nobody assigned (everyone
  was away) it continues after the one who did the last completion (`Tally.last`);
- `least_completed`: fewest completions of this chore in the last `WINDOW` (30 days);
- `least_assigned`: fewest occurrences of this chore held (completions of it while assigned to them) in the
  window;
- `least_points`: fewest points earned in the whole household in the window (points are what make chores of
  different weight comparable; per chore it would be least_completed again);
  ties of the three `least_*` go to the earlier in list order — never to chance or to the name;
- `random`: a uniform pick; `random_except_last`: the same, never the one who had the occurrence just done
  (the current assignee, else the last completer) while someone else may have it. Both draw from the
  `random.Random` passed in, so tests seed it.

Away members (`AwayPeriod`, from the user service's member.away_set) are skipped by every automatic strategy
(all but fixed and unassigned), judged at the instant of the occurrence being assigned (its due time). When
everyone listed is away the current assignee keeps it if still listed, else nobody has it (unassigned: it can
be claimed) — a chore is not handed to someone who is away, nor to someone not listed.

`rotate` on_completion is what the use case applies: the next assignee is chosen when an occurrence is
completed. `rotate` daily/weekly (round_robin only) decouples the assignee from completions: a completion or a
skip leaves the assignee as it is (scheduling.complete), and `rotation_at` says who has the chore at an instant
(the turn changes at local midnight, or Monday's: `turn_start`, `next_turn`); the rotation scan
(services.task.jobs) moves the assignee at each turn.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, Literal, cast, get_args

Strategy = Literal[
    "fixed",
    "unassigned",
    "round_robin",
    "least_completed",
    "least_assigned",
    "least_points",
    "random",
    "random_except_last",
]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
Rotate = Literal["daily", "weekly"]
# `Assignment.rotate` values whose turns follow the clock, not completions.
SCHEDULED: tuple[Rotate, ...] = get_args(Rotate)
# Strategies that pick among the assignees by themselves (and so skip the away).
AUTOMATIC: frozenset[Strategy] = frozenset(STRATEGIES) - {"fixed", "unassigned"}
# Strategies choosing by what happened in the last WINDOW (services.task.repository.Tallies gathers it).
COUNTING: frozenset[Strategy] = frozenset({"least_completed", "least_assigned", "least_points"})
WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Assignment:
    """A validated assignment. The rotation settings are kept as given (they round-trip to clients)."""

    strategy: Strategy
    assignees: tuple[uuid.UUID, ...] = ()
    rotate: str = ""
    on_miss: str = ""
    grace_minutes: int = 0
    miss_penalty_points: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "assignees": [str(a) for a in self.assignees],
            "rotate": self.rotate,
            "on_miss": self.on_miss,
            "grace_minutes": self.grace_minutes,
            "miss_penalty_points": self.miss_penalty_points,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Assignment:
        return cls(
            strategy=cast(Strategy, data["strategy"]),
            assignees=tuple(uuid.UUID(a) for a in data.get("assignees") or ()),
            rotate=str(data.get("rotate") or ""),
            on_miss=str(data.get("on_miss") or ""),
            grace_minutes=int(data.get("grace_minutes") or 0),
            miss_penalty_points=int(data.get("miss_penalty_points") or 0),
        )


# --- away members ----------------------------------------------------------------------------------


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class AwayPeriod:
    """A member is away in [start, end) (the user service's member.away_set): assignment skips them meanwhile.
    `start` None: away since ever; `end` None: away until the period is cleared. An empty or inverted period
    (end <= start) covers no instant."""

    start: datetime | None = None
    end: datetime | None = None

    def covers(self, at: datetime) -> bool:
        at = _utc(at, "at")
        if self.start is not None and at < _utc(self.start, "start"):
            return False
        return self.end is None or at < _utc(self.end, "end")


def is_away(away: Mapping[uuid.UUID, AwayPeriod], member: uuid.UUID, at: datetime) -> bool:
    """Whether `member` is away at the instant `at`, by the household's away periods (`away`: one per member)."""
    period = away.get(member)
    return period is not None and period.covers(at)


def available(
    candidates: Iterable[uuid.UUID], away: Mapping[uuid.UUID, AwayPeriod], at: datetime
) -> tuple[uuid.UUID, ...]:
    """`candidates` (in their order) who are not away at `at`: whom an automatic strategy may pick."""
    return tuple(member for member in candidates if not is_away(away, member, at))


# --- choosing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """What the strategies choose by besides the assignment itself, gathered by the use case (bounded queries:
    services.task.repository.Tallies). Counts cover the last WINDOW; a member missing from a count has 0."""

    away: Mapping[uuid.UUID, AwayPeriod] = field(default_factory=dict)
    completed: Mapping[uuid.UUID, int] = field(default_factory=dict)
    assigned: Mapping[uuid.UUID, int] = field(default_factory=dict)
    points: Mapping[uuid.UUID, int] = field(default_factory=dict)
    # Who did the chore's latest completion: where round robin continues when nobody has it now.
    last: uuid.UUID | None = None


NO_TALLY = Tally()


def _after(order: Sequence[uuid.UUID], member: uuid.UUID, pool: Sequence[uuid.UUID]) -> uuid.UUID | None:
    """The first of `pool` following `member` in `order` (cyclically, `member` itself last); None when
    `member` is not in `order`."""
    if member not in order:
        return None
    start = order.index(member) + 1
    for candidate in (*order[start:], *order[:start]):
        if candidate in pool:
            return candidate
    return None


def _pool(assignees: tuple[uuid.UUID, ...], tally: Tally, at: datetime | None) -> tuple[uuid.UUID, ...]:
    """Whom an automatic strategy may pick for the occurrence due at `at` (None: nobody is judged away)."""
    return available(assignees, tally.away, at) if at is not None else assignees


def _count(assignment: Assignment, tally: Tally) -> Mapping[uuid.UUID, int]:
    if assignment.strategy == "least_completed":
        return tally.completed
    if assignment.strategy == "least_assigned":
        return tally.assigned
    return tally.points


def next_assignee(
    assignment: Assignment,
    *,
    current: uuid.UUID | None,
    at: datetime | None = None,
    tally: Tally = NO_TALLY,
    rng: random.Random | None = None,
) -> uuid.UUID | None:
    """Who has the occurrence due at `at` after the one `current` had (None: nobody had one, e.g. a new chore).
    `at` None: nobody is judged away. `rng` is needed by the random strategies."""
    assignees = assignment.assignees
    if assignment.strategy == "unassigned" or not assignees:
        return None
    if assignment.strategy == "fixed":
        return assignees[0]
    pool = _pool(assignees, tally, at)
    if not pool:  # everyone is away: see the module docstring
        return current if current in assignees else None
    strategy = assignment.strategy
    if strategy == "round_robin":
        previous = current if current in assignees else tally.last
        return (_after(assignees, previous, pool) if previous is not None else None) or pool[0]
    if strategy in COUNTING:
        counts = _count(assignment, tally)
        return min(pool, key=lambda member: counts.get(member, 0))  # min keeps the first of equals: list order
    if rng is None:
        raise ValueError(f"strategy {strategy!r} needs a random.Random")
    if strategy == "random_except_last":
        previous = current if current is not None else tally.last
        pool = tuple(member for member in pool if member != previous) or pool
    return rng.choice(pool)


def initial_assignee(
    assignment: Assignment,
    *,
    at: datetime | None = None,
    tally: Tally = NO_TALLY,
    rng: random.Random | None = None,
) -> uuid.UUID | None:
    """Who a new chore (its first occurrence, due at `at`) is assigned to: fixed → the first assignee;
    unassigned → nobody; round robin → the first not away; the others as after a completion."""
    return next_assignee(assignment, current=None, at=at, tally=replace(tally, last=None), rng=rng)


def reassigned(
    before: Assignment,
    after: Assignment,
    *,
    current: uuid.UUID | None,
    at: datetime | None = None,
    tally: Tally = NO_TALLY,
    rng: random.Random | None = None,
) -> uuid.UUID | None:
    """Who has the open occurrence (due at `at`) once the assignment `before` is replaced by `after`.

    An automatic strategy keeps the current assignee while they are listed and not away — an edit is not a
    completion, and must not restart a rotation. Otherwise round robin passes it to whoever followed the current
    assignee in `before`'s order (the next still listed and not away), and the others choose afresh."""
    if after.strategy not in AUTOMATIC:
        return initial_assignee(after)
    pool = _pool(after.assignees, tally, at)
    if current is not None and current in pool:
        return current
    if not pool:
        return current if current in after.assignees else None
    if after.strategy == "round_robin" and current is not None:
        if current in after.assignees:
            return _after(after.assignees, current, pool)
        successor = _after(before.assignees, current, pool)
        if successor is not None:
            return successor
    return next_assignee(after, current=current, at=at, tally=tally, rng=rng)


def rotation_at(
    assignees: Sequence[uuid.UUID],
    rotate: Rotate,
    *,
    start: datetime,
    first: uuid.UUID,
    at: datetime,
    tz: tzinfo,
    away: Mapping[uuid.UUID, AwayPeriod] | None = None,
) -> uuid.UUID | None:
    """Who has a chore rotating `rotate` at the instant `at`, when `first` had the turn that contains `start`.

    Turns are local days (weekly: weeks from Monday) in the household's zone `tz`, so a DST change never moves a
    turn; each turn passes to the next in `assignees` order (wrapping round), whatever was completed. A member
    away at `at` is skipped for the next not away (list order); None when everyone is, or `first` is not listed.
    Instants before `start` count backwards the same way."""
    if first not in assignees:
        return None
    start_day, day = start.astimezone(tz).date(), at.astimezone(tz).date()
    if rotate == "daily":
        turns = (day - start_day).days
    else:  # weeks counted from the Monday of each instant's week
        turns = ((day - timedelta(days=day.weekday())) - (start_day - timedelta(days=start_day.weekday()))).days // 7
    order = tuple(assignees)
    nominal = order[(order.index(first) + turns) % len(order)]
    pool = available(order, away or {}, at)
    start_index = order.index(nominal)
    return next((member for member in (*order[start_index:], *order[:start_index]) if member in pool), None)


def turn_start(rotate: Rotate, at: datetime, tz: tzinfo) -> datetime:
    """The instant (UTC) the turn containing `at` began: local midnight of its day (weekly: of its week's Monday)
    in `tz`. A midnight that does not exist (a zone that springs forward at 24:00) is the instant after the gap."""
    day = at.astimezone(tz).date()
    if rotate == "weekly":
        day -= timedelta(days=day.weekday())
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def next_turn(rotate: Rotate, at: datetime, tz: tzinfo) -> datetime:
    """The instant (UTC) the turn after the one containing `at` begins: a local day (or week) later, so 23 or 25
    hours after a DST change, never a fixed 24."""
    start = turn_start(rotate, at, tz).astimezone(tz).date()
    following = start + timedelta(days=1 if rotate == "daily" else 7)
    return datetime.combine(following, time(0), tzinfo=tz).astimezone(UTC)


def is_scheduled(assignment: Assignment) -> bool:
    """Whether the chore rotates on the clock (daily/weekly): completions then leave the assignee be."""
    return assignment.rotate in SCHEDULED


def without(assignment: Assignment, member: uuid.UUID) -> Assignment:
    """`assignment` with `member` no longer in it (their account is gone): the others keep their order; a fixed
    assignment left with nobody becomes unassigned (a fixed one needs an assignee)."""
    if member not in assignment.assignees:
        return assignment
    rest = tuple(a for a in assignment.assignees if a != member)
    strategy: Strategy = "unassigned" if assignment.strategy == "fixed" and not rest else assignment.strategy
    return replace(assignment, strategy=strategy, assignees=rest)
