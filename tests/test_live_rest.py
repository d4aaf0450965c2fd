"""Live events end to end: SSE (GET …/events) and WebSocket (GET /ws) through the real gateway and the four real
services — ids and resume, heartbeats, tickets, who may listen, a removed member cut off, personal notifications,
presence and presence.changed."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from hearth.notify.v1 import notify_pb2
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway import clients as gateway_clients
from gateway.config import GatewaySettings
from gateway.routes.live import EventStream as EventStreamResponse
from tests.support.api import API, Person, create_chore, create_household, expect, join, problem, sign_up
from tests.support.fixtures import http_fixture, redis_fixture, stack_fixture
from tests.support.sse import EventStream, open_events, refused
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

HEARTBEAT = 0.3
stack = stack_fixture(
    gateway=True,
    settings_overrides={"notify": {"live_heartbeat_seconds": HEARTBEAT, "live_sweep_seconds": 0.2}},
)
http = http_fixture()
redis = redis_fixture()


async def household(http: httpx.AsyncClient) -> tuple[str, Person, Person]:
    alice, bob = await sign_up(http, "Alice"), await sign_up(http, "Bob")
    hid = await create_household(http, alice)
    await join(http, hid, alice, bob, "member")
    return hid, alice, bob


async def ticket(http: httpx.AsyncClient, hid: str, person: Person) -> str:
    response = await http.post(f"{API}/households/{hid}/stream-tickets", headers=person.headers)
    body = expect(response, 201)
    assert response.headers["cache-control"] == "no-store"
    assert 0 < body["expires_in"] <= 60
    return str(body["ticket"])


async def chore_ids(events: EventStream, count: int) -> list[tuple[str, str]]:
    """The next `count` chore.created events: (SSE id, chore id)."""
    seen = []
    while len(seen) < count:
        frame = await events.event("chore.created")
        assert frame.id is not None
        seen.append((frame.id, frame.json["data"]["chore_id"]))
    return seen


async def test_an_event_arrives_with_its_id_type_and_json_and_heartbeats_keep_coming(http: httpx.AsyncClient) -> None:
    hid, alice, bob = await household(http)
    async with open_events(http, hid, headers=alice.headers) as events:
        first = await events.next()
        assert first.retry is not None
        assert any(c.startswith("open") for c in first.comments)
        chore = await create_chore(http, hid, bob, title="Vacuum")
        frame = await events.event("chore.created")
        assert frame.id is not None
        assert frame.id.count("-") == 1
        body = frame.json
        assert body["type"] == "chore.created"
        assert body["household_id"] == hid
        assert body["actor_id"] == bob.user_id
        assert body["data"]["chore_id"] == chore["id"]
        assert body["data"]["title"] == "Vacuum"
        assert body["event_id"]
        assert body["occurred_at"].endswith("Z")
        beats = 0
        while beats < 2:
            beats += (await events.next()).is_heartbeat


async def test_resuming_with_last_event_id_in_the_middle_of_a_burst_gives_exactly_the_rest(
    http: httpx.AsyncClient,
) -> None:
    hid, alice, bob = await household(http)
    async with open_events(http, hid, headers=alice.headers) as events:
        made = [(await create_chore(http, hid, bob, title=f"Burst {i}"))["id"] for i in range(12)]
        before = await chore_ids(events, 5)
    # Disconnected after the fifth; meanwhile more happen.
    made += [(await create_chore(http, hid, bob, title=f"Later {i}"))["id"] for i in range(3)]
    async with open_events(http, hid, headers={**alice.headers, "Last-Event-ID": before[-1][0]}) as events:
        after = await chore_ids(events, len(made) - 5)
    assert [c for _, c in before + after] == made
    ids = [i for i, _ in before + after]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split("-")))


async def test_who_may_listen(http: httpx.AsyncClient) -> None:
    hid, alice, _bob = await household(http)
    outsider = await sign_up(http, "Otto")
    problem(await refused(http, hid, headers=outsider.headers), 404, "not_found")
    problem(await refused(http, hid), 401, "unauthenticated")
    problem(await refused(http, hid, headers={"Authorization": "Bearer nonsense"}), 401, "unauthenticated")
    problem(await refused(http, hid, headers={**alice.headers, "Last-Event-ID": "yesterday"}), 422, "validation_failed")
    problem(await refused(http, "not-an-id", headers=alice.headers), 422, "validation_failed")
    kid = await sign_up(http, "Kid")
    await join(http, hid, alice, kid, "child")
    async with open_events(http, hid, headers=kid.headers) as events:
        await create_chore(http, hid, alice, title="For everyone")
        assert (await events.event("chore.created")).json["data"]["title"] == "For everyone"
    # Presence and tickets: members only, too.
    problem(await http.get(f"{API}/households/{hid}/presence", headers=outsider.headers), 404, "not_found")
    problem(await http.post(f"{API}/households/{hid}/stream-tickets", headers=outsider.headers), 404, "not_found")
    problem(await http.post(f"{API}/households/{hid}/stream-tickets"), 401, "unauthenticated")


async def test_a_ticket_opens_one_stream_of_its_own_household_once(
    http: httpx.AsyncClient, stack: Stack, redis: aioredis.Redis
) -> None:
    hid, alice, bob = await household(http)
    other = await create_household(http, alice, "Other")
    good = await ticket(http, hid, bob)
    async with open_events(http, hid, params={"ticket": good}) as events:
        await create_chore(http, hid, alice, title="Ticketed")
        assert (await events.event("chore.created")).json["data"]["title"] == "Ticketed"
    problem(await refused(http, hid, params={"ticket": good}), 401, "unauthenticated")  # used up
    elsewhere = await ticket(http, other, alice)
    problem(await refused(http, hid, params={"ticket": elsewhere}), 401, "unauthenticated")
    problem(await refused(http, hid, params={"ticket": "guess"}), 401, "unauthenticated")
    problem(await refused(http, hid, params={"ticket": "x" * 5000}), 401, "unauthenticated")
    # A ticket and a token at once: one credential, not two.
    both = await ticket(http, hid, bob)
    problem(await refused(http, hid, headers=bob.headers, params={"ticket": both}), 422, "validation_failed")

    # Only its hash is kept, for at most 60 s; once it has expired it opens nothing.
    late = await ticket(http, hid, bob)
    keys = [k async for k in redis.scan_iter(match=f"{stack.namespace}:notify:stream-ticket:*")]
    assert keys
    assert all(late not in k.decode() for k in keys)
    for key in keys:
        assert 0 < await redis.ttl(key) <= 60
    for key in keys:
        await redis.pexpire(key, 1)

    async def gone() -> bool:
        return not [k async for k in redis.scan_iter(match=f"{stack.namespace}:notify:stream-ticket:*")]

    await eventually(gone)
    problem(await refused(http, hid, params={"ticket": late}), 401, "unauthenticated")


async def test_a_long_lived_token_in_the_url_is_refused_and_never_logged(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    hid, alice, _ = await household(http)
    caplog.set_level(logging.DEBUG)
    for name in ("access_token", "token"):
        problem(await refused(http, hid, params={name: alice.token}), 401, "unauthenticated")
        # Not even beside a good header.
        problem(await refused(http, hid, headers=alice.headers, params={name: alice.token}), 401, "unauthenticated")
    # Ours (uvicorn's own access lines, which show raw URLs, are off as `python -m gateway` runs it; httpx is the
    # test's client).
    ours = [r for r in caplog.records if not r.name.startswith(("uvicorn", "httpx", "httpcore"))]
    assert ours
    assert not [r for r in ours if alice.token in r.getMessage()]


async def test_a_removed_member_is_cut_off(http: httpx.AsyncClient) -> None:
    hid, alice, bob = await household(http)
    async with open_events(http, hid, headers=bob.headers) as events:
        await create_chore(http, hid, alice, title="Before")
        await events.event("chore.created")
        expect(await http.delete(f"{API}/households/{hid}/members/{bob.user_id}", headers=alice.headers), 204)
        closed = await events.event("stream.closed")
        assert closed.json == {"reason": "membership_ended"}
        with pytest.raises(StopAsyncIteration):
            await events.next()
    problem(await refused(http, hid, headers=bob.headers), 404, "not_found")


async def test_a_notification_reaches_only_its_recipients_stream(http: httpx.AsyncClient) -> None:
    hid, alice, bob = await household(http)
    async with (
        open_events(http, hid, headers=alice.headers) as alices,
        open_events(http, hid, headers=bob.headers) as bobs,
    ):
        chore = await create_chore(http, hid, alice, title="Bins")
        expect(await http.post(f"{API}/households/{hid}/chores/{chore['id']}/complete", headers=alice.headers), 201)
        told = await bobs.event("notification.created")
        assert told.json["data"]["user_id"] == bob.user_id
        assert told.json["data"]["type"] == "chore.completed"
        # Alice's stream has the completion, then the next thing that happens — and no notification of Bob's.
        await create_chore(http, hid, alice, title="Marker")
        while True:
            frame = await alices.event()
            assert frame.event != "notification.created" or frame.json["data"]["user_id"] == alice.user_id
            if frame.event == "chore.created" and frame.json["data"]["title"] == "Marker":
                break


async def online(http: httpx.AsyncClient, hid: str, person: Person) -> dict[str, int]:
    items = expect(await http.get(f"{API}/households/{hid}/presence", headers=person.headers), 200)["items"]
    return {item["user_id"]: item["connections"] for item in items}


@asynccontextmanager
async def socket(stack: Stack, query: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    url = stack.gateway_url.replace("http://", "ws://") + f"{API}/ws?{query}"
    async with connect(url, open_timeout=10, **kwargs) as ws:
        yield ws


async def message(ws: ClientConnection, kind: str, event: str = "") -> dict[str, Any]:
    while True:
        body: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if body["type"] == kind and (not event or body.get("event") == event):
            return body


async def presence_of(events: EventStream, person: Person) -> Any:
    """The next presence.changed of `person` (the listener's own connection is presence too)."""
    while True:
        frame = await events.event("presence.changed")
        if frame.json["data"]["user_id"] == person.user_id:
            return frame


async def test_presence_over_websocket(http: httpx.AsyncClient, stack: Stack) -> None:
    hid, alice, bob = await household(http)
    async with open_events(http, hid, headers=alice.headers) as alices:
        async with socket(stack, f"household_id={hid}&ticket={await ticket(http, hid, bob)}") as ws:
            opened = await message(ws, "open")
            assert opened["connection_id"]
            assert opened["heartbeat_seconds"] >= 1
            snapshot = await message(ws, "presence")
            assert bob.user_id in {item["user_id"] for item in snapshot["items"]}
            assert (await online(http, hid, alice)).get(bob.user_id) == 1
            came = await presence_of(alices, bob)
            assert came.json["data"] == {"household_id": hid, "user_id": bob.user_id, "online": True}
            # A second connection of Bob's is not news; the socket hears events and heartbeats like SSE.
            async with open_events(http, hid, headers=bob.headers):
                assert (await online(http, hid, alice)).get(bob.user_id) == 2
            await create_chore(http, hid, alice, title="Over the socket")
            got = await message(ws, "event", "chore.created")
            assert got["data"]["data"]["title"] == "Over the socket"
            assert got["id"].count("-") == 1
            await message(ws, "heartbeat")
        went = await presence_of(alices, bob)
        assert went.json["data"] == {"household_id": hid, "user_id": bob.user_id, "online": False}
    assert bob.user_id not in await online(http, hid, alice)


async def test_a_websocket_refuses_with_close_codes_and_cuts_off_a_removed_member(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    hid, alice, bob = await household(http)
    outsider = await sign_up(http, "Otto")
    for query, code in (
        (f"household_id={hid}", 4401),
        (f"household_id={hid}&ticket=guess", 4401),
        (f"household_id={hid}&access_token={alice.token}", 4401),
        ("", 4422),
        (f"household_id={hid}&last_event_id=nope&ticket={await ticket(http, hid, alice)}", 4422),
    ):
        async with socket(stack, query) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await message(ws, "open")
            assert closed.value.rcvd is not None, query
            assert closed.value.rcvd.code == code, query
    headers = {"Authorization": f"Bearer {outsider.token}"}
    async with socket(stack, f"household_id={hid}", additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await message(ws, "open")
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4404

    async with socket(stack, f"household_id={hid}", additional_headers=bob.headers) as ws:
        await message(ws, "open")
        expect(await http.delete(f"{API}/households/{hid}/members/{bob.user_id}", headers=alice.headers), 204)
        assert (await message(ws, "closed"))["reason"] == "membership_ended"
        with pytest.raises(ConnectionClosed) as closed:
            await message(ws, "event")
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403


async def test_a_socket_to_a_path_that_is_not_one_is_not_opened(stack: Stack) -> None:
    url = stack.gateway_url.replace("http://", "ws://") + f"{API}/nowhere"
    with pytest.raises(InvalidStatus):
        async with connect(url, open_timeout=10):
            pass


async def test_a_stream_opened_with_a_token_ends_when_its_session_does(http: httpx.AsyncClient) -> None:
    hid, _, bob = await household(http)
    async with open_events(http, hid, headers=bob.headers) as events:
        await events.next()
        logout = await http.post(f"{API}/auth/logout", json={"refresh_token": bob.refresh_token}, headers=bob.headers)
        expect(logout, 204)
        closed = await events.event("stream.closed")
        assert closed.json == {"reason": "unauthenticated"}
        with pytest.raises(StopAsyncIteration):
            await events.next()


async def test_one_member_cannot_open_connections_without_end(http: httpx.AsyncClient) -> None:
    hid, alice, _ = await household(http)
    async with AsyncExitStack() as held:
        for _ in range(20):  # NOTIFY_LIVE_MAX_CONNECTIONS_PER_USER's default
            await held.enter_async_context(open_events(http, hid, headers=alice.headers))
        problem(await refused(http, hid, headers=alice.headers), 429, "rate_limited")
    # Closed, they count no more.
    async with open_events(http, hid, headers=alice.headers) as events:
        assert (await events.next()).retry is not None


async def test_a_client_going_away_ends_its_stream_quietly(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The gRPC stream behind it is cancelled: nothing is logged as an error for it, and its presence goes."""
    hid, alice, bob = await household(http)
    caplog.set_level(logging.WARNING)
    async with open_events(http, hid, headers=bob.headers) as events:
        await events.next()
        assert bob.user_id in await online(http, hid, alice)

    async def gone() -> bool:
        return bob.user_id not in await online(http, hid, alice)

    await eventually(gone)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def test_a_client_that_does_not_read_is_dropped_with_a_reason_not_buffered(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    """The gateway's side of an SSE connection whose client stops reading (its socket's writes block): at most
    `limit` events wait for it; then it gets stream.closed (slow_consumer) instead of the rest, and the stream ends."""
    hid, alice, bob = await household(http)
    settings = GatewaySettings(notify_addr=stack.addr("notify"))
    clients = gateway_clients.connect(settings, None)
    try:
        request = notify_pb2.StreamHouseholdEventsRequest(parent=f"households/{hid}")
        call = clients.live.StreamHouseholdEvents(
            request, timeout=60, metadata=[("authorization", f"Bearer {bob.token}")]
        )
        first = await call.read()
        stream = EventStreamResponse(call, first, limit=3)
        unblocked, sent = asyncio.Event(), []

        async def send(message: dict[str, Any]) -> None:
            if message.get("body"):
                sent.append(message["body"])
                if len(sent) == 1:
                    await unblocked.wait()  # the client stops reading after the stream's first bytes

        async def receive() -> dict[str, Any]:
            await asyncio.Event().wait()  # never disconnects
            return {}

        serving = asyncio.create_task(stream({"type": "http"}, receive, send))
        for n in range(8):
            await create_chore(http, hid, alice, title=f"Piling up {n}")
        await eventually(stream.dropped.wait)
        unblocked.set()
        await asyncio.wait_for(serving, 10)
        body = b"".join(sent).decode()
        assert body.count("event: chore.created") <= 3
        assert body.rstrip().endswith('event: stream.closed\ndata: {"reason": "slow_consumer"}')
    finally:
        await clients.close()
