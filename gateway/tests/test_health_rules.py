"""The pure rules of gateway.health and gateway.red_summary: how bad a failure is, and the p99 of buckets."""

from __future__ import annotations

import itertools
import math

import pytest
from google.protobuf import duration_pb2
from hearth.status.v1 import status_pb2

from gateway.health import judge, overall, worst
from gateway.middleware import LATENCY, REQUESTS
from gateway.red_summary import _counted, quantile, read

OK = status_pb2.DependencyCheck.OK
DOWN = status_pb2.DependencyCheck.DOWN
LIMIT = 1000


def reported(database: int = OK, redis: int = OK, rss: int = 10) -> status_pb2.ServiceStatus:
    return status_pb2.ServiceStatus(
        serving=True,
        database=status_pb2.DependencyCheck(state=database, latency=duration_pb2.Duration()),
        redis=status_pb2.DependencyCheck(state=redis),
        rss_bytes=rss,
    )


@pytest.mark.parametrize(
    ("service", "failed"), [("user", "down"), ("task", "down"), ("notify", "degraded"), ("analytics", "degraded")]
)
def test_a_service_that_does_not_work_is_down_if_chores_need_it_else_degraded(service: str, failed: str) -> None:
    assert judge(service, True, reported(), LIMIT) == "ok"
    assert judge(service, False, None, LIMIT) == failed  # unreachable or NOT_SERVING
    assert judge(service, False, reported(), LIMIT) == failed
    assert judge(service, True, reported(database=DOWN), LIMIT) == failed
    assert judge(service, True, reported(redis=DOWN), LIMIT) == "degraded"
    assert judge(service, True, reported(rss=LIMIT + 1), LIMIT) == "degraded"
    assert judge(service, True, None, LIMIT) == "degraded"  # serving, but silent about its dependencies


def test_the_overall_state_is_the_worst_part() -> None:
    states = ["ok", "degraded", "down"]
    for combination in itertools.product(states, repeat=3):
        parts = {str(n): {"status": s} for n, s in enumerate(combination)}
        expected = "down" if "down" in combination else "degraded" if "degraded" in combination else "ok"
        assert overall(parts) == worst(list(combination)) == expected
    assert overall({}) == "ok"


def test_p99_interpolates_within_the_bucket_like_prometheus() -> None:
    # 100 observations: 90 under 10 ms, 9 more under 50 ms, the last under 100 ms.
    buckets = [(0.01, 90.0), (0.05, 99.0), (0.1, 100.0), (math.inf, 100.0)]
    assert quantile(0.99, buckets) == pytest.approx(0.05)
    assert quantile(0.5, buckets) == pytest.approx(0.01 * 50 / 90)
    assert quantile(0.995, buckets) == pytest.approx(0.075)


def test_p99_beyond_the_last_finite_bucket_is_that_bucket_and_none_without_requests() -> None:
    assert quantile(0.99, [(0.01, 1.0), (math.inf, 100.0)]) == 0.01
    assert quantile(0.99, [(0.01, 0.0), (math.inf, 0.0)]) is None
    assert quantile(0.99, []) is None


@pytest.mark.parametrize(
    ("route", "counted"),
    [
        ("/api/v1/users/me", True),
        ("/api/v1/households/{household_id}/chores", True),
        ("/.well-known/jwks.json", True),
        ("/health/status", False),
        ("/health/metrics-summary", False),
        ("/status", False),
        ("/status/static/{name}", False),
        ("/metrics", False),
        ("/metrics/{service}", False),
    ],
)
def test_the_metrics_summary_counts_api_routes_and_leaves_out_the_operations_routes(route: str, counted: bool) -> None:
    assert _counted(route) is counted


def test_a_live_stream_counts_as_a_request_but_not_in_the_p99() -> None:
    """An SSE answer lasts as long as someone listens: an hour of it is no slow request."""
    events = "/api/v1/households/{hid}/events"
    before = read(0.0)
    REQUESTS.labels("GET", events, "200").inc()
    LATENCY.labels("GET", events, "200").observe(3600.0)
    after = read(0.0)
    assert after.requests == before.requests + 1
    assert after.buckets == before.buckets
