"""kit.cache.SignedCache against a real Redis: authenticated entries, generation-checked writes, Redis down, and
Redis hung (a throw-away redis-server, SIGSTOPped): bounded calls, the circuit breaker, lost invalidations."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY, generate_latest
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from kit.breaker import BreakerState, CircuitBreaker
from kit.cache import SignedCache
from tests.support.throwaway_redis import ThrowawayRedis, throwaway_redis

SECRET = b"0123456789abcdef0123456789abcdef"


def cache(redis: aioredis.Redis, namespace: str, secret: bytes = SECRET) -> SignedCache:
    return SignedCache(redis, prefix=f"{namespace}:svc", secret=secret, ttl=30)


async def test_a_written_entry_reads_back_and_expires(redis_client: aioredis.Redis, namespace: str) -> None:
    c = cache(redis_client, namespace)
    key = c.key("h1", "thing", "u1", "v1")
    assert key == f"{namespace}:svc:h1:thing:u1:v1"
    miss = await c.read(key)
    assert miss.value is None
    assert await c.write(key, b"answer", miss.generation)
    assert (await c.read(key)).value == b"answer"
    assert 0 < await redis_client.ttl(key) <= 30


async def test_unsigned_altered_moved_or_foreign_entries_are_misses(
    redis_client: aioredis.Redis, namespace: str
) -> None:
    c = cache(redis_client, namespace)
    here, there = c.key("a"), c.key("b")
    await redis_client.set(here, b"plain value, no tag")
    assert (await c.read(here)).value is None
    await c.write(here, b"genuine", b"")
    stored = await redis_client.get(here)
    await redis_client.set(here, stored[:-1] + b"X")
    assert (await c.read(here)).value is None
    await redis_client.set(there, stored)  # a genuine entry under another key
    assert (await c.read(there)).value is None
    other = cache(redis_client, namespace, secret=b"another secret of 32 bytes......")
    await redis_client.set(here, other.seal(here, b"genuine"))
    assert (await c.read(here)).value is None
    await redis_client.set(here, b"")
    assert (await c.read(here)).value is None


async def test_a_value_read_before_an_invalidation_is_not_written_over_it(
    redis_client: aioredis.Redis, namespace: str
) -> None:
    c = cache(redis_client, namespace)
    key = c.key("k")
    before = await c.read(key)
    await c.invalidate(key)
    assert not await c.write(key, b"stale", before.generation)
    assert not await redis_client.exists(key)
    after = await c.read(key)
    assert await c.write(key, b"fresh", after.generation)


def test_weak_secrets_and_ttls_are_refused(redis_client: aioredis.Redis) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        SignedCache(redis_client, prefix="p", secret=b"short", ttl=10)
    with pytest.raises(ValueError, match="ttl"):
        SignedCache(redis_client, prefix="p", secret=SECRET, ttl=0)


async def test_redis_down_is_a_miss_and_writes_are_skipped() -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        c = cache(dead, "ns")
        assert (await c.read("ns:svc:k")).value is None
        assert not await c.write("ns:svc:k", b"v", b"")
        await c.invalidate("ns:svc:k")  # logged, not raised
    finally:
        await dead.aclose()


# --- A hung Redis (SIGSTOP on a throw-away redis-server): bounded calls, the breaker, lost invalidations ---

TIMEOUT = 0.1


class Clock:
    """The breaker's clock, moved by the test: the cool-down passes without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def spare() -> AsyncIterator[ThrowawayRedis]:
    async with throwaway_redis() as server:
        yield server


@pytest.fixture
async def short_client(spare: ThrowawayRedis) -> AsyncIterator[aioredis.Redis]:
    """Like kit.runtime.cache_client: short socket timeouts, no retries."""
    client = aioredis.Redis.from_url(
        spare.url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT, retry=Retry(NoBackoff(), 0)
    )
    yield client
    await client.aclose()


