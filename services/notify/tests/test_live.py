"""services.notify.live against a real Redis: the idempotent, bounded append; the hub's fan-out and its bound;
presence (first and last connection, expiry swept, the per-member cap); tickets; entry ids."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from hearth.events.v1 import events_pb2

from kit.errors import RateLimited, Unauthenticated
from kit.ids import new_id
from services.notify.live import LiveConfig, LiveFeeder, LiveHub, LiveLog, parse_entry_id, visible_to
from tests.support.events import envelope, publish
from tests.support.infra import infra, unique
from tests.support.wait import eventually


@pytest_asyncio.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(infra().redis_url)
    yield client
    await client.aclose()


def live_log(redis: aioredis.Redis, **config: object) -> LiveLog:
    return LiveLog(redis, LiveConfig(namespace=unique("t"), **config))  # type: ignore[arg-type]


async def entries(log: LiveLog, household_id: str) -> list[dict[str, str]]:
    return [fields async for _, fields in log.replay(household_id, "0-0")]


async def test_an_event_is_appended_once_however_often_it_is_delivered(redis: aioredis.Redis) -> None:
    log, hid, event_id = live_log(redis), str(new_id()), str(new_id())
    first = await log.append(hid, event_id=event_id, event_type="chore.created", json_text="{}")
    again = await log.append(hid, event_id=event_id, event_type="chore.created", json_text="{}")
    assert first is not None
    assert again is None
    assert [e["event_id"] for e in await entries(log, hid)] == [event_id]
    # The log expires after its retention; it is not kept forever for a household gone quiet.
    assert 0 < await redis.ttl(log.key(hid)) <= 86_400


async def test_the_log_is_bounded(redis: aioredis.Redis) -> None:
    log, hid = live_log(redis, maxlen=10), str(new_id())
    for _ in range(600):
        await log.append(hid, event_id=str(new_id()), event_type="chore.updated", json_text="{}")
    # MAXLEN ~ trims whole nodes of the stream, so "about": far fewer than were written.
    assert await redis.xlen(log.key(hid)) < 300


async def test_a_personal_entry_is_visible_to_its_recipient_only() -> None:
    assert visible_to({"type": "chore.created"}, "anyone")
    assert visible_to({"type": "notification.created", "recipient": "bob"}, "bob")
    assert not visible_to({"type": "notification.created", "recipient": "bob"}, "alice")


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("1-0", (1, 0)),
        ("1765000000000-12", (1765000000000, 12)),
        ("", None),
        ("1", None),
        ("a-1", None),
        ("1-", None),
        ("-1", None),
        ("1-2-3", None),
        ("\u0661-\u0662", None),
        ("9" * 40 + "-1", None),
    ],
)
def test_entry_ids(value: str, parsed: tuple[int, int] | None) -> None:
    assert parse_entry_id(value) == parsed


async def test_the_hub_hands_every_new_entry_to_each_subscriber_and_drops_one_that_falls_behind(
    redis: aioredis.Redis,
) -> None:
    log, hid = live_log(redis), str(new_id())
    await log.append(hid, event_id=str(new_id()), event_type="chore.created", json_text="{}")  # before: not handed
    hub = LiveHub(redis, buffer=3, block_ms=100)
    try:
        keen, slow = await hub.subscribe(log.key(hid)), await hub.subscribe(log.key(hid))
        ids = [str(new_id()) for _ in range(3)]
        for event_id in ids:
            await log.append(hid, event_id=event_id, event_type="chore.updated", json_text="{}")
        got = [(await keen.queue.get())[1]["event_id"] for _ in ids]
        assert got == ids
        assert not keen.overflowed.is_set()
        await log.append(hid, event_id=str(new_id()), event_type="chore.updated", json_text="{}")
        # The slow one never read: the fourth entry did not fit, and it is marked to be dropped.
        await eventually(slow.overflowed.wait)
        assert slow.queue.qsize() == 3
        hub.unsubscribe(log.key(hid), slow)
        hub.unsubscribe(log.key(hid), keen)
    finally:
        await hub.close()


async def test_presence_first_and_last_connection_announce_the_member(redis: aioredis.Redis) -> None:
    log, hid, user = live_log(redis, max_connections_per_user=2), str(new_id()), str(new_id())
    assert await log.touch(hid, user, "c1") is True
    assert await log.touch(hid, user, "c2") is False
    assert await log.touch(hid, user, "c1") is False  # a refresh
    assert await log.online(hid) == {user: 2}
    with pytest.raises(RateLimited):
        await log.touch(hid, user, "c3")
    assert await log.leave(hid, user, "c1") is False
    assert await log.leave(hid, user, "c2") is True
    assert await log.leave(hid, user, "c2") is False  # never twice
    assert await log.online(hid) == {}
    changes = [json.loads(e["json"])["data"] for e in await entries(log, hid) if e["type"] == "presence.changed"]
    assert changes == [
        {"household_id": hid, "user_id": user, "online": True},
        {"household_id": hid, "user_id": user, "online": False},
    ]


async def test_a_connection_that_stops_refreshing_expires_and_the_sweep_announces_it_once(
    redis: aioredis.Redis,
) -> None:
    log, hid = live_log(redis, heartbeat_seconds=0.02), str(new_id())
    gone, staying = str(new_id()), str(new_id())
    await log.touch(hid, gone, "c")
    await log.touch(hid, staying, "c")

    async def swept() -> bool:
        await log.touch(hid, staying, "c")  # this one keeps refreshing
        return await log.sweep() > 0

    await eventually(swept)
    assert await log.sweep() == 0
    online = await log.online(hid)
    assert gone not in online
    changes = [json.loads(e["json"])["data"] for e in await entries(log, hid) if e["type"] == "presence.changed"]
    offline = [c for c in changes if not c["online"]]
    assert offline == [{"household_id": hid, "user_id": gone, "online": False}]


async def test_a_ticket_opens_once_and_only_its_household(redis: aioredis.Redis) -> None:
    log, hid, user = live_log(redis, ticket_ttl_seconds=60), str(new_id()), str(new_id())
    ticket = await log.create_ticket(hid, user)
    assert await log.redeem_ticket(hid, ticket) == user
    with pytest.raises(Unauthenticated):
        await log.redeem_ticket(hid, ticket)
    other = await log.create_ticket(str(uuid.uuid4()), user)
    with pytest.raises(Unauthenticated):
        await log.redeem_ticket(hid, other)
    with pytest.raises(Unauthenticated):
        await log.redeem_ticket(str(uuid.uuid4()), other)  # used up by the wrong household's attempt
    for bad in ("", "x" * 200, "é" * 10):
        with pytest.raises(Unauthenticated):
            await log.redeem_ticket(hid, bad)


async def test_the_feeder_appends_live_events_of_their_producers_streams_once(redis: aioredis.Redis) -> None:
    log, hid = live_log(redis), str(new_id())
    ns = log.config.namespace
    task, user = f"{ns}.events.task", f"{ns}.events.user"
    feeder = LiveFeeder(redis, log, [task, user], consumer="c1", block_ms=10)
    await feeder.poll_once()  # makes the groups (from now on: what came before is not news)
    created = envelope("chore.created", events_pb2.ChoreCreated(household_id=hid, chore_id="c"), household_id=hid)
    forged = envelope("chore.created", events_pb2.ChoreCreated(household_id=hid, chore_id="f"), household_id=hid)
    quiet = envelope("user.updated", events_pb2.UserUpdated(user_id=str(new_id())), household_id=hid)
    await publish(redis, task, created)
    await publish(redis, task, created)  # delivered twice
    await publish(redis, user, forged)  # chore.created is task's: not believed from user's stream
    await publish(redis, user, quiet)  # not a live event
    await redis.xadd(task, {"envelope": b"\xff not protobuf", "type": "x", "event_id": "y"})
    while await feeder.poll_once(block_ms=10):
        pass
    got = await entries(log, hid)
    assert [(e["type"], e["event_id"]) for e in got] == [("chore.created", created.event_id)]
    assert json.loads(got[0]["json"])["data"]["chore_id"] == "c"
    # Everything read was acknowledged: nothing left pending for the group.
    for stream in (task, user):
        assert (await redis.xpending(stream, "notify-live"))["pending"] == 0
