"""bench.latency's pure part: percentiles of the completion → notification latencies."""

from __future__ import annotations

import pytest

from bench.latency import percentiles, stats


def test_percentiles_of_nothing_are_none() -> None:
    assert percentiles([]) == [None, None, None]


def test_one_value_is_every_percentile() -> None:
    assert percentiles([12.5]) == [12.5, 12.5, 12.5]


def test_percentiles_interpolate_between_ranks_whatever_the_order() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 .. 1, unsorted on purpose
    p50, p95, p99 = percentiles(values)
    assert p50 == pytest.approx(50.5)
    assert p95 == pytest.approx(95.05)
    assert p99 == pytest.approx(99.01)


def test_stats_count_what_was_handled_and_matched() -> None:
    result = stats(count=5, matched=3, latencies_ms=[10.0, 30.0, 20.0, 40.0])
    assert (result.count, result.handled, result.matched) == (5, 4, 3)
    assert result.max_ms == 40.0
    assert result.p50_ms == pytest.approx(25.0)
    assert stats(count=2, matched=0, latencies_ms=[]).p99_ms is None
