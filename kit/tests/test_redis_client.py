"""kit.redis_client against the real Redis: a burst of more commands at once than redis-py's default pool holds."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from kit import redis_client
from tests.support.infra import infra

BURST = 150  # more than redis-py 8's default pool of 100 connections


async def _burst(client: aioredis.Redis, key: str) -> list[object]:
    # Each BLPOP holds its connection for 50 ms: all of them are in flight at once.
    return await asyncio.gather(*(client.blpop([key], timeout=0.05) for _ in range(BURST)), return_exceptions=True)


async def test_a_burst_beyond_the_default_pool_waits_for_connections_instead_of_failing() -> None:
    key = f"t:{uuid.uuid4().hex}:nothing"
    # 20 connections for 150 commands: most of them wait their turn (about 8 rounds of 50 ms).
    client = redis_client.connect(infra().redis_url, socket_timeout=10, socket_connect_timeout=5, max_connections=20)
    try:
        answers = await _burst(client, key)
        assert answers == [None] * BURST  # every BLPOP ran and timed out on the empty list: no error
    finally:
        await client.aclose()

    default = aioredis.Redis.from_url(infra().redis_url)  # what every process used before
    try:
        failed = [a for a in await _burst(default, key) if isinstance(a, Exception)]
        assert failed, "redis-py's default pool took the burst: the reason for kit.redis_client is gone"
        assert all(isinstance(a, RedisConnectionError) for a in failed)
    finally:
        await default.aclose()


async def test_a_command_waits_for_a_connection_no_longer_than_the_socket_timeout() -> None:
    client = redis_client.connect(infra().redis_url, socket_timeout=0.2, socket_connect_timeout=1, max_connections=1)
    listener = client.pubsub()
    try:
        await listener.subscribe(f"t:{uuid.uuid4().hex}")  # holds the pool's one connection
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await client.get("t:anything")
        await listener.aclose()  # the connection is back
        assert await client.get(f"t:{uuid.uuid4().hex}") is None
    finally:
        await client.aclose()
