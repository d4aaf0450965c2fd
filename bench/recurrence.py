"""`python -m bench.recurrence [--seconds S] [--profile]`: how many next-due computations one core makes per second.

It times `services.task.scheduling.complete` — what CompleteChore calls to learn a chore's next due time
(and who has it next, whether it was on time) — over a fixed mix of schedules: one-offs; interval hours,
days, weeks, months and years; rolling ones; seasons (`months`); completions early, on time and late
(skipping missed occurrences); in several time zones, with occurrences either side of daylight-saving
changes. The cases are built once, then called round-robin in one thread until the time is up.

`measure()` is what `make bench` calls; `--profile` prints a cProfile summary of the same loop instead.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from services.task.scheduling import Assignment, Recurrence, ScheduleState, Unit, complete

GOAL_PER_SECOND = 50_000
CASES = 4096  # distinct (schedule, completion) pairs, called round-robin
SEED = 13

# Zones with northern and southern DST, a half-hour offset without DST, a 45-minute offset with DST, and UTC.
ZONES: tuple[str, ...] = (
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "UTC",
)
# Local wall times just before the 2026 DST changes of the zones above that have one: a schedule stepping from
# here crosses the change.
DST_EDGES: dict[str, tuple[datetime, ...]] = {
    "Europe/Berlin": (datetime(2026, 3, 28, 2, 30), datetime(2026, 10, 24, 2, 30)),
    "America/New_York": (datetime(2026, 3, 7, 2, 30), datetime(2026, 10, 31, 1, 30)),
    "Australia/Sydney": (datetime(2026, 4, 4, 2, 30), datetime(2026, 10, 3, 2, 30)),
    "Pacific/Chatham": (datetime(2026, 4, 4, 3, 15), datetime(2026, 9, 26, 2, 15)),
}


@dataclass(frozen=True)
class Kind:
    """One kind of schedule in the mix, with its share of the cases."""

    name: str
    weight: int
    recurrence: Recurrence


# Daily and weekly chores dominate a household; the rest are the long tail.
MIX: tuple[Kind, ...] = (
    Kind("once", 8, Recurrence("once")),
    Kind("every 8 hours", 6, Recurrence("interval", 8, "hours")),
    Kind("daily", 24, Recurrence("interval", 1, "days")),
    Kind("every 3 days", 8, Recurrence("interval", 3, "days")),
    Kind("daily, rolling", 6, Recurrence("interval", 1, "days", rolling=True)),
    Kind("weekly", 16, Recurrence("interval", 1, "weeks")),
    Kind("every 2 weeks", 6, Recurrence("interval", 2, "weeks")),
    Kind("monthly", 8, Recurrence("interval", 1, "months")),
    Kind("yearly", 2, Recurrence("interval", 1, "years")),
    Kind("weekly, Apr-Sep", 6, Recurrence("interval", 1, "weeks", months=(4, 5, 6, 7, 8, 9))),
    Kind("every 3 days, Nov-Mar", 4, Recurrence("interval", 3, "days", months=(11, 12, 1, 2, 3))),
    Kind("monthly, Mar+Sep", 2, Recurrence("interval", 1, "months", months=(3, 9))),
)
ASSIGNMENT = Assignment("fixed", (uuid.UUID(int=1),), grace_minutes=30)


@dataclass(frozen=True)
class Case:
    kind: str
    state: ScheduleState
    completed_at: datetime
    tz: tzinfo


@dataclass
class RecurrenceResult:
    computations: int
    seconds: float  # wall time of the timed loop
    per_second: float  # computations / seconds
    mix: dict[str, int]  # kind of schedule → how many of the CASES cases are of it
    zones: tuple[str, ...]
    cpu_seconds: float  # process CPU time of the loop: steadier than wall time on a shared machine

    @property
    def meets_goal(self) -> bool:
        return self.per_second >= GOAL_PER_SECOND


def _unit_span(unit: Unit | None, every: int) -> timedelta:
    nominal = {"hours": timedelta(hours=1), "days": timedelta(days=1), "weeks": timedelta(weeks=1)}
    return nominal.get(unit or "days", timedelta(days=30)) * every


def _case(kind: Kind, rng: random.Random) -> Case:
    """A chore of `kind` anchored up to a year back, its open occurrence somewhere in 2026, completed early,
    on time, a little late or many occurrences late; a third of them due right before a DST change."""
    zone_name = rng.choice(ZONES)
    tz = ZoneInfo(zone_name)
    edges = DST_EDGES.get(zone_name)
    if edges and rng.random() < 1 / 3:
        wall = rng.choice(edges)
    else:
        wall = datetime(2026, 1, 1, 18) + timedelta(days=rng.randrange(365), minutes=rng.choice((0, 30)))
    due = wall.replace(tzinfo=tz).astimezone(UTC)
    span = _unit_span(kind.recurrence.unit, kind.recurrence.every)
    anchor = None if rng.random() < 0.3 else due - span * rng.randrange(1, 60)
    lateness = rng.choice(
        (-span / 3, timedelta(0), timedelta(minutes=rng.randrange(1, 180)), span * rng.uniform(1.5, 12))
    )
    state = ScheduleState(
        recurrence=kind.recurrence,
        assignment=ASSIGNMENT,
        due=due,
        anchor=anchor,
        assignee_id=ASSIGNMENT.assignees[0],
        last_completion_time=due - span,
    )
    return Case(kind.name, state, due + lateness, tz)


def cases(count: int = CASES, seed: int = SEED) -> list[Case]:
    rng = random.Random(seed)
    kinds = rng.choices(MIX, weights=[k.weight for k in MIX], k=count)
    return [_case(kind, rng) for kind in kinds]


def _run(work: list[Case], seconds: float) -> tuple[int, float, float]:
    """Call `complete` over `work` round-robin for about `seconds`: (computations, wall seconds, CPU seconds)."""
    done = 0
    cpu_start, start = time.process_time(), time.perf_counter()
    deadline = start + seconds
    while True:
        for case in work:
            complete(case.state, completed_at=case.completed_at, tz=case.tz)
        done += len(work)
        now = time.perf_counter()
        if now >= deadline:
            return done, now - start, time.process_time() - cpu_start


def measure(seconds: float = 3.0) -> RecurrenceResult:
    """Computations per second of `scheduling.complete` over the mix, on this thread (one core)."""
    work = cases()
    _run(work, min(0.3, seconds / 10))  # warm-up: zoneinfo's caches, the interpreter's specialisations
    done, wall, cpu = _run(work, seconds)
    return RecurrenceResult(
        computations=done,
        seconds=wall,
        per_second=done / wall,
        mix=dict(Counter(case.kind for case in work)),
        zones=ZONES,
        cpu_seconds=cpu,
    )


def table(result: RecurrenceResult) -> str:
    total = sum(result.mix.values())
    rows = [
        "| schedule kind | share of cases |",
        "| --- | ---: |",
        *(f"| {kind} | {100 * n / total:.1f}% |" for kind, n in sorted(result.mix.items(), key=lambda kv: -kv[1])),
    ]
    verdict = "meets" if result.meets_goal else "**misses**"
    summary = [
        "| computations | seconds | per second | per CPU second | goal |",
        "| ---: | ---: | ---: | ---: | --- |",
        f"| {result.computations} | {result.seconds:.2f} | {result.per_second:,.0f} | "
        f"{result.computations / result.cpu_seconds:,.0f} | {verdict} {GOAL_PER_SECOND:,}/s |",
    ]
    zones = f"{total} cases in {', '.join(result.zones)}; a third of those in DST zones due just before a change."
    return "\n".join([*summary, "", *rows, "", zones])


def profile(seconds: float, top: int = 15) -> str:
    work = cases()
    profiler = cProfile.Profile()
    profiler.enable()
    _run(work, seconds)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recurrence", description=__doc__.split("\n\n")[1])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds (3)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary instead")
    args = parser.parse_args()
    if args.profile:
        print(profile(args.seconds))
        return 0
    result = measure(args.seconds)
    print(table(result))
    return 0 if result.meets_goal else 1


if __name__ == "__main__":
    sys.exit(main())
