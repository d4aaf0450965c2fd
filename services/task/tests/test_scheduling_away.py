"""Away members and departed ones in the assignment rules (pure functions): whether a member is away at an
instant, who of a rotation may be picked, and an assignment without a person whose account is gone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.task.scheduling import Assignment, AwayPeriod, available, initial_assignee, is_away, without

T0 = datetime(2027, 7, 1, 12, tzinfo=UTC)
ANNA, BEN, CARA = (uuid.UUID(int=n) for n in (1, 2, 3))


def test_a_period_covers_its_start_and_not_its_end() -> None:
    period = AwayPeriod(T0, T0 + timedelta(days=7))
    assert not period.covers(T0 - timedelta(microseconds=1))
    assert period.covers(T0)
    assert period.covers(T0 + timedelta(days=7) - timedelta(microseconds=1))
    assert not period.covers(T0 + timedelta(days=7))


def test_open_ended_periods() -> None:
    assert AwayPeriod(None, T0).covers(datetime(1900, 1, 1, tzinfo=UTC))
    assert not AwayPeriod(None, T0).covers(T0)
    assert AwayPeriod(T0, None).covers(datetime(2200, 1, 1, tzinfo=UTC))
    assert not AwayPeriod(T0, None).covers(T0 - timedelta(seconds=1))
    assert AwayPeriod().covers(T0)


def test_an_empty_or_inverted_period_covers_nothing() -> None:
    assert not AwayPeriod(T0, T0).covers(T0)
    assert not AwayPeriod(T0, T0 - timedelta(days=1)).covers(T0 - timedelta(hours=12))


def test_instants_are_compared_in_absolute_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    period = AwayPeriod(datetime(2027, 7, 1, 14, tzinfo=berlin), datetime(2027, 7, 1, 15, tzinfo=berlin))
    assert period.covers(datetime(2027, 7, 1, 12, 30, tzinfo=UTC))  # 14:30 in Berlin (CEST)
    assert not period.covers(datetime(2027, 7, 1, 14, 30, tzinfo=UTC))


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        AwayPeriod(T0, None).covers(datetime(2027, 7, 2))


def test_is_away_looks_at_the_members_own_period_only() -> None:
    away = {ANNA: AwayPeriod(T0, T0 + timedelta(days=1))}
    assert is_away(away, ANNA, T0)
    assert not is_away(away, ANNA, T0 + timedelta(days=2))
    assert not is_away(away, BEN, T0)


def test_available_keeps_the_rotation_order_and_skips_whoever_is_away() -> None:
    away = {BEN: AwayPeriod(T0, None), CARA: AwayPeriod(None, T0)}  # Ben leaves as Cara comes back
    assert available([CARA, ANNA, BEN], away, T0) == (CARA, ANNA)
    assert available([CARA, ANNA, BEN], away, T0 - timedelta(days=1)) == (ANNA, BEN)
    assert available([CARA, BEN], away, T0 - timedelta(days=1)) == (BEN,)
    assert available([], away, T0) == ()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 6), unique=True).map(lambda ns: [uuid.UUID(int=n) for n in ns]),
    st.dictionaries(
        st.integers(1, 6).map(lambda n: uuid.UUID(int=n)),
        st.tuples(st.none() | st.integers(-10, 10), st.none() | st.integers(-10, 10)),
    ),
    st.integers(-12, 12),
)
def test_available_is_the_candidates_not_away_in_order(
    candidates: list[uuid.UUID], raw: dict[uuid.UUID, tuple[int | None, int | None]], hour: int
) -> None:
    def at(offset: int | None) -> datetime | None:
        return None if offset is None else T0 + timedelta(hours=offset)

    away = {member: AwayPeriod(at(start), at(end)) for member, (start, end) in raw.items()}
    now = T0 + timedelta(hours=hour)
    picked = available(candidates, away, now)
    assert list(picked) == [c for c in candidates if c in picked]  # a subsequence, in order
    for member in candidates:
        start, end = raw.get(member, (hour + 1, hour + 1))  # no period: never away
        covered = member in raw and (start is None or start <= hour) and (end is None or hour < end)
        assert (member in picked) == (not covered)


def test_without_a_member_the_others_keep_their_order() -> None:
    assignment = Assignment("fixed", (ANNA, BEN, CARA), rotate="on_completion", grace_minutes=30)
    rest = without(assignment, BEN)
    assert rest == Assignment("fixed", (ANNA, CARA), rotate="on_completion", grace_minutes=30)
    assert initial_assignee(without(assignment, ANNA)) == BEN


def test_a_fixed_assignment_left_with_nobody_becomes_unassigned() -> None:
    assert without(Assignment("fixed", (ANNA,)), ANNA) == Assignment("unassigned", ())
    assert initial_assignee(without(Assignment("fixed", (ANNA,)), ANNA)) is None


def test_without_someone_who_is_not_in_it_changes_nothing() -> None:
    assignment = Assignment("fixed", (ANNA,))
    assert without(assignment, BEN) is assignment
    assert without(Assignment("unassigned"), ANNA) == Assignment("unassigned")
