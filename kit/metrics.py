"""Prometheus gauges computed when scraped: database pool usage and cache hit ratios.

Read at scrape time rather than kept up to date on every checkout or cache read, so the hot paths pay nothing
for them: the pool is asked for its numbers (SQLAlchemy's `QueuePool.checkedout()`, `size()`, `overflow()`),
and the hit ratio is derived from `hearth_cache_requests_total`, which kit.cache counts anyway.

- `hearth_db_pool_connections{service,state}`: `checked_out` (in use by a request or job), `idle` (open,
  waiting in the pool), `overflow` (opened beyond the pool's size); `hearth_db_pool_size{service}` the configured
  size. A pool near `size + max_overflow` checked out is a service about to queue for connections.
- `hearth_cache_hit_ratio{cache}`: hits over lookups since the process started. A lookup is served by the
  in-process tier (a local hit) or goes to Redis (hit, miss, or bypassed while Redis is unavailable: a miss for
  the caller); a local miss is counted once, by the Redis read that follows it.
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.cache import CACHE_REQUESTS

_pools: weakref.WeakKeyDictionary[AsyncEngine, str] = weakref.WeakKeyDictionary()
_lock = threading.Lock()  # scrapes run on prometheus_client's thread, registrations on the event loop's


def watch_pool(service: str, engine: AsyncEngine) -> None:
    """Export `engine`'s pool as `service`'s (engines of one service in one process — a test's replicas — add up).
    Forgotten when the engine is garbage: nothing to unregister."""
    with _lock:
        _pools[engine] = service


class PoolCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        connections = GaugeMetricFamily(
            "hearth_db_pool_connections",
            "Database connections of the service's pool, by state",
            labels=["service", "state"],
        )
        sizes = GaugeMetricFamily("hearth_db_pool_size", "Configured size of the service's pool", labels=["service"])
        totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        with _lock:
            engines = list(_pools.items())
        for engine, service in engines:
            pool = engine.sync_engine.pool
            # QueuePool (every service's); another pool class has not all of these, and is skipped.
            checked_out = getattr(pool, "checkedout", None)
            size = getattr(pool, "size", None)
            overflow = getattr(pool, "overflow", None)
            idle = getattr(pool, "checkedin", None)
            if not (callable(checked_out) and callable(size) and callable(overflow) and callable(idle)):
                continue
            numbers = totals[service]
            numbers["checked_out"] += checked_out()
            numbers["idle"] += idle()
            numbers["overflow"] += max(0, overflow())
            numbers["size"] += size()
        for service, numbers in sorted(totals.items()):
            for state in ("checked_out", "idle", "overflow"):
                connections.add_metric([service, state], numbers[state])
            sizes.add_metric([service], numbers["size"])
        yield connections
        yield sizes


class CacheRatioCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        ratio = GaugeMetricFamily(
            "hearth_cache_hit_ratio", "Cache hits over lookups since the process started", labels=["cache"]
        )
        hits: dict[str, float] = defaultdict(float)
        lookups: dict[str, float] = defaultdict(float)
        for metric in CACHE_REQUESTS.collect():
            for sample in metric.samples:
                if not sample.name.endswith("_total"):
                    continue
                cache, operation, outcome = (sample.labels[k] for k in ("cache", "operation", "outcome"))
                if (operation, outcome) in (("local", "hit"), ("read", "hit")):
                    hits[cache] += sample.value
                    lookups[cache] += sample.value
                elif (operation, outcome) in (("read", "miss"), ("read", "bypassed"), ("read", "error")):
                    lookups[cache] += sample.value
        for cache in sorted(lookups):
            if lookups[cache]:
                ratio.add_metric([cache], hits[cache] / lookups[cache])
        yield ratio


REGISTRY.register(PoolCollector())
REGISTRY.register(CacheRatioCollector())

__all__ = ["CacheRatioCollector", "PoolCollector", "watch_pool"]
