"""Issue 17's "done when": one chore completion reaches every channel, as each member's preferences say, exactly once.

Through the real gateway and the four real services: Alice (owner), Bob and Carol (members) in a household; Bob wants
completions by email and push, Carol keeps the defaults (in-app only) with a browser subscribed all the same, Alice
has a webhook for chore.completed and wants everything too (so that she gets nothing of her own completion is the
rule "never the actor", not her preferences). One completion by Alice is then, each exactly once: Bob's in-app
notification, his mail at a real SMTP server (aiosmtpd), his browser's push at a real local push service that checks
VAPID and decrypts, the household's signed webhook delivery at a real receiver (verified with the Standard Webhooks
library), and the event on Bob's SSE and WebSocket streams; Carol has the in-app notification only. The same
envelope redelivered on the task stream changes nothing on any channel.

notify's one worker (services.notify.jobs.notify_jobs: mail, push, webhooks) delivers every channel; it is run until
nothing is due, after every event has been handled, so what has arrived then is all that will (nothing is waited
out with a sleep). A channel whose far end is down fails on its own: the others arrive all the same.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook as Verifier
from websockets.asyncio.client import ClientConnection, connect

from services.notify.live import LIVE_GROUP
from services.notify.models import FAILED, EmailDelivery
from services.notify.tests.helpers import Mailbox, smtp_server
from services.notify.tests.receiver import Receiver, closed_port, receiver
from services.notify.webhook_delivery import DELIVER_WEBHOOK
from tests.support.api import API, Person, create_chore, create_household, expect, join, sign_up
from tests.support.events import consumed, household_events, publish, settled
from tests.support.fixtures import http_fixture, redis_fixture, stack_fixture
from tests.support.jobs import NEVER, run_notify_jobs
from tests.support.push_service import Browser, PushService, push_service
from tests.support.sse import EventStream, Frame, open_events
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

T = TypeVar("T")

# The push service and the webhook receiver listen on 127.0.0.1: this deployment allows private targets.
stack = stack_fixture(
    gateway=True, settings_overrides={"notify": {"push_allow_private": True, "webhooks_allow_private": True}}
)
http = http_fixture()
redis = redis_fixture()

# notify's worker as the tests run it: short retries for mail and push; a webhook retry far enough away that a
# failed delivery stays owed (pending) through the test rather than being tried again within it.
WORKER: dict[str, Any] = {
    "push_timeout_seconds": 5,
    "push_retry_base_seconds": 0.2,
    "push_retry_cap_seconds": 0.5,
    "webhook_timeout_seconds": 5,
    "webhook_retry_base_seconds": 60,
    "webhook_prune_cron": NEVER,
}
EVERYTHING = {"events": {"chore.completed": {"in_app": True, "email": True, "push": True}}}


@pytest_asyncio.fixture(loop_scope="module")
async def mailbox() -> AsyncIterator[Mailbox]:
    async with smtp_server(Mailbox()) as box:
        yield box


@pytest_asyncio.fixture(loop_scope="module")
async def pushes() -> AsyncIterator[PushService]:
    async with push_service() as service:
        yield service


@pytest_asyncio.fixture(loop_scope="module")
async def hooks() -> AsyncIterator[Receiver]:
    async with receiver() as box:
        yield box


async def within(awaitable: Awaitable[T], seconds: float = 20) -> T:
    """`awaitable`'s result, or TimeoutError: a stream that never says what it should fails the test, not hangs it."""
    return await asyncio.wait_for(awaitable, seconds)


@asynccontextmanager
async def websocket(stack: Stack, hid: str, person: Person) -> AsyncIterator[ClientConnection]:
    """`person`'s WebSocket on the household's live events (GET /ws), opened: its `open` message read."""
    url = stack.gateway_url.replace("http://", "ws://") + f"{API}/ws?household_id={hid}"
    async with connect(url, open_timeout=10, additional_headers=person.headers) as ws:
        await message(ws, "open")
        yield ws


async def message(ws: ClientConnection, kind: str, event: str = "") -> dict[str, Any]:
    """The next message of `kind` (of `event`, when given), skipping the others (heartbeats, presence)."""
    while True:
        body: dict[str, Any] = json.loads(await within(ws.recv()))
        if body["type"] == kind and (not event or body.get("event") == event):
            return body