def guarded(client: aioredis.Redis, namespace: str, clock: Clock, *, failures: int = 3) -> SignedCache:
    b = CircuitBreaker(f"{namespace}:svc:cache", failures=failures, cooldown=5, clock=clock)
    return SignedCache(client, prefix=f"{namespace}:svc", secret=SECRET, ttl=300, breaker=b, timeout=TIMEOUT)


def counted(c: SignedCache, operation: str, outcome: str) -> float:
    labels = {"cache": c.prefix, "operation": operation, "outcome": outcome}
    return REGISTRY.get_sample_value("hearth_cache_requests_total", labels) or 0.0


async def test_a_hung_redis_costs_one_short_timeout_per_call_then_nothing(
    spare: ThrowawayRedis, short_client: aioredis.Redis, namespace: str
) -> None:
    clock = Clock()
    c = guarded(short_client, namespace, clock, failures=3)
    key = c.key("h", "thing", "u", "v1")
    assert await c.write(key, b"answer", (await c.read(key)).generation)
    assert (await c.read(key)).value == b"answer"
    assert counted(c, "read", "hit") == 1

    spare.stop()
    for _ in range(3):
        started = time.monotonic()
        assert (await c.read(key)).value is None
        assert time.monotonic() - started < 1.0  # generous: the timeout is 0.1 s
    assert c.breaker.state is BreakerState.OPEN
    assert counted(c, "read", "error") == 3
    started = time.monotonic()
    for _ in range(50):  # open: Redis is not even asked
        assert (await c.read(key)).value is None
        assert not await c.write(key, b"other", b"")
    assert time.monotonic() - started < 0.5
    assert counted(c, "read", "bypassed") == 50

    spare.resume()
    clock.now += 5  # the cool-down
    assert (await c.read(key)).value == b"answer"  # the trial: the cache is used again
    assert c.breaker.state is BreakerState.CLOSED
    assert counted(c, "read", "hit") == 2


async def test_a_failed_trial_keeps_it_bypassed(
    spare: ThrowawayRedis, short_client: aioredis.Redis, namespace: str
) -> None:
    clock = Clock()
    c = guarded(short_client, namespace, clock, failures=1)
    spare.stop()
    await c.read(c.key("k"))
    assert c.breaker.state is BreakerState.OPEN
    clock.now += 5
    await c.read(c.key("k"))  # the trial, still hung
    assert c.breaker.state is BreakerState.OPEN
    assert counted(c, "read", "error") == 2


async def test_an_invalidation_lost_while_redis_hangs_flushes_every_entry_once_it_answers(
    spare: ThrowawayRedis, short_client: aioredis.Redis, namespace: str
) -> None:
    clock = Clock()
    c = guarded(short_client, namespace, clock, failures=1)
    replica = guarded(short_client, namespace, Clock())  # another process with the same secret
    removed, other = c.key("h", "membership", "removed"), c.key("h", "membership", "other")
    for key in (removed, other):
        assert await c.write(key, b"member", (await c.read(key)).generation)
    assert (await replica.read(removed)).value == b"member"

    spare.stop()
    await c.invalidate(removed)  # times out: the breaker opens, the invalidation is lost...
    assert c.flush_pending
    await c.invalidate(other)  # ...and one skipped while open is lost too
    assert counted(c, "invalidate", "error") == 1
    assert counted(c, "invalidate", "bypassed") == 1

    spare.resume()
    async with spare.client() as admin:
        # The timed-out one may still land (Redis reads what its socket buffered once it runs again); the
        # skipped one never reached Redis: only the flush stands between that entry and a reader.
        assert await admin.exists(other)
    clock.now += 5
    assert (await c.read(other)).value is None  # the trial bumps the epoch first, then reads
    assert not c.flush_pending
    assert c.breaker.state is BreakerState.CLOSED
    assert counted(c, "flush", "ok") == 1
    assert (await c.read(removed)).value is None
    assert (await replica.read(other)).value is None  # every replica: the epoch lives in Redis
    fresh = await c.read(other)
    assert await c.write(other, b"not a member any more", fresh.generation)
    assert (await replica.read(other)).value == b"not a member any more"


