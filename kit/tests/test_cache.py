"""kit.cache.SignedCache against a real Redis: authenticated entries, generation-checked writes, Redis down."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from kit.cache import SignedCache

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
