"""The assignment strategies (services.task.assignment), pure: who has the next occurrence, by table, including
what other apps get wrong (a rotation restarting from the first or going alphabetical after an edit, ties broken
by chance or by name), away members, and seeded randomness."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.task.assignment import (
    Assignment,
    AwayPeriod,
    Strategy,
    Tally,
    initial_assignee,
    next_assignee,
    next_turn,
    reassigned,
    rotation_at,
    turn_start,
)

T0 = datetime(2027, 7, 1, 12, tzinfo=UTC)
# Listed out of alphabetical order on purpose: the list order is the rotation, never the names.
ZOE, ANNA, MIA, BEN = (uuid.UUID(int=n) for n in (26, 1, 13, 2))
ROTATION = (ZOE, ANNA, MIA)
AWAY_MIA = {MIA: AwayPeriod(T0 - timedelta(days=1), T0 + timedelta(days=1))}


def rr(*people: uuid.UUID) -> Assignment:
    return Assignment("round_robin", people)


@pytest.mark.parametrize(
    ("current", "last", "expected"),
    [
        (ZOE, None, ANNA),
        (ANNA, None, MIA),
        (MIA, None, ZOE),  # wraps around
        (None, ANNA, MIA),  # nobody has it (everyone was away): after the last completer
        (None, None, ZOE),  # a chore with no history starts at the first
        (BEN, None, ZOE),  # someone not listed (a stale assignee): the first listed
    ],
)
def test_round_robin_follows_the_list_order(
    current: uuid.UUID | None, last: uuid.UUID | None, expected: uuid.UUID
) -> None:
    assert next_assignee(rr(*ROTATION), current=current, tally=Tally(last=last)) == expected


def test_round_robin_walks_the_whole_rotation_in_list_order_not_by_name() -> None:
    current, seen = initial_assignee(rr(*ROTATION)), []
    for _ in range(6):
        seen.append(current)
        current = next_assignee(rr(*ROTATION), current=current)
    assert seen == [ZOE, ANNA, MIA, ZOE, ANNA, MIA]


def test_round_robin_skips_the_away_and_comes_back_to_them() -> None:
    assert next_assignee(rr(*ROTATION), current=ANNA, at=T0, tally=Tally(away=AWAY_MIA)) == ZOE
    assert next_assignee(rr(*ROTATION), current=ANNA, at=T0 + timedelta(days=2), tally=Tally(away=AWAY_MIA)) == MIA


@pytest.mark.parametrize(
    ("before", "after", "current", "expected"),
    [
        # An edit that keeps the current assignee keeps them (the known-bad case: restarting at the first).
        (ROTATION, ROTATION, MIA, MIA),
        (ROTATION, (ANNA, BEN, MIA, ZOE), MIA, MIA),  # reordered and grown
        # The current assignee left the list: whoever followed them in the old order, not the first.
        (ROTATION, (ZOE, MIA), ANNA, MIA),
        (ROTATION, (ZOE, ANNA), MIA, ZOE),  # the last one left: wraps to the one after them
        ((ZOE, ANNA, MIA, BEN), (BEN, ZOE), ANNA, BEN),  # Mia gone too: the next still listed, in the old order
        (ROTATION, (BEN,), ANNA, BEN),  # nobody of the old list stays: the new list's first
        (ROTATION, ROTATION, None, ZOE),
    ],
)
def test_an_edit_continues_the_rotation(
    before: tuple[uuid.UUID, ...], after: tuple[uuid.UUID, ...], current: uuid.UUID | None, expected: uuid.UUID
) -> None:
    assert reassigned(rr(*before), rr(*after), current=current) == expected


def test_after_an_edit_the_rotation_goes_on_from_where_it_was() -> None:
    # Anna has it; Ben joins at the front (alphabetical apps would hand it to Anna/Ben and restart).
    edited = rr(BEN, *ROTATION)
    current = reassigned(rr(*ROTATION), edited, current=ANNA)
    order = []
    for _ in range(4):
        current = next_assignee(edited, current=current)
        order.append(current)
    assert order == [MIA, BEN, ZOE, ANNA]


def test_an_edit_moves_it_off_someone_away_to_the_next() -> None:
    assert reassigned(rr(*ROTATION), rr(*ROTATION), current=MIA, at=T0, tally=Tally(away=AWAY_MIA)) == ZOE


def test_an_edit_to_fixed_or_unassigned_takes_the_first_or_nobody() -> None:
    assert reassigned(rr(*ROTATION), Assignment("fixed", (MIA, ZOE)), current=ANNA) == MIA
    assert reassigned(rr(*ROTATION), Assignment("unassigned"), current=ANNA) is None


@pytest.mark.parametrize(
    ("strategy", "tally", "expected"),
    [
        ("least_completed", Tally(completed={ZOE: 3, ANNA: 1, MIA: 2}), ANNA),
        ("least_assigned", Tally(assigned={ZOE: 0, ANNA: 1, MIA: 2}), ZOE),
        ("least_points", Tally(points={ZOE: 50, ANNA: 40, MIA: 10}), MIA),
        ("least_points", Tally(points={ZOE: 50, ANNA: 40}), MIA),  # no points at all: 0
        # Ties go to the list order: Zoe before Anna although "Anna" sorts first, every time (never random).
        ("least_completed", Tally(completed={ZOE: 1, ANNA: 1, MIA: 2}), ZOE),
        ("least_assigned", Tally(), ZOE),
        ("least_points", Tally(points={ANNA: 5, MIA: 5, ZOE: 7}), ANNA),
        # The fewest is away: the fewest of the others, ties by list order.
        ("least_completed", Tally(completed={ZOE: 2, ANNA: 2, MIA: 0}, away=AWAY_MIA), ZOE),
        # The count of a strategy is the only one that matters.
        ("least_completed", Tally(completed={ZOE: 1}, points={ANNA: 99}), ANNA),
    ],
)
def test_least_strategies_pick_the_fewest_and_break_ties_by_list_order(
    strategy: Strategy, tally: Tally, expected: uuid.UUID
) -> None:
    assignment = Assignment(strategy, ROTATION)
    for _ in range(20):  # deterministic: the same answer every time
        assert next_assignee(assignment, current=ZOE, at=T0, tally=tally) == expected
    assert initial_assignee(assignment, at=T0, tally=tally) == expected


def test_random_is_reproducible_with_a_seed_and_reaches_everyone() -> None:
    assignment = Assignment("random", ROTATION)
    picks = [next_assignee(assignment, current=ZOE, rng=random.Random(7)) for _ in range(3)]
    assert len(set(picks)) == 1  # the same seed, the same pick
    rng = random.Random(1)
    counts = Counter(next_assignee(assignment, current=ZOE, rng=rng) for _ in range(600))
    assert set(counts) == set(ROTATION)  # the current one may get it again
    assert min(counts.values()) > 150  # roughly uniform


def test_random_except_last_never_gives_it_twice_in_a_row() -> None:
    assignment = Assignment("random_except_last", ROTATION)
    rng, current = random.Random(3), ZOE
    seen = Counter[uuid.UUID]()
    for _ in range(300):
        following = next_assignee(assignment, current=current, rng=rng)
        assert following != current
        seen[following] += 1
        current = following
    assert set(seen) == set(ROTATION)


def test_random_except_last_uses_the_last_completer_when_nobody_has_it() -> None:
    assignment = Assignment("random_except_last", (ZOE, ANNA))
    assert all(
        next_assignee(assignment, current=None, tally=Tally(last=ZOE), rng=random.Random(s)) == ANNA for s in range(20)
    )


def test_random_except_last_with_one_candidate_gives_it_to_them() -> None:
    assert next_assignee(Assignment("random_except_last", (ZOE,)), current=ZOE, rng=random.Random(0)) == ZOE
    # the only other one is away: the same person again rather than nobody
    two = Assignment("random_except_last", (ZOE, MIA))
    assert next_assignee(two, current=ZOE, at=T0, tally=Tally(away=AWAY_MIA), rng=random.Random(0)) == ZOE


def test_random_skips_the_away() -> None:
    rng = random.Random(5)
    picks = {
        next_assignee(Assignment("random", ROTATION), current=ZOE, at=T0, tally=Tally(away=AWAY_MIA), rng=rng)
        for _ in range(100)
    }
    assert picks == {ZOE, ANNA}


def test_the_random_strategies_need_a_generator() -> None:
    with pytest.raises(ValueError, match=r"random\.Random"):
        next_assignee(Assignment("random", ROTATION), current=ZOE)


@pytest.mark.parametrize(
    "strategy", ["round_robin", "least_completed", "least_assigned", "least_points", "random", "random_except_last"]
)
def test_when_everyone_is_away_the_current_assignee_keeps_it(strategy: Strategy) -> None:
    everyone = {member: AwayPeriod(None, None) for member in ROTATION}
    assignment = Assignment(strategy, ROTATION)
    rng = random.Random(0)
    assert next_assignee(assignment, current=ANNA, at=T0, tally=Tally(away=everyone), rng=rng) == ANNA
    # ... and nobody has it when the current one is not listed (unassigned: it can be claimed)
    assert next_assignee(assignment, current=None, at=T0, tally=Tally(away=everyone), rng=rng) is None
    assert initial_assignee(assignment, at=T0, tally=Tally(away=everyone), rng=rng) is None
    # every automatic strategy skips the away
    assert next_assignee(assignment, current=MIA, at=T0, tally=Tally(away=AWAY_MIA), rng=rng) != MIA


def test_fixed_and_unassigned_ignore_away_and_history() -> None:
    everyone = Tally(away={ZOE: AwayPeriod()}, completed={ZOE: 9})
    assert next_assignee(Assignment("fixed", ROTATION), current=ANNA, at=T0, tally=everyone) == ZOE
    assert next_assignee(Assignment("unassigned"), current=ANNA, at=T0, tally=everyone) is None
    assert initial_assignee(Assignment("fixed", (MIA,))) == MIA


def test_a_new_round_robin_chore_starts_at_the_first_not_away() -> None:
    assert initial_assignee(rr(MIA, ZOE), at=T0, tally=Tally(away=AWAY_MIA, last=ZOE)) == ZOE
    assert initial_assignee(rr(MIA, ZOE), at=T0 + timedelta(days=3), tally=Tally(away=AWAY_MIA)) == MIA


# --- rotate daily / weekly (the pure part; the job that applies it is not built) ----------------------------

BERLIN = ZoneInfo("Europe/Berlin")
# Monday 2027-03-22 09:00 in Berlin; the clocks go forward on Sunday 2027-03-28.
MONDAY = datetime(2027, 3, 22, 9, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (MONDAY, ZOE),
        (datetime(2027, 3, 22, 23, 59, tzinfo=BERLIN), ZOE),  # the same local day
        (datetime(2027, 3, 23, 0, 0, tzinfo=BERLIN), ANNA),  # local midnight: the next turn
        (datetime(2027, 3, 24, 12, tzinfo=BERLIN), MIA),
        (datetime(2027, 3, 25, 12, tzinfo=BERLIN), ZOE),  # round again
        (datetime(2027, 3, 28, 0, 30, tzinfo=BERLIN), ZOE),  # 6 turns on, the DST night
        # 00:30 on the 29th in Berlin (summer time) is still the 28th in UTC: the turn follows the local day
        (datetime(2027, 3, 28, 22, 30, tzinfo=UTC), ANNA),
        (datetime(2027, 3, 21, 12, tzinfo=BERLIN), MIA),  # before the start: counted backwards
    ],
)
def test_daily_rotation_turns_at_local_midnight(at: datetime, expected: uuid.UUID) -> None:
    assert rotation_at(ROTATION, "daily", start=MONDAY, first=ZOE, at=at, tz=BERLIN) == expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2027, 3, 28, 23, tzinfo=BERLIN), ZOE),  # Sunday: the same week
        (datetime(2027, 3, 29, 0, tzinfo=BERLIN), ANNA),  # Monday: the next
        (datetime(2027, 4, 8, 12, tzinfo=BERLIN), MIA),
        (datetime(2027, 4, 12, 12, tzinfo=BERLIN), ZOE),
    ],
)
def test_weekly_rotation_turns_on_monday(at: datetime, expected: uuid.UUID) -> None:
    # Started on a Wednesday: the turn still changes on Mondays.
    start = datetime(2027, 3, 24, 18, tzinfo=BERLIN)
    assert rotation_at(ROTATION, "weekly", start=start, first=ZOE, at=at, tz=BERLIN) == expected


def test_a_timed_rotation_skips_the_away_and_does_not_shift_the_others() -> None:
    tuesday = datetime(2027, 3, 23, 12, tzinfo=UTC)  # Anna's turn
    away = {ANNA: AwayPeriod(tuesday - timedelta(hours=1), tuesday + timedelta(hours=1))}
    assert rotation_at(ROTATION, "daily", start=MONDAY, first=ZOE, at=tuesday, tz=BERLIN, away=away) == MIA
    wednesday = tuesday + timedelta(days=1)  # Mia's turn as before: the skip did not move the rotation
    assert rotation_at(ROTATION, "daily", start=MONDAY, first=ZOE, at=wednesday, tz=BERLIN, away=away) == MIA
    everyone = {member: AwayPeriod() for member in ROTATION}
    assert rotation_at(ROTATION, "daily", start=MONDAY, first=ZOE, at=tuesday, tz=BERLIN, away=everyone) is None
    assert rotation_at(ROTATION, "daily", start=MONDAY, first=BEN, at=tuesday, tz=BERLIN) is None


SANTIAGO = ZoneInfo("America/Santiago")  # springs forward at midnight: 00:00 does not exist that day


@pytest.mark.parametrize(
    ("rotate", "tz", "at", "start", "following"),
    [
        # The spring-forward day in Berlin has 23 hours, the fall-back one 25: turns follow the wall clock.
        ("daily", BERLIN, datetime(2027, 3, 28, 12, tzinfo=BERLIN), (2027, 3, 27, 23), (2027, 3, 28, 22)),
        ("daily", BERLIN, datetime(2027, 10, 31, 12, tzinfo=BERLIN), (2027, 10, 30, 22), (2027, 10, 31, 23)),
        ("daily", BERLIN, datetime(2027, 3, 28, 21, 59, tzinfo=UTC), (2027, 3, 27, 23), (2027, 3, 28, 22)),
        # Weekly: from Monday's midnight, the week with the fall-back night 169 hours long.
        ("weekly", BERLIN, datetime(2027, 10, 27, 12, tzinfo=BERLIN), (2027, 10, 24, 22), (2027, 10, 31, 23)),
        ("weekly", BERLIN, datetime(2027, 11, 1, 0, 0, tzinfo=BERLIN), (2027, 10, 31, 23), (2027, 11, 7, 23)),
        # A midnight that does not exist (Chile, 5 September 2027) starts the turn at the instant after the gap.
        ("daily", SANTIAGO, datetime(2027, 9, 5, 12, tzinfo=SANTIAGO), (2027, 9, 5, 4), (2027, 9, 6, 3)),
    ],
)
def test_turns_start_at_local_midnight(
    rotate: str, tz: ZoneInfo, at: datetime, start: tuple[int, ...], following: tuple[int, ...]
) -> None:
    begins = turn_start(rotate, at, tz)  # type: ignore[arg-type]
    assert begins == datetime(*start, tzinfo=UTC)  # type: ignore[misc]
    assert next_turn(rotate, at, tz) == datetime(*following, tzinfo=UTC)  # type: ignore[arg-type, misc]
    assert begins <= at < next_turn(rotate, at, tz)  # type: ignore[arg-type]
