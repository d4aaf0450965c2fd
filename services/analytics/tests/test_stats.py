"""The pure stats math: window, time zones (DST), streaks, shares, Gini/fairness, misses and their assembly."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.analytics.stats import (
    HouseholdTotals,
    MemberStats,
    Tally,
    fairness,
    gini,
    household_stats,
    local_day,
    rate,
    shares,
    streaks,
    window,
    zone,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
AUCKLAND = ZoneInfo("Pacific/Auckland")
KOLKATA = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def brute_gini(values: list[float]) -> float:
    """The textbook definition, straight: Σ_i Σ_j |x_i - x_j| / (2 n Σ x)."""
    n, total = len(values), sum(values)
    return sum(abs(a - b) for a, b in itertools.product(values, repeat=2)) / (2 * n * total)


# --- window ---


def test_window_defaults_to_the_last_30_days() -> None:
    assert window(None, None, now=NOW) == (NOW - timedelta(days=30), NOW)


def test_window_start_defaults_relative_to_an_explicit_end() -> None:
    end = datetime(2026, 6, 1, tzinfo=UTC)
    assert window(None, end, now=NOW) == (end - timedelta(days=30), end)


def test_window_end_defaults_to_now() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert window(start, None, now=NOW) == (start, NOW)


def test_window_may_be_empty_but_not_reversed() -> None:
    assert window(NOW, NOW, now=NOW) == (NOW, NOW)
    with pytest.raises(ValueError, match="start_time"):
        window(NOW + timedelta(seconds=1), NOW, now=NOW)
    with pytest.raises(ValueError, match="start_time"):
        window(NOW + timedelta(days=1), None, now=NOW)  # a start in the future, end defaulting to now


# --- time zones ---


def test_zone_falls_back_to_utc_for_empty_or_unknown_names() -> None:
    assert zone("Europe/Berlin") == BERLIN
    assert zone("").key == "UTC"
    assert zone("Mars/Olympus_Mons").key == "UTC"
    assert zone("../../etc/passwd").key == "UTC"


@pytest.mark.parametrize(
    ("instant", "tz", "expected"),
    [
        # The same instant falls on different days in different zones.
        (datetime(2026, 11, 23, 23, 30, tzinfo=UTC), BERLIN, date(2026, 11, 24)),
        (datetime(2026, 11, 23, 23, 30, tzinfo=UTC), NEW_YORK, date(2026, 11, 23)),
        (datetime(2026, 11, 23, 3, 30, tzinfo=UTC), NEW_YORK, date(2026, 11, 22)),
        (datetime(2026, 11, 23, 11, 30, tzinfo=UTC), AUCKLAND, date(2026, 11, 24)),  # UTC+13 in summer
        (datetime(2026, 11, 23, 18, 29, tzinfo=UTC), KOLKATA, date(2026, 11, 23)),  # UTC+5:30
        (datetime(2026, 11, 23, 18, 30, tzinfo=UTC), KOLKATA, date(2026, 11, 24)),
        # Berlin springs forward on 2026-03-29 (02:00 CET → 03:00 CEST): 22:59 UTC the day before is
        # 23:59 CET on the 28th, 23:00 UTC is 00:00 on the 29th; on the 29th, 21:59 UTC is still that day.
        (datetime(2026, 3, 28, 22, 59, tzinfo=UTC), BERLIN, date(2026, 3, 28)),
        (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), BERLIN, date(2026, 3, 29)),
        (datetime(2026, 3, 29, 21, 59, tzinfo=UTC), BERLIN, date(2026, 3, 29)),
        (datetime(2026, 3, 29, 22, 0, tzinfo=UTC), BERLIN, date(2026, 3, 30)),  # midnight is now UTC+2
        # Berlin falls back on 2026-10-25 (03:00 CEST → 02:00 CET): that day is 25 hours long.
        (datetime(2026, 10, 24, 21, 59, tzinfo=UTC), BERLIN, date(2026, 10, 24)),
        (datetime(2026, 10, 24, 22, 0, tzinfo=UTC), BERLIN, date(2026, 10, 25)),
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), BERLIN, date(2026, 10, 25)),  # 02:30 CEST
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), BERLIN, date(2026, 10, 25)),  # 02:30 CET, the repeated hour
        (datetime(2026, 10, 25, 22, 59, tzinfo=UTC), BERLIN, date(2026, 10, 25)),
        (datetime(2026, 10, 25, 23, 0, tzinfo=UTC), BERLIN, date(2026, 10, 26)),
        # New York springs forward on 2026-03-08; Auckland falls back on 2026-04-05 (03:00 NZDT → 02:00 NZST).
        (datetime(2026, 3, 8, 4, 59, tzinfo=UTC), NEW_YORK, date(2026, 3, 7)),
        (datetime(2026, 3, 8, 5, 0, tzinfo=UTC), NEW_YORK, date(2026, 3, 8)),
        (datetime(2026, 3, 9, 3, 59, tzinfo=UTC), NEW_YORK, date(2026, 3, 8)),
        (datetime(2026, 3, 9, 4, 0, tzinfo=UTC), NEW_YORK, date(2026, 3, 9)),
        (datetime(2026, 4, 4, 10, 59, tzinfo=UTC), AUCKLAND, date(2026, 4, 4)),
        (datetime(2026, 4, 4, 11, 0, tzinfo=UTC), AUCKLAND, date(2026, 4, 5)),
        (datetime(2026, 4, 5, 11, 59, tzinfo=UTC), AUCKLAND, date(2026, 4, 5)),
        (datetime(2026, 4, 5, 12, 0, tzinfo=UTC), AUCKLAND, date(2026, 4, 6)),
    ],
)
def test_local_day(instant: datetime, tz: ZoneInfo, expected: date) -> None:
    assert local_day(instant, tz) == expected


def test_local_day_accepts_any_offset_and_refuses_naive_datetimes() -> None:
    instant = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert local_day(instant.astimezone(NEW_YORK), BERLIN) == date(2026, 11, 24)
    with pytest.raises(ValueError, match="aware"):
        local_day(datetime(2026, 11, 23, 12, 0), BERLIN)


# --- streaks ---

TODAY = date(2026, 11, 23)


def days_ago(*offsets: int) -> list[date]:
    return [TODAY - timedelta(days=n) for n in offsets]


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ([], (0, 0)),
        (days_ago(0), (1, 1)),
        (days_ago(1), (1, 1)),  # nothing yet today: yesterday's streak still stands
        (days_ago(2), (0, 1)),  # a day missed: broken
        (days_ago(0, 1, 2), (3, 3)),
        (days_ago(1, 2, 3), (3, 3)),
        (days_ago(0, 2, 3), (1, 2)),
        (days_ago(0, 1, 5, 6, 7, 8), (2, 4)),
        (days_ago(3, 4, 5, 6, 7), (0, 5)),
        (days_ago(0, 0, 1, 1, 1), (2, 2)),  # several completions on one day count once
        (days_ago(2, 0, 1), (3, 3)),  # order does not matter
        (days_ago(-1), (0, 0)),  # a completion dated tomorrow (clock skew) is ignored
        (days_ago(-1, 0), (1, 1)),
        (days_ago(-2, -1), (0, 0)),
    ],
)
def test_streaks(days: list[date], expected: tuple[int, int]) -> None:
    assert streaks(days, TODAY) == expected


def test_streaks_run_across_month_year_and_leap_day_boundaries() -> None:
    assert streaks([date(2025, 12, 30), date(2025, 12, 31), date(2026, 1, 1), date(2026, 1, 2)], date(2026, 1, 2)) == (
        4,
        4,
    )
    assert streaks([date(2028, 2, 28), date(2028, 2, 29), date(2028, 3, 1)], date(2028, 3, 1)) == (3, 3)
    # 2027 has no 29 February: 28 Feb → 1 Mar is consecutive.
    assert streaks([date(2027, 2, 28), date(2027, 3, 1)], date(2027, 3, 2)) == (2, 2)


def test_streaks_across_dst_changes_count_calendar_days_in_the_household_zone() -> None:
    # One completion a day at 23:30 local time around Berlin's spring-forward and fall-back days:
    # a 23-hour and a 25-hour day are still one day each.
    for first in (date(2026, 3, 26), date(2026, 10, 22)):
        local = [
            datetime(first.year, first.month, first.day, 23, 30, tzinfo=BERLIN) + timedelta(days=n) for n in range(6)
        ]
        instants = [moment.astimezone(UTC) for moment in local]
        days = [local_day(instant, BERLIN) for instant in instants]
        assert len(set(days)) == 6
        assert streaks(days, days[-1]) == (6, 6)
        early = [datetime(d.year, d.month, d.day, 0, 30, tzinfo=BERLIN).astimezone(UTC) for d in days]
        assert streaks([local_day(i, BERLIN) for i in early], days[-1]) == (6, 6)
        # 00:30 local is the previous day in UTC: bucketing in UTC instead would shift every day back.
        assert [i.date() for i in early] == [d - timedelta(days=1) for d in days]


def test_a_streak_in_one_zone_can_be_broken_in_another() -> None:
    # Done at 08:00 UTC on day 1 and at 23:00 UTC on day 2... in Auckland (UTC+13) those are days 1 and 3.
    instants = [datetime(2026, 11, 20, 8, 0, tzinfo=UTC), datetime(2026, 11, 21, 23, 0, tzinfo=UTC)]
    utc_days = [local_day(i, ZoneInfo("UTC")) for i in instants]
    auckland_days = [local_day(i, AUCKLAND) for i in instants]
    assert streaks(utc_days, date(2026, 11, 21)) == (2, 2)
    assert streaks(auckland_days, date(2026, 11, 22)) == (1, 1)


# --- shares ---


def test_shares_by_estimated_minutes() -> None:
    tallies = {"a": Tally(completions=1, minutes=30), "b": Tally(completions=3, minutes=10)}
    assert shares(tallies, Tally(completions=4, minutes=40)) == {"a": 0.75, "b": 0.25}


def test_shares_fall_back_to_completions_when_no_minutes_are_known() -> None:
    tallies = {"a": Tally(completions=1), "b": Tally(completions=3)}
    assert shares(tallies, Tally(completions=4)) == {"a": 0.25, "b": 0.75}


def test_completions_without_an_estimate_count_nothing_when_others_have_one() -> None:
    tallies = {"a": Tally(completions=5, minutes=0), "b": Tally(completions=1, minutes=20)}
    assert shares(tallies, Tally(completions=6, minutes=20)) == {"a": 0.0, "b": 1.0}


def test_shares_are_zero_when_nothing_was_done() -> None:
    assert shares({"a": Tally()}, Tally()) == {"a": 0.0}
    assert shares({}, Tally()) == {}


def test_rate_is_zero_without_a_denominator() -> None:
    assert rate(0, 0) == 0.0
    assert rate(3, 4) == 0.75


# --- Gini and fairness ---


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0], 0.0),
        ([0.5, 0.5], 0.0),
        ([1.0, 0.0], 0.5),
        ([0.0, 0.0, 1.0], 2 / 3),
        ([0.0, 0.0, 0.0, 1.0], 0.75),
        ([0.25, 0.75], 0.25),
        ([1.0, 2.0, 3.0, 4.0], 0.25),
        ([], 0.0),
        ([0.0, 0.0], 0.0),
    ],
)
def test_gini_known_values(values: list[float], expected: float) -> None:
    assert gini(values) == pytest.approx(expected)


def test_gini_matches_the_textbook_double_sum_and_is_order_and_scale_free() -> None:
    rng = random.Random(7)
    for _ in range(200):
        values = [rng.choice([0.0, rng.random()]) for _ in range(rng.randint(1, 9))]
        if sum(values) == 0:
            continue
        g = gini(values)
        assert g == pytest.approx(brute_gini(values))
        assert gini(list(reversed(values))) == pytest.approx(g)
        assert gini([v * 17 for v in values]) == pytest.approx(g)
        assert 0.0 <= g < 1.0


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], 1.0),
        ([1.0], 1.0),  # a household of one is perfectly fair
        ([0.0], 1.0),
        ([0.0, 0.0, 0.0], 1.0),  # nobody did anything: equal
        ([0.5, 0.5], 1.0),
        ([1 / 3, 1 / 3, 1 / 3], 1.0),
        ([1.0, 0.0], 0.0),  # one did everything
        ([0.0, 1.0, 0.0, 0.0], 0.0),
        ([0.75, 0.25], 0.5),  # plain Gini 0.25, normalised by 2/1
        ([0.5, 0.5, 0.0], 0.5),  # plain Gini 1/3, normalised by 3/2
        ([0.6, 0.2], 0.5),  # shares need not sum to 1 (former members did the rest)
    ],
)
def test_fairness(values: list[float], expected: float) -> None:
    assert fairness(values) == pytest.approx(expected)


def test_fairness_decreases_as_work_concentrates_and_stays_in_bounds() -> None:
    previous = 1.0
    for top in (0.25, 0.4, 0.55, 0.7, 0.85, 1.0):
        rest = (1 - top) / 3
        current = fairness([top, rest, rest, rest])
        assert 0.0 <= current <= previous
        previous = current
    assert previous == pytest.approx(0.0)


# --- assembly ---


def test_household_stats_lists_every_member_in_order_with_zeros_for_the_idle() -> None:
    tallies = {
        "alice": Tally(completions=3, on_time=2, points=30, minutes=90),
        "bob": Tally(completions=1, on_time=1, points=5, minutes=30),
    }
    days = {"alice": set(days_ago(0, 1, 2, 10, 11, 12, 13)), "bob": set(days_ago(3))}
    result = household_stats(["carol", "alice", "bob"], tallies, days, today=TODAY)

    assert [m.user_id for m in result.members] == ["carol", "alice", "bob"]
    carol, alice, bob = result.members
    assert carol == MemberStats("carol", 0, 0, 0.0, 0, 0, 0.0)
    assert alice == MemberStats("alice", 3, 30, pytest.approx(2 / 3), 3, 4, 0.75)
    assert bob == MemberStats("bob", 1, 5, 1.0, 0, 1, 0.25)
    assert result.household == HouseholdTotals(
        completions=4,
        completion_rate=1.0,  # nothing missed
        overdue=0,
        fairness=pytest.approx(1 - brute_gini([0.0, 0.75, 0.25]) * 3 / 2),
    )


def test_former_members_count_in_totals_but_are_not_listed() -> None:
    tallies = {"alice": Tally(completions=1, on_time=1, minutes=10), "gone": Tally(completions=3, minutes=30)}
    result = household_stats(["alice", "bob"], tallies, {}, today=TODAY)
    assert [m.user_id for m in result.members] == ["alice", "bob"]
    assert result.members[0].share == pytest.approx(0.25)
    assert result.household.completions == 4
    assert result.household.completion_rate == 1.0


def test_an_idle_household_is_all_zeros_and_fair() -> None:
    result = household_stats(["a", "b"], {}, {}, today=TODAY)
    assert all(m.completions == m.points == m.current_streak == m.best_streak == 0 for m in result.members)
    assert all(m.share == 0.0 and m.on_time_rate == 0.0 for m in result.members)
    assert result.household == HouseholdTotals(0, 0.0, 0, 1.0)


def test_equal_work_by_completion_count_is_fair_when_minutes_are_unknown() -> None:
    tallies = {"a": Tally(completions=2, points=4), "b": Tally(completions=2, points=40)}
    result = household_stats(["a", "b"], tallies, {}, today=TODAY)
    assert [m.share for m in result.members] == [0.5, 0.5]
    assert result.household.fairness == 1.0


def test_streaks_use_whole_history_independent_of_the_window() -> None:
    # No completion in the window (no tally) but days from history: streaks still show.
    result = household_stats(["a"], {}, {"a": set(days_ago(1, 2))}, today=TODAY)
    assert (result.members[0].current_streak, result.members[0].best_streak) == (2, 2)
    assert result.members[0].completions == 0


# --- misses ---


def test_misses_count_per_member_and_in_the_household_and_lower_the_completion_rate() -> None:
    tallies = {"alice": Tally(completions=3, on_time=1, minutes=30), "bob": Tally(completions=1, on_time=1)}
    # Bob missed two, Carol (idle) one, a former member one, and one nobody held.
    missed: dict[str | None, int] = {"bob": 2, "carol": 1, "gone": 1, None: 1}
    result = household_stats(["alice", "bob", "carol"], tallies, {}, today=TODAY, missed=missed)

    assert [m.missed for m in result.members] == [0, 2, 1]
    assert result.household.overdue == 5
    assert result.household.completions == 4
    # Completions / (completions + misses): late completions are done, not missed.
    assert result.household.completion_rate == pytest.approx(4 / 9)
    # On-time rates and shares are of completions only, as before.
    assert [m.on_time_rate for m in result.members] == [pytest.approx(1 / 3), 1.0, 0.0]
    assert [m.share for m in result.members] == [1.0, 0.0, 0.0]


def test_a_household_that_only_missed_has_a_completion_rate_of_zero() -> None:
    result = household_stats(["a"], {}, {}, today=TODAY, missed={"a": 3})
    assert result.household == HouseholdTotals(completions=0, completion_rate=0.0, overdue=3, fairness=1.0)
    assert result.members[0] == MemberStats("a", 0, 0, 0.0, 0, 0, 0.0, missed=3)


def test_no_misses_given_is_none_missed() -> None:
    result = household_stats(["a"], {"a": Tally(completions=2, on_time=0)}, {}, today=TODAY)
    assert (result.household.overdue, result.household.completion_rate, result.members[0].missed) == (0, 1.0, 0)
