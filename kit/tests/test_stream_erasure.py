"""kit.erasure.erase_from_stream on a real Redis stream: the entries naming a deleted person go, but only those every
consumer group has read and acknowledged — a lagging group's unread entries and any group's pending ones stay."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from kit.erasure import erase_from_stream
from tests.support.infra import infra, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")

GONE, OTHER = uuid.uuid4(), uuid.uuid4()


@pytest_asyncio.fixture(loop_scope="module")
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(infra().redis_url)
    yield client
    await client.aclose()


async def add(redis: aioredis.Redis, stream: str, person: uuid.UUID) -> bytes:
    entry: bytes = await redis.xadd(stream, {"envelope": f"event of {person}".encode(), "type": "t"})
    return entry


async def test_only_entries_every_group_has_read_and_acknowledged_are_deleted(redis: aioredis.Redis) -> None:
    stream = unique("erasure.stream")
    try:
        early = [await add(redis, stream, GONE), await add(redis, stream, OTHER), await add(redis, stream, GONE)]
        await redis.xgroup_create(stream, "fast", id="0")
        await redis.xgroup_create(stream, "slow", id="0")
        # fast reads and acknowledges everything; slow reads the first three, acknowledging only the first.
        late = [await add(redis, stream, GONE), await add(redis, stream, GONE)]
        read = await redis.xreadgroup("fast", "c", {stream: ">"})
        await redis.xack(stream, "fast", *[entry_id for entry_id, _ in read[0][1]])
        await redis.xreadgroup("slow", "c", {stream: ">"}, count=3)
        await redis.xack(stream, "slow", early[0])

        deleted, left = await erase_from_stream(redis, stream, GONE)

        remaining = [entry_id for entry_id, _ in await redis.xrange(stream)]
        # early[0]: read and acknowledged by both → gone. early[2]: pending in slow → stays. late: slow has not
        # read them → stay. OTHER's entry is not theirs → stays.
        assert (deleted, left) == (1, 3)
        assert remaining == [early[1], early[2], *late]
        # Once slow has caught up, a second run takes the rest.
        await redis.xack(stream, "slow", early[1], early[2])
        await redis.xreadgroup("slow", "c", {stream: ">"})
        await redis.xack(stream, "slow", *late)
        assert await erase_from_stream(redis, stream, GONE) == (3, 0)
        assert [entry_id for entry_id, _ in await redis.xrange(stream)] == [early[1]]
    finally:
        await redis.delete(stream)


async def test_a_stream_without_groups_or_without_entries(redis: aioredis.Redis) -> None:
    missing = unique("erasure.none")
    assert await erase_from_stream(redis, missing, GONE) == (0, 0)
    lonely = unique("erasure.lonely")
    try:
        await add(redis, lonely, GONE)
        await add(redis, lonely, OTHER)
        assert await erase_from_stream(redis, lonely, GONE) == (1, 0)  # no reader could still miss it
    finally:
        await redis.delete(lonely)