async def test_a_value_read_before_a_flush_is_not_written_after_it(
    spare: ThrowawayRedis, short_client: aioredis.Redis, namespace: str
) -> None:
    clock = Clock()
    c = guarded(short_client, namespace, clock, failures=1)
    key = c.key("k")
    before = await c.read(key)
    spare.stop()
    await c.invalidate(c.key("elsewhere"))
    spare.resume()
    clock.now += 5
    assert not await c.write(key, b"read before the flush", before.generation)  # flushes, then refuses
    async with spare.client() as admin:
        assert not await admin.exists(key)
    after = await c.read(key)
    assert await c.write(key, b"fresh", after.generation)


async def test_while_a_flush_is_owed_no_entry_is_read(
    spare: ThrowawayRedis, short_client: aioredis.Redis, namespace: str
) -> None:
    clock = Clock()
    c = guarded(short_client, namespace, clock, failures=1)
    key = c.key("k")
    assert await c.write(key, b"v", (await c.read(key)).generation)
    spare.stop()
    await c.invalidate(key)
    spare.resume()
    assert c.breaker.state is BreakerState.OPEN  # cool-down not over: bypassed, not read
    assert (await c.read(key)).value is None
    assert c.flush_pending


async def test_metrics_are_exported() -> None:
    text = generate_latest(REGISTRY).decode()
    assert "hearth_cache_requests_total" in text
    assert "hearth_breaker_state" in text


async def test_a_slow_redis_misses_reads_but_keeps_invalidations(spare: ThrowawayRedis, namespace: str) -> None:
    """A Redis that answers late (here every client paused for 0.4 s; in production, mostly this process's own
    saturated event loop) turns reads into misses but still takes the invalidation: no flush owed, entry gone."""
    client = aioredis.Redis.from_url(spare.url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    try:
        b = CircuitBreaker(f"{namespace}:svc:cache", failures=5, cooldown=5, clock=Clock())
        c = SignedCache(
            client, prefix=f"{namespace}:svc", secret=SECRET, ttl=300, breaker=b, timeout=TIMEOUT, invalidate_timeout=1
        )
        key = c.key("h", "membership", "u")
        assert await c.write(key, b"member", (await c.read(key)).generation)
        async with spare.client() as admin:
            await admin.client_pause(400, all=True)  # in force once it returns: no other client is answered
        started = time.monotonic()
        assert (await c.read(key)).value is None  # the read gives up after 0.1 s: a miss
        assert time.monotonic() - started < 0.3
        assert await c.invalidate(key)  # the invalidation waits the pause out
        assert not c.flush_pending
        assert counted(c, "invalidate", "ok") == 1
        assert counted(c, "read", "error") == 1
        assert (await c.read(key)).value is None
    finally:
        await client.aclose()


def test_an_invalidation_is_never_bounded_shorter_than_a_read(redis_client: aioredis.Redis) -> None:
    c = SignedCache(redis_client, prefix="p", secret=SECRET, ttl=30, timeout=0.5, invalidate_timeout=0.2)
    assert c.invalidate_timeout == 0.5
    with pytest.raises(ValueError, match="timeouts must be positive"):
        SignedCache(redis_client, prefix="p", secret=SECRET, ttl=30, invalidate_timeout=0)


def test_no_entry_can_be_named_like_the_caches_own_keys(redis_client: aioredis.Redis) -> None:
    """The hot-key set and the epoch counter live beside the entries, under the same prefix: an entry named "hot"
    would be overwritten by (and break) the set every write adds to."""
    c = SignedCache(redis_client, prefix="p", secret=SECRET, ttl=30)
    for reserved in ("hot", "epoch"):
        with pytest.raises(ValueError, match="the cache's own key"):
            c.key(reserved)
    assert c.key("hot", "v1") == "p:hot:v1"
