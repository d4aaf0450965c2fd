"""kit.revocations: the shared set of revoked sessions and each process's copy of it, on a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from kit.errors import Unauthenticated
from kit.revocations import (
    SESSION_ENDED_MESSAGE,
    STALE_TOKEN_MESSAGE,
    Revocation,
    RevocationList,
    revocation_channel,
    revoke,
    revoked_key,
)
from kit.runtime import stop_tasks
from tests.support.infra import infra
from tests.support.wait import eventually


@pytest_asyncio.fixture
async def following(redis_client: aioredis.Redis, namespace: str) -> AsyncIterator[RevocationList]:
    """A list following the namespace's set, loaded."""
    listed = RevocationList(aioredis.Redis.from_url(infra().redis_url), namespace)
    task = asyncio.create_task(listed.run())
    await asyncio.wait_for(listed.ready.wait(), 5)
    yield listed
    await stop_tasks([task])
    await listed.close()


async def eventually_revoked(listed: RevocationList, session_id: str) -> None:
    await eventually(lambda: _revoked(listed, session_id), timeout=5, interval=0.005)


async def _revoked(listed: RevocationList, session_id: str) -> bool:
    return listed.is_revoked(session_id)


def refusal(listed: RevocationList, session_id: str, issued_at: float) -> str:
    with pytest.raises(Unauthenticated) as raised:
        listed.check(session_id, issued_at)
    return raised.value.message


async def test_what_was_revoked_before_the_list_started_is_loaded(redis_client: aioredis.Redis, namespace: str) -> None:
    await revoke(redis_client, namespace, [Revocation("s-old", time.time() + 600)])
    listed = RevocationList(aioredis.Redis.from_url(infra().redis_url), namespace)
    task = asyncio.create_task(listed.run())
    try:
        await asyncio.wait_for(listed.ready.wait(), 5)
        assert refusal(listed, "s-old", time.time()) == SESSION_ENDED_MESSAGE
        listed.check("s-other", time.time())  # nothing else is
    finally:
        await stop_tasks([task])
        await listed.close()


async def test_a_revocation_published_later_reaches_the_list(
    redis_client: aioredis.Redis, namespace: str, following: RevocationList
) -> None:
    await revoke(redis_client, namespace, [Revocation("s-new", time.time() + 600)])
    await eventually_revoked(following, "s-new")
    assert refusal(following, "s-new", time.time()) == SESSION_ENDED_MESSAGE


async def test_entries_end_when_no_token_of_the_session_can_be_valid_any_more(
    redis_client: aioredis.Redis, namespace: str
) -> None:
    now = time.time()
    await revoke(redis_client, namespace, [Revocation("s-live", now + 600), Revocation("s-past", now - 1)])
    members = await redis_client.zrange(revoked_key(namespace), 0, -1)
    assert members == [b"s-live"]  # the past one is dropped on the way in
    listed = RevocationList(redis_client, namespace, clock=lambda: now + 601)
    listed.add(Revocation("s-live", now + 600))
    assert not listed.is_revoked("s-live")


async def test_a_malformed_message_is_ignored(
    redis_client: aioredis.Redis, namespace: str, following: RevocationList
) -> None:
    await redis_client.publish(revocation_channel(namespace), "no-expiry-here")
    await revoke(redis_client, namespace, [Revocation("s-after", time.time() + 600)])
    await eventually_revoked(following, "s-after")
    assert not following.is_revoked("no-expiry-here")


def test_a_list_that_is_not_current_refuses_tokens_older_than_the_grace() -> None:
    """Redis unreachable (the list never heard from it): fresh tokens pass, older ones must be refreshed."""
    now = 1_000_000.0
    listed = RevocationList(aioredis.Redis(), "ns", outage_grace=60, clock=lambda: now)
    assert not listed.live()
    listed.check("s-1", issued_at=now - 59)
    assert refusal(listed, "s-1", issued_at=now - 61) == STALE_TOKEN_MESSAGE
    # What it knew before still holds, however fresh the token.
    listed.add(Revocation("s-2", now + 600))
    assert refusal(listed, "s-2", issued_at=now) == SESSION_ENDED_MESSAGE


async def test_a_current_list_accepts_old_tokens_of_live_sessions(following: RevocationList) -> None:
    assert following.live()
    following.check("s-long-lived", issued_at=time.time() - 14 * 60)


async def test_a_list_whose_redis_goes_silent_stops_being_current(redis_client: aioredis.Redis) -> None:
    """Nothing answers on this port: the list never becomes current, and says so."""
    listed = RevocationList(
        aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), "ns", staleness=0.3, heartbeat=0.1
    )
    task = asyncio.create_task(listed.run())
    try:
        await asyncio.sleep(0.5)
        assert not listed.live()
        assert refusal(listed, "s", issued_at=time.time() - 120) == STALE_TOKEN_MESSAGE
    finally:
        await stop_tasks([task])
        await listed.close()