async def sse_until(events: EventStream, title: str) -> list[Frame]:
    """Every event frame before the chore.created of the chore titled `title` (a marker: what the live log held
    before it has been read)."""
    seen = []
    while True:
        frame = await within(events.event())
        if frame.event == "chore.created" and frame.json["data"]["title"] == title:
            return seen
        seen.append(frame)


async def ws_until(ws: ClientConnection, title: str) -> list[dict[str, Any]]:
    """Every event message before the chore.created of the chore titled `title` (as `sse_until`)."""
    seen = []
    while True:
        body = await message(ws, "event")
        if body["event"] == "chore.created" and body["data"]["data"]["title"] == title:
            return seen
        seen.append(body)


async def choose(http: httpx.AsyncClient, person: Person, document: dict[str, Any]) -> dict[str, Any]:
    url = f"{API}/users/me/notification-preferences"
    chosen: dict[str, Any] = expect(await http.put(url, json=document, headers=person.headers), 200)
    return chosen


async def subscribe(http: httpx.AsyncClient, person: Person, browser: Browser) -> None:
    url = f"{API}/users/me/push-subscriptions"
    expect(await http.post(url, json=browser.subscription(), headers=person.headers), 201)


async def completions_in_inbox(http: httpx.AsyncClient, person: Person) -> list[dict[str, Any]]:
    items = expect(await http.get(f"{API}/notifications", headers=person.headers), 200)["items"]
    return [n for n in items if n["type"] == "chore.completed"]


async def owed_jobs(stack: Stack) -> list[tuple[str, str]]:
    """notify's jobs still to run or running: (task, status)."""
    async with stack.servers["notify"].runtime.sessions() as session:
        rows = await session.execute(
            sa.text(
                "SELECT task_name, status::text FROM procrastinate.procrastinate_jobs"
                " WHERE status::text IN ('todo', 'doing') ORDER BY id"
            )
        )
        return [(row[0], row[1]) for row in rows]


async def deliver_everything(stack: Stack, redis: aioredis.Redis, smtp_port: int, **settings: Any) -> None:
    """Every event handled (so each mail, push and webhook delivery owed is queued), then notify's one worker run
    until nothing is due."""
    await settled(stack, redis)
    await run_notify_jobs(stack, smtp_port, **{**WORKER, **settings})


async def webhook_log(http: httpx.AsyncClient, hid: str, owner: Person, webhook_id: str) -> list[dict[str, Any]]:
    url = f"{API}/households/{hid}/webhooks/{webhook_id}/deliveries"
    items: list[dict[str, Any]] = expect(await http.get(url, headers=owner.headers), 200)["items"]
    return items


async def household_of_three(http: httpx.AsyncClient) -> tuple[str, Person, Person, Person]:
    alice, bob, carol = await sign_up(http, "Alice"), await sign_up(http, "Bob"), await sign_up(http, "Carol")
    hid = await create_household(http, alice)
    await join(http, hid, alice, bob, "member")
    await join(http, hid, alice, carol, "member")
    return hid, alice, bob, carol


