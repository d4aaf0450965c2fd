"""Request rate, error rate and p99 latency of this gateway process, from its own Prometheus RED metrics.

`RedWindow.summary()` reads `hearth_http_requests_total` and `hearth_http_request_duration_seconds`
(gateway.middleware) in-process and compares them with a reading about `window` seconds old: the answer is
over the recent window, not since start (`window_seconds` says exactly how long; until the gateway has run that
long, it is since start). A reading is kept at most once a second, so memory stays bounded however often it is
asked. The operations routes themselves (/health/*, /status, /metrics) are left out: the status page asks every
few seconds and would otherwise be the traffic it shows. Errors are 5xx answers; p99 is interpolated within the
histogram's buckets, as Prometheus' `histogram_quantile` does.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from gateway.middleware import LATENCY, REQUESTS

OPERATIONS = ("/health", "/status", "/metrics")
# Answers that last as long as the client listens (Server-Sent Events, gateway.routes.live): counted as requests,
# but their durations are how long someone watched, not how fast we answered — they stay out of the p99.
LONG_LIVED = frozenset({"/api/v1/households/{hid}/events"})
# The counters count from the process's start (about when this module is imported).
STARTED = time.monotonic()


@dataclass(frozen=True)
class Reading:
    at: float
    requests: float = 0.0
    errors: float = 0.0
    # Cumulative counts per upper bound (seconds), +Inf last.
    buckets: tuple[tuple[float, float], ...] = ()


def _counted(route: str) -> bool:
    return not route.startswith(OPERATIONS)


def read(at: float) -> Reading:
    requests = errors = 0.0
    for metric in REQUESTS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and _counted(sample.labels["route"]):
                requests += sample.value
                if sample.labels["status"].startswith("5"):
                    errors += sample.value
    buckets: dict[float, float] = {}
    for metric in LATENCY.collect():
        for sample in metric.samples:
            route = sample.labels["route"]
            if sample.name.endswith("_bucket") and _counted(route) and route not in LONG_LIVED:
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return Reading(at, requests, errors, tuple(sorted(buckets.items())))


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile (seconds) of cumulative bucket counts; None without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bucket: its bound is all that is known
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


@dataclass
class RedWindow:
    window: float
    _readings: deque[Reading] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self._readings.append(Reading(STARTED))  # the process's start: nothing counted yet

    def summary(self) -> dict[str, Any]:
        now = read(time.monotonic())
        readings = self._readings
        if now.at - readings[-1].at >= 1.0:
            readings.append(now)
        # The base: the newest reading at least `window` old (or the oldest there is).
        while len(readings) > 1 and now.at - readings[1].at >= self.window:
            readings.popleft()
        base = readings[0]
        elapsed = max(now.at - base.at, 1e-9)
        requests = now.requests - base.requests
        errors = now.errors - base.errors
        before = dict(base.buckets)
        deltas = [(bound, count - before.get(bound, 0.0)) for bound, count in now.buckets]
        p99 = quantile(0.99, deltas)
        return {
            "window_seconds": round(elapsed, 1),
            "requests": int(requests),
            "requests_per_second": round(requests / elapsed, 3),
            "errors": int(errors),
            "error_ratio": round(errors / requests, 4) if requests else 0.0,
            "p99_ms": round(p99 * 1000, 1) if p99 is not None else None,
        }
