"""kit.cache's in-process tier and what keeps it honest, against a real Redis: the LRU itself, invalidations
published to every process (each "process" here is its own TieredCache with its own feed and subscription),
one fill per key, invalidations that overtake a slow fill, a feed that falls silent (a SIGSTOPped Redis), and
the warm-up of a starting replica."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY, generate_latest

from kit.cache import InvalidationFeed, LocalTier, SignedCache, TieredCache, invalidation_channel
from tests.support.throwaway_redis import ThrowawayRedis, throwaway_redis
from tests.support.wait import eventually

SECRET = b"0123456789abcdef0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --- the LRU -------------------------------------------------------------------------------------------


def test_entries_expire_and_the_least_recently_used_goes_first() -> None:
    clock = Clock()
    tier = LocalTier("t-lru", max_entries=2, ttl=10, clock=clock)
    evicted = REGISTRY.get_sample_value("hearth_cache_evictions_total", {"cache": "t-lru"}) or 0.0
    assert tier.put("a", "a", b"1", tier.mark())
    assert tier.put("b", "b", b"2", tier.mark())
    assert tier.get("a") == b"1"  # a is now the most recent
    assert tier.put("c", "c", b"3", tier.mark())
    assert (tier.get("a"), tier.get("b"), tier.get("c")) == (b"1", None, b"3")
    assert REGISTRY.get_sample_value("hearth_cache_evictions_total", {"cache": "t-lru"}) == evicted + 1
    clock.now += 10
    assert tier.get("a") is None
    assert len(tier) == 1  # c: expired too, but only dropped when read


def test_a_scope_drops_every_entry_under_it_and_refuses_fills_begun_before() -> None:
    tier = LocalTier("t-scope", max_entries=10, ttl=10)
    before = tier.mark()
    assert tier.put("page-1", "household-1", b"p1", before)
    assert tier.put("page-2", "household-1", b"p2", before)
    assert tier.put("other", "household-2", b"o", before)
    tier.drop("household-1")
    assert (tier.get("page-1"), tier.get("page-2"), tier.get("other")) == (None, None, b"o")
    assert not tier.put("page-1", "household-1", b"read before the drop", before)
    assert tier.put("other", "household-2", b"another scope", before)
    after = tier.mark()
    assert tier.put("page-1", "household-1", b"read after the drop", after)
    tier.clear()
    assert tier.get("page-1") is None
    assert not tier.put("page-1", "household-1", b"read before the clear", after)
    assert tier.put("page-1", "household-1", b"fresh", tier.mark())


def test_forgetting_old_tombstones_never_lets_an_old_fill_in() -> None:
    tier = LocalTier("t-tombstones", max_entries=10, ttl=10)
    before = tier.mark()
    tier.drop("s-0")
    for n in range(1, LocalTier.TOMBSTONES + 1):  # pushes s-0's tombstone out
        tier.drop(f"s-{n}")
    assert not tier.put("k", "s-0", b"stale", before)
    assert tier.put("k", "s-0", b"fresh", tier.mark())


# --- tiers over a real Redis ---------------------------------------------------------------------------


class Process:
    """What one replica holds: its Redis-tier cache, its feed (own subscription) and the tiered cache."""

    def __init__(self, redis: aioredis.Redis, prefix: str, *, staleness: float = 1.0, timeout: float = 2.0) -> None:
        self.remote = SignedCache(redis, prefix=prefix, secret=SECRET, ttl=60, name="things", timeout=timeout)
        self.feed = InvalidationFeed(redis, invalidation_channel(prefix), staleness=staleness, heartbeat=staleness / 5)
        self.cache = TieredCache(self.remote, feed=self.feed, local_entries=100)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.feed.run())
        await asyncio.wait_for(self.feed.ready.wait(), 5)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


@contextlib.asynccontextmanager
async def processes(redis: aioredis.Redis, prefix: str, count: int, **kwargs: float) -> AsyncIterator[list[Process]]:
    started = [Process(redis, prefix, **kwargs) for _ in range(count)]
    try:
        for process in started:
            await process.start()
        yield started
    finally:
        for process in started:
            await process.stop()


def source(values: dict[str, bytes]) -> tuple[Callable[[str], Callable[[], Awaitable[bytes | None]]], list[str]]:
    """A source of truth that records every time it is asked."""
    asked: list[str] = []

    def fill(key: str) -> Callable[[], Awaitable[bytes | None]]:
        async def ask() -> bytes | None:
            asked.append(key)
            return values.get(key)

        return ask

    return fill, asked


async def test_a_write_on_one_replica_is_seen_by_the_next_read_on_another(
    redis_client: aioredis.Redis, namespace: str
) -> None:
    async with processes(redis_client, f"{namespace}:svc", 2) as (one, other):
        values = {"k": b"v1"}
        fill, asked = source(values)
        key, scope = one.cache.key("h1", "page", "k"), one.cache.key("h1", "pages")
        assert await one.cache.fetch(key, fill("k"), scope=scope) == b"v1"
        assert await other.cache.fetch(key, fill("k"), scope=scope) == b"v1"  # from Redis, then kept locally
        assert asked == ["k"]
        assert other.cache.local is not None
        assert other.cache.local.get(key) == b"v1"

        values["k"] = b"v2"  # the write...
        await one.cache.invalidate(scope)  # ...and its invalidation, on the first replica

        async def dropped_there() -> bool:
            return other.cache.local is not None and other.cache.local.get(key) is None

        await eventually(dropped_there, timeout=1.0)
        assert await other.cache.fetch(key, fill("k"), scope=scope) == b"v2"
        assert await one.cache.fetch(key, fill("k"), scope=scope) == b"v2"


async def test_a_cold_key_is_filled_once_however_many_ask_at_once(redis_client: aioredis.Redis, namespace: str) -> None:
    async with processes(redis_client, f"{namespace}:svc", 1) as (process,):
        release = asyncio.Event()
        asked = 0

        async def slow() -> bytes | None:
            nonlocal asked
            asked += 1
            await release.wait()
            return b"answer"

        key = process.cache.key("popular")
        readers = [asyncio.create_task(process.cache.fetch(key, slow)) for _ in range(20)]
        joined = {"cache": process.remote.label, "operation": "fill", "outcome": "joined"}
        before = REGISTRY.get_sample_value("hearth_cache_requests_total", joined) or 0.0

        async def all_waiting() -> bool:
            # Each reader's Redis read returns in its own time: released earlier, a late one finds no flight and
            # rightly fills again. The other 19 must have joined the first reader's fill.
            return (REGISTRY.get_sample_value("hearth_cache_requests_total", joined) or 0.0) - before == 19

        await eventually(all_waiting)
        release.set()
        assert await asyncio.gather(*readers) == [b"answer"] * 20
        assert asked == 1


async def test_a_failed_fill_is_not_shared_each_waiter_asks_itself(
    redis_client: aioredis.Redis, namespace: str
) -> None:
    async with processes(redis_client, f"{namespace}:svc", 1) as (process,):
        release = asyncio.Event()
        calls = 0

        async def flaky() -> bytes | None:
            nonlocal calls
            calls += 1
            if calls == 1:
                await release.wait()
                raise RuntimeError("the source failed once")
            return b"answer"

        key = process.cache.key("flaky")
        first = asyncio.create_task(process.cache.fetch(key, flaky))
        await eventually(lambda: _true(calls == 1))
        joined = {"cache": process.remote.label, "operation": "fill", "outcome": "joined"}
        before = REGISTRY.get_sample_value("hearth_cache_requests_total", joined) or 0.0
        second = asyncio.create_task(process.cache.fetch(key, flaky))

        async def second_waiting() -> bool:  # on the first fill, not on its own
            return (REGISTRY.get_sample_value("hearth_cache_requests_total", joined) or 0.0) == before + 1

        await eventually(second_waiting)
        release.set()
        with pytest.raises(RuntimeError):
            await first
        assert await second == b"answer"


async def test_an_invalidation_during_a_slow_fill_wins_in_both_tiers(
    redis_client: aioredis.Redis, namespace: str
) -> None:
    async with processes(redis_client, f"{namespace}:svc", 1) as (process,):
        release = asyncio.Event()
        values = {"v": b"old"}

        async def slow() -> bytes | None:
            value = values["v"]  # read from the source before the write lands
            await release.wait()
            return value

        key = process.cache.key("k")
        reader = asyncio.create_task(process.cache.fetch(key, slow))
        await asyncio.sleep(0.05)
        values["v"] = b"new"
        await process.cache.invalidate(key)
        release.set()
        assert await reader == b"old"  # that reader saw the old value...
        assert process.cache.local is not None
        assert process.cache.local.get(key) is None  # ...nobody else will
        assert not await redis_client.exists(key)
        fill, asked = source({key: b"new"})
        assert await process.cache.fetch(key, fill(key)) == b"new"
        assert asked == [key]


async def test_negative_answers_are_not_cached(redis_client: aioredis.Redis, namespace: str) -> None:
    async with processes(redis_client, f"{namespace}:svc", 1) as (process,):
        fill, asked = source({})
        key = process.cache.key("nobody")
        assert await process.cache.fetch(key, fill(key)) is None
        assert await process.cache.fetch(key, fill(key)) is None
        assert asked == [key, key]


async def test_a_starting_replica_warms_its_local_tier_from_the_hot_keys(
    redis_client: aioredis.Redis, namespace: str
) -> None:
    prefix = f"{namespace}:svc"
    async with processes(redis_client, prefix, 1) as (first,):
        values = {f"k{n}": f"v{n}".encode() for n in range(3)}
        fill, asked = source(values)
        keys = [first.cache.key(name) for name in values]
        for key, name in zip(keys, values, strict=True):
            assert await first.cache.fetch(key, fill(name)) == values[name]
        await first.cache.invalidate(keys[2])  # dropped: must not be warmed back
        async with processes(redis_client, prefix, 1) as (starting,):
            assert await starting.cache.warm() == 2
            assert starting.cache.local is not None
            assert [starting.cache.local.get(key) for key in keys] == [b"v0", b"v1", None]
            assert await starting.cache.fetch(keys[0], fill("k0")) == b"v0"
        assert asked == ["k0", "k1", "k2"]  # the warm replica asked nothing


# --- a silent feed: a hung Redis -------------------------------------------------------------------------


@pytest.fixture
async def spare() -> AsyncIterator[ThrowawayRedis]:
    async with throwaway_redis() as server:
        yield server


async def test_a_silent_feed_stops_local_answers_within_its_staleness_bound(spare: ThrowawayRedis) -> None:
    async with spare.client() as redis, processes(redis, "ns:svc", 1, staleness=0.3, timeout=0.1) as (process,):
        values = {"k": b"v1"}
        fill, _ = source(values)
        key = process.cache.key("k")
        assert await process.cache.fetch(key, fill("k")) == b"v1"
        assert process.feed.live()

        spare.stop()  # SIGSTOP: the subscription's TCP connection stays up, but nothing is heard any more
        try:
            await eventually(lambda: _true(not process.feed.live()), timeout=2.0)
            values["k"] = b"v2"  # changed meanwhile; whoever changed it could not reach this process
            assert await process.cache.fetch(key, fill("k")) == b"v2"  # Redis times out: the source answers
        finally:
            spare.resume()
        await eventually(lambda: _true(process.feed.live()), timeout=5.0)
        assert process.cache.local is not None
        assert process.cache.local.get(key) is None  # emptied on return
        assert live_gauge(process.feed.channel) == 1


def live_gauge(channel: str) -> float | None:
    return REGISTRY.get_sample_value("hearth_cache_feed_live", {"channel": channel})


async def _true(value: bool) -> bool:
    return value


def test_metrics_are_exported() -> None:
    text = generate_latest(REGISTRY).decode()
    for name in ("hearth_cache_evictions_total", "hearth_cache_local_entries", "hearth_cache_feed_live"):
        assert name in text