async def test_one_completion_reaches_every_channel_once_as_each_members_preferences_say(
    stack: Stack,
    http: httpx.AsyncClient,
    redis: aioredis.Redis,
    mailbox: Mailbox,
    pushes: PushService,
    hooks: Receiver,
) -> None:
    hid, alice, bob, carol = await household_of_three(http)
    assert (await choose(http, bob, {"events": {"chore.completed": {"email": True, "push": True}}}))["events"][
        "chore.completed"
    ] == {"in_app": True, "email": True, "push": True}
    await choose(http, alice, EVERYTHING)
    carols = expect(await http.get(f"{API}/users/me/notification-preferences", headers=carol.headers), 200)
    assert carols["events"]["chore.completed"] == {"in_app": True, "email": False, "push": False}
    # notify knows everyone's address and membership, and the joins' notifications are written, before any
    # browser subscribes (a push is owed only to the subscriptions there are when its notification is written).
    await settled(stack, redis)
    browsers = {person.user_id: pushes.browser() for person in (alice, bob, carol)}
    for person in (alice, bob, carol):
        await subscribe(http, person, browsers[person.user_id])
    key = str(expect(await http.get(f"{API}/push/vapid-public-key", headers=bob.headers), 200)["public_key"])
    hook = expect(
        await http.post(
            f"{API}/households/{hid}/webhooks",
            json={"url": hooks.url, "events": ["chore.completed"]},
            headers=alice.headers,
        ),
        201,
    )
    chore = await create_chore(http, hid, alice, title="Dishes", points=10)
    await deliver_everything(stack, redis, mailbox.port)
    # Nothing so far has been mailed, pushed or posted to anyone (joins and an unassigned chore tell no one there).
    assert (mailbox.received, pushes.received, hooks.received) == ([], [], [])

    async with (
        open_events(http, hid, headers=bob.headers) as bobs_sse,
        open_events(http, hid, headers=alice.headers) as alices_sse,
        websocket(stack, hid, bob) as bobs_ws,
    ):
        for opened in (bobs_sse, alices_sse):
            assert any(c.startswith("open") for c in (await within(opened.next())).comments)
        done = expect(
            await http.post(f"{API}/households/{hid}/chores/{chore['id']}/complete", json={}, headers=alice.headers),
            201,
        )
        (completed,) = await household_events(stack, "task", "chore.completed", hid)
        await deliver_everything(stack, redis, mailbox.port)

        # In-app: Bob and Carol, once each; not Alice.
        (bobs,) = await completions_in_inbox(http, bob)
        (carols_notification,) = await completions_in_inbox(http, carol)
        assert await completions_in_inbox(http, alice) == []
        for notification in (bobs, carols_notification):
            assert notification["title"] == "Alice completed Dishes"
            assert notification["household_id"] == hid
            assert notification["actor_id"] == alice.user_id

        # Email: Bob's, the only mail there is (Carol's defaults say no, Alice did it), HTML and text.
        (mail,) = mailbox.received
        assert mail.recipients == [bob.email]
        assert mail.message["Subject"] == "Alice completed Dishes"
        text, html = mail.part("plain"), mail.part("html")
        assert bobs["body"] in text
        assert bobs["body"] in html
        assert html.lstrip().lower().startswith(("<!doctype html", "<html"))
        assert mail.message["List-Unsubscribe"].startswith("<http")

        # Push: Bob's browser, the only push there is, signed (VAPID) and decrypted with his browser's key.
        (request,) = pushes.received
        assert request.path == browsers[bob.user_id].path
        pushed = browsers[bob.user_id].decrypt(request, key)
        assert (pushed["id"], pushed["type"], pushed["title"]) == (bobs["id"], "chore.completed", bobs["title"])
        assert pushed["household_id"] == hid

        # Webhook: one delivery, its id the event's, its signature verified with the secret shown at creation.
        (posted,) = hooks.received
        assert posted.headers["webhook-id"] == completed.event_id
        payload = Verifier(hook["secret"]).verify(posted.body, posted.headers)
        assert payload["type"] == "chore.completed"
        assert payload["data"]["household_id"] == hid
        assert payload["data"]["chore_id"] == chore["id"]
        assert payload["data"]["completion_id"] == done["id"]
        assert payload["data"]["completed_by"] == alice.user_id
        (logged,) = await webhook_log(http, hid, alice, hook["id"])
        assert (logged["event_id"], logged["status"], logged["attempts"]) == (completed.event_id, "succeeded", 1)
        assert await owed_jobs(stack) == []  # nothing failed and waits for a retry, nothing is held for later

        # The same envelope delivered again (the bus is at least once): the main consumer and the live feeder
        # handle it, the worker runs again — and nothing arrives a second time anywhere.
        stream = f"{stack.namespace}.events.task"
        entry = await publish(redis, stream, completed)
        await consumed(redis, stream, "notify", entry)
        await consumed(redis, stream, LIVE_GROUP, entry)
        await deliver_everything(stack, redis, mailbox.port)
        # A marker after the redelivery: what the live log holds before it, each stream has carried by then.
        await create_chore(http, hid, alice, title="Marker")
        bobs_frames = [f.json for f in await sse_until(bobs_sse, "Marker")]
        alices_frames = [f.json for f in await sse_until(alices_sse, "Marker")]
        bobs_messages = [m["data"] for m in await ws_until(bobs_ws, "Marker")]

    # Live: the household's event once on each stream, the same on both transports; the actor sees it too.
    for frames in (bobs_frames, alices_frames, bobs_messages):
        (live,) = [f for f in frames if f.get("type") == "chore.completed"]
        assert (live["event_id"], live["household_id"], live["actor_id"]) == (completed.event_id, hid, alice.user_id)
        assert live["data"]["chore_id"] == chore["id"]
        assert live["data"]["completion_id"] == done["id"]
    # And Bob's in-app notification of it, live, once, on his streams only.
    for frames, told in ((bobs_frames, [bob.user_id]), (bobs_messages, [bob.user_id]), (alices_frames, [])):
        created = [f["data"] for f in frames if f.get("type") == "notification.created"]
        assert [c["user_id"] for c in created if c["type"] == "chore.completed"] == told

    assert len(mailbox.received) == 1
    assert len(pushes.received) == 1
    assert len(hooks.received) == 1
    assert len(await webhook_log(http, hid, alice, hook["id"])) == 1
    assert [n["id"] for n in await completions_in_inbox(http, bob)] == [bobs["id"]]
    assert [n["id"] for n in await completions_in_inbox(http, carol)] == [carols_notification["id"]]
    assert await completions_in_inbox(http, alice) == []
    assert await owed_jobs(stack) == []


