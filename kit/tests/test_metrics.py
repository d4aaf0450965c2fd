"""kit.metrics: the pool and cache-ratio gauges, read from a real engine's pool and kit.cache's own counter; the
outbox's backlog (rows and the oldest one's age) that the relay exports."""

from __future__ import annotations

import redis.asyncio as aioredis
import sqlalchemy as sa
from prometheus_client import REGISTRY

from kit import metrics
from kit.cache import CACHE_REQUESTS
from kit.tests.conftest import Db
from kit.tests.test_outbox import relay, write_things
from tests.support.infra import unique


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_the_pool_gauges_follow_checkouts(db: Db) -> None:
    service = unique("svc")
    metrics.watch_pool(service, db.engine)
    async with db.engine.connect() as first:
        await first.execute(sa.text("SELECT 1"))
        async with db.engine.connect() as second:
            await second.execute(sa.text("SELECT 1"))
            assert sample("hearth_db_pool_connections", service=service, state="checked_out") == 2
            assert sample("hearth_db_pool_size", service=service) == 4
    assert sample("hearth_db_pool_connections", service=service, state="checked_out") == 0
    assert sample("hearth_db_pool_connections", service=service, state="idle") == 2
    assert sample("hearth_db_pool_connections", service=service, state="overflow") == 0


def test_the_hit_ratio_counts_local_and_redis_hits_over_lookups() -> None:
    cache = unique("cache")
    assert sample("hearth_cache_hit_ratio", cache=cache) is None  # no lookup yet: no ratio, not 0
    CACHE_REQUESTS.labels(cache, "local", "hit").inc(3)
    CACHE_REQUESTS.labels(cache, "local", "miss").inc(5)  # each followed by the Redis read below
    CACHE_REQUESTS.labels(cache, "read", "hit").inc(1)
    CACHE_REQUESTS.labels(cache, "read", "miss").inc(3)
    CACHE_REQUESTS.labels(cache, "read", "bypassed").inc(1)
    CACHE_REQUESTS.labels(cache, "write", "stored").inc(7)  # not a lookup
    assert sample("hearth_cache_hit_ratio", cache=cache) == 4 / 8


async def test_the_backlog_is_the_unpublished_rows_and_the_oldest_age(db: Db, redis_client: aioredis.Redis) -> None:
    publisher = relay(db, redis_client, unique("t") + ".events.kit")
    assert await publisher.backlog() == (0, 0.0)
    await write_things(db, 2)
    async with db.sessions() as session, session.begin():
        await session.execute(sa.text("UPDATE outbox SET created_at = created_at - interval '90 seconds'"))
    count, age = await publisher.backlog()
    assert count == 2
    assert 90 <= age < 120
    await publisher.drain()
    assert await publisher.backlog() == (0, 0.0)