def reserved_port() -> socket.socket:
    """A port bound but not listening: an SMTP server that is down (connections are refused)."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    return held


async def bobs_mails(stack: Stack, bob: Person) -> list[EmailDelivery]:
    async with stack.servers["notify"].runtime.sessions() as session:
        rows = await session.scalars(sa.select(EmailDelivery).where(EmailDelivery.user_id == uuid.UUID(bob.user_id)))
        return list(rows)


async def test_a_channel_whose_far_end_is_down_fails_on_its_own_and_the_others_arrive(
    stack: Stack, http: httpx.AsyncClient, redis: aioredis.Redis, pushes: PushService
) -> None:
    """SMTP down and the webhook's receiver down at once: Bob's in-app notification and push arrive all the same; the
    mail is retried, then failed; the webhook delivery stays owed (pending, its next attempt scheduled), not lost."""
    hid, alice, bob, _carol = await household_of_three(http)
    await choose(http, bob, {"events": {"chore.completed": {"email": True, "push": True}}})
    await settled(stack, redis)
    phone = pushes.browser()
    await subscribe(http, bob, phone)
    key = str(expect(await http.get(f"{API}/push/vapid-public-key", headers=bob.headers), 200)["public_key"])
    down = f"http://127.0.0.1:{await closed_port()}/hooks"
    hook = expect(
        await http.post(
            f"{API}/households/{hid}/webhooks", json={"url": down, "events": ["chore.completed"]}, headers=alice.headers
        ),
        201,
    )
    chore = await create_chore(http, hid, alice, title="Windows", points=0)
    expect(
        await http.post(f"{API}/households/{hid}/chores/{chore['id']}/complete", json={}, headers=alice.headers), 201
    )
    (completed,) = await household_events(stack, "task", "chore.completed", hid)
    held = reserved_port()
    try:
        port = held.getsockname()[1]

        async def mail_failed() -> EmailDelivery | None:
            await deliver_everything(stack, redis, port, smtp_max_attempts=2)
            (delivery,) = await bobs_mails(stack, bob)
            return delivery if delivery.status == FAILED else None

        failed = await eventually(mail_failed, timeout=30)
    finally:
        held.close()

    assert failed.attempts == 2
    assert failed.last_error is not None
    (notification,) = await completions_in_inbox(http, bob)
    (pushed,) = await phone.pushes(key)
    assert (pushed["id"], pushed["title"]) == (notification["id"], "Alice completed Windows")
    (owed,) = await webhook_log(http, hid, alice, hook["id"])
    assert (owed["event_id"], owed["status"], owed["attempts"]) == (completed.event_id, "pending", 1)
    assert owed["next_attempt_at"]
    assert [task for task, _ in await owed_jobs(stack)] == [DELIVER_WEBHOOK]
