"""Web Push end to end: browsers subscribe over REST (gateway → notify), a completion in the task service reaches
notify through the event bus, and notify's real job worker pushes to a real local push service
(tests/support/push_service.py) that checks the VAPID signature and decrypts the payload with each browser's own
private key. Nothing is patched: a push service that refuses answers 410, 500 or a redirect.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import sqlalchemy as sa
from hearth.events.v1 import events_pb2

from services.notify import privacy
from services.notify.models import PushDelivery, PushSubscription
from services.notify.push import SEND_PUSH
from tests.support.api import API, PASSWORD, Person, create_chore, create_household, expect, join, problem, sign_up
from tests.support.events import consumed, envelope, outbox_events, publish, settled
from tests.support.fixtures import http_fixture, redis_fixture, stack_fixture
from tests.support.jobs import push_worker
from tests.support.push_service import HANG, Browser, PushService, b64url, push_service
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_SUBSCRIPTIONS = 3
stack = stack_fixture(
    gateway=True,
    settings_overrides={"notify": {"push_allow_private": True, "push_max_subscriptions": MAX_SUBSCRIPTIONS}},
)
http = http_fixture()
redis = redis_fixture()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def pushes() -> AsyncIterator[PushService]:
    async with push_service() as service:
        yield service


async def subscribe(http: httpx.AsyncClient, person: Person, browser: Browser) -> str:
    created = expect(
        await http.post(f"{API}/users/me/push-subscriptions", json=browser.subscription(), headers=person.headers), 201
    )
    assert created["endpoint"] == browser.endpoint
    return str(created["id"])


async def vapid_key(http: httpx.AsyncClient, person: Person) -> str:
    return str(expect(await http.get(f"{API}/push/vapid-public-key", headers=person.headers), 200)["public_key"])


async def push_jobs_done(stack: Stack) -> bool:
    """No push job waiting or running (every one succeeded or failed for good). A retry waits out a backoff of at
    most push_worker's half second; a push held for quiet hours (hours away) is not waited for."""
    async with stack.servers["notify"].runtime.sessions() as session:
        busy = await session.scalar(
            sa.text(
                "SELECT count(*) FROM procrastinate.procrastinate_jobs"
                " WHERE task_name = :task AND status::text IN ('todo', 'doing')"
                " AND (scheduled_at IS NULL OR scheduled_at < now() + interval '1 minute')"
            ),
            {"task": SEND_PUSH},
        )
    return busy == 0


async def all_pushed(stack: Stack, redis: aioredis.Redis) -> None:
    """Every event handled (so every push owed is queued), then every push job over."""
    await settled(stack, redis)
    await eventually(lambda: push_jobs_done(stack), timeout=30)


async def deliveries(stack: Stack, subscription_id: str) -> list[PushDelivery]:
    async with stack.servers["notify"].runtime.sessions() as session:
        found = await session.scalars(
            sa.select(PushDelivery).where(PushDelivery.subscription_id == uuid.UUID(subscription_id))
        )
        return list(found)


async def subscription_exists(stack: Stack, subscription_id: str) -> bool:
    async with stack.servers["notify"].runtime.sessions() as session:
        return await session.get(PushSubscription, uuid.UUID(subscription_id)) is not None


async def choose(http: httpx.AsyncClient, person: Person, document: dict[str, Any]) -> None:
    expect(await http.put(f"{API}/users/me/notification-preferences", json=document, headers=person.headers), 200)


async def household_of_two(http: httpx.AsyncClient, *, completions_pushed: bool = True) -> tuple[str, Person, Person]:
    """Alice and Bob in a household; both want completions pushed (off by default: services.notify.preferences)."""
    alice, bob = await sign_up(http, "Alice"), await sign_up(http, "Bob")
    hid = await create_household(http, alice)
    await join(http, hid, alice, bob, "member")
    if completions_pushed:
        for person in (alice, bob):
            await choose(http, person, {"events": {"chore.completed": {"push": True}}})
    return hid, alice, bob


async def complete(http: httpx.AsyncClient, hid: str, person: Person, title: str) -> dict[str, Any]:
    """A new chore, completed by `person`: the chore, with the completion's id under `completion_id`."""
    chore = await create_chore(http, hid, person, title=title, points=0)
    done = expect(
        await http.post(f"{API}/households/{hid}/chores/{chore['id']}/complete", json={}, headers=person.headers), 201
    )
    return {**chore, "completion_id": done["id"]}


async def test_a_completion_reaches_the_other_members_browser_once_encrypted_and_signed(
    stack: Stack, http: httpx.AsyncClient, pushes: PushService, redis: aioredis.Redis
) -> None:
    hid, alice, bob = await household_of_two(http)
    await settled(stack, redis)  # Alice's notification of Bob joining is written before her browser subscribes
    bobs, alices = pushes.browser(), pushes.browser()
    bob_sub = await subscribe(http, bob, bobs)
    alice_sub = await subscribe(http, alice, alices)
    key = await vapid_key(http, bob)

    async with push_worker(stack):
        chore = await complete(http, hid, alice, "Dishes")
        (pushed,) = await bobs.pushes(key)
        await all_pushed(stack, redis)

    inbox = expect(await http.get(f"{API}/notifications", headers=bob.headers), 200)["items"]
    (notification,) = [n for n in inbox if n["type"] == "chore.completed"]
    assert pushed == {
        "id": notification["id"],
        "type": "chore.completed",
        "title": "Alice completed Dishes",
        "body": notification["body"],
        "household_id": hid,
        "url": f"/households/{hid}/chores/{chore['id']}",
    }
    (request,) = pushes.to(bobs.path)
    assert request.headers["urgency"] == "normal"
    # Never to the one who did it.
    assert pushes.to(alices.path) == []
    assert await deliveries(stack, alice_sub) == []
    (sent,) = await deliveries(stack, bob_sub)
    assert (sent.status, sent.attempts, sent.last_status) == ("sent", 1, 201)

    # The same chore.completed delivered again (at least once): the inbox drops it, and nothing is pushed twice.
    (completed,) = [e for e in await outbox_events(stack, "task", "chore.completed") if e.household_id == hid]
    stream = f"{stack.namespace}.events.task"
    async with push_worker(stack):
        await consumed(redis, stream, "notify", await publish(redis, stream, completed))
        await all_pushed(stack, redis)
    assert len(pushes.to(bobs.path)) == 1
    assert len(await deliveries(stack, bob_sub)) == 1


async def test_a_completion_undone_before_its_push_went_is_not_pushed(
    stack: Stack, http: httpx.AsyncClient, pushes: PushService, redis: aioredis.Redis
) -> None:
    hid, alice, bob = await household_of_two(http)
    await settled(stack, redis)
    phone = pushes.browser()
    sub = await subscribe(http, bob, phone)
    chore = await complete(http, hid, alice, "Oven")  # no worker yet: the push is owed, not sent
    await settled(stack, redis)
    assert [d.status for d in await deliveries(stack, sub)] == ["pending"]
    undo = f"{API}/households/{hid}/chores/{chore['id']}/completions/{chore['completion_id']}"
    expect(await http.delete(undo, headers=alice.headers), 204)
    await settled(stack, redis)
    assert await deliveries(stack, sub) == []  # gone with the notification it would have pushed
    async with push_worker(stack):
        await all_pushed(stack, redis)
    assert pushes.to(phone.path) == []


async def test_an_overdue_chore_is_pushed_as_urgent(
    stack: Stack, http: httpx.AsyncClient, pushes: PushService, redis: aioredis.Redis
) -> None:
    hid, alice, bob = await household_of_two(http)
    await settled(stack, redis)
    phone = pushes.browser()
    await subscribe(http, bob, phone)
    key = await vapid_key(http, bob)
    chore = await create_chore(http, hid, alice, title="Gutters")
    await settled(stack, redis)
    # What task's miss scan publishes (tests/test_task_jobs.py drives the scan itself).
    overdue = events_pb2.ChoreOverdue(
        household_id=hid,
        chore_id=chore["id"],
        title="Gutters",
        assignee_id=bob.user_id,
        occurrence_id=str(uuid.uuid4()),
    )
    stream = f"{stack.namespace}.events.task"
    async with push_worker(stack):
        built = envelope("chore.overdue", overdue, household_id=hid, source="task")
        await consumed(redis, stream, "notify", await publish(redis, stream, built))
        (pushed,) = await phone.pushes(key)
        await all_pushed(stack, redis)
    assert pushed["type"] == "chore.overdue"
    assert "Gutters" in pushed["title"]
    (request,) = pushes.to(phone.path)
    assert request.headers["urgency"] == "high"


async def test_a_410_removes_the_subscription_at_once_and_is_not_retried(
    stack: Stack, http: httpx.AsyncClient, pushes: PushService, redis: aioredis.Redis
) -> None:
    hid, alice, bob = await household_of_two(http)
    gone = pushes.browser()
    pushes.answers[gone.path] = [410]
    sub = await subscribe(http, bob, gone)
    async with push_worker(stack):
        await complete(http, hid, alice, "Windows")
        await pushes.wait_for(gone.path)
        await all_pushed(stack, redis)
    assert len(pushes.to(gone.path)) == 1
    assert not await subscription_exists(stack, sub)
    assert expect(await http.get(f"{API}/users/me/push-subscriptions", headers=bob.headers), 200)["items"] == []
    # Later notifications owe it nothing.
    async with push_worker(stack):
        await complete(http, hid, alice, "Floor")
        await all_pushed(stack, redis)
    assert len(pushes.to(gone.path)) == 1


async def test_a_500_is_retried_and_the_push_arrives_once(
    stack: Stack, http: httpx.AsyncClient, pushes: PushService, redis: aioredis.Redis
) -> None:
    hid, alice, bob = await household_of_two(http)
    flaky = pushes.browser()
    pushes.answers[flaky.path] = [500, 503]
    sub = await subscribe(http, bob, flaky)
    key = await vapid_key(http, bob)
    async with push_worker(stack):
        await complete(http, hid, alice, "Laundry")
        requests = await pushes.wait_for(flaky.path, 3)
        await all_pushed(stack, redis)
    # Each attempt is encrypted afresh, and each one decrypts to the same push.
    assert {flaky.decrypt(r, key)["title"] for r in requests} == {"Alice completed Laundry"}
    assert len(pushes.to(flaky.path)) == 3
    (sent,) = await deliveries(stack, sub)
    assert (sent.status, sent.attempts, sent.last_status) == ("sent", 3, 201)


async def test_a_push_service_that_hangs_costs_a_timeout_per_attempt_and_then_the_push_fails(
    stack: Stack, http: httpx.AsyncClient, pushes: PushService, redis: aioredis.Redis
) -> None:
    hid, alice, bob = await household_of_two(http)
    hanging = pushes.browser()
    pushes.answers[hanging.path] = [HANG, HANG]
    sub = await subscribe(http, bob, hanging)
    async with push_worker(stack, push_timeout_seconds=0.5, push_max_attempts=2):
        await complete(http, hid, alice, "Attic")
        await all_pushed(stack, redis)
    assert len(pushes.to(hanging.path)) == 2
    (failed,) = await deliveries(stack, sub)
    assert (failed.status, failed.attempts, failed.last_status) == ("failed", 2, None)
    assert failed.last_error is not None
    assert failed.last_error.startswith(("TimeoutError", "ReadTimeout"))
    assert hanging.endpoint not in failed.last_error


async def test_a_refusal_or_a_redirect_fails_at_once_and_a_redirect_is_not_followed(
    stack: Stack, http: httpx.AsyncClient, pushes: PushService, redis: aioredis.Redis
) -> None:
    hid, alice, bob = await household_of_two(http)
    refusing, redirecting = pushes.browser(), pushes.browser()
    pushes.answers[refusing.path] = [400]
    pushes.answers[redirecting.path] = [307]
    subs = [await subscribe(http, bob, refusing), await subscribe(http, bob, redirecting)]
    async with push_worker(stack):
        await complete(http, hid, alice, "Bins")
        await all_pushed(stack, redis)
    assert len(pushes.to(refusing.path)) == 1
    assert len(pushes.to(redirecting.path)) == 1
    assert pushes.to("/elsewhere") == []
    for sub, code in zip(subs, (400, 307), strict=True):
        (failed,) = await deliveries(stack, sub)
        assert (failed.status, failed.attempts, failed.last_status) == ("failed", 1, code)
        assert await subscription_exists(stack, sub)  # only 404/410 say it is gone


async def test_a_worker_that_may_not_reach_private_addresses_does_not_push_there(
    stack: Stack, http: httpx.AsyncClient, pushes: PushService, redis: aioredis.Redis
) -> None:
    hid, alice, bob = await household_of_two(http)
    inside = pushes.browser()
    sub = await subscribe(http, bob, inside)
    async with push_worker(stack, push_allow_private=False):
        await complete(http, hid, alice, "Shelves")
        await all_pushed(stack, redis)
    assert pushes.to(inside.path) == []
    (failed,) = await deliveries(stack, sub)
    assert failed.status == "failed"
    assert failed.last_error == "host resolves to a loopback, private or link-local address"


async def test_subscribing_twice_answers_the_same_one_and_a_user_has_at_most_n(
    http: httpx.AsyncClient, pushes: PushService
) -> None:
    person = await sign_up(http, "Carol")
    browser = pushes.browser()
    first = await subscribe(http, person, browser)
    browser.auth = b"\x01" * 16  # the browser renewed its keys
    assert await subscribe(http, person, browser) == first
    for _ in range(MAX_SUBSCRIPTIONS - 1):
        await subscribe(http, person, pushes.browser())
    listed = expect(await http.get(f"{API}/users/me/push-subscriptions", headers=person.headers), 200)["items"]
    assert len(listed) == MAX_SUBSCRIPTIONS
    assert all(set(item) == {"id", "endpoint", "created_at", "expires_at"} for item in listed)
    over = await http.post(
        f"{API}/users/me/push-subscriptions", json=pushes.browser().subscription(), headers=person.headers
    )
    assert f"at most {MAX_SUBSCRIPTIONS}" in problem(over, 409, "conflict")["detail"]
    # Renewing one they have is not a new one.
    assert await subscribe(http, person, browser) == first


async def test_another_users_subscription_is_not_found_and_an_endpoint_moves_to_whoever_subscribes_it(
    stack: Stack, http: httpx.AsyncClient, pushes: PushService
) -> None:
    owner, other = await sign_up(http, "Dora"), await sign_up(http, "Eve")
    browser = pushes.browser()
    sub = await subscribe(http, owner, browser)
    url = f"{API}/users/me/push-subscriptions"
    problem(await http.delete(f"{url}/{sub}", headers=other.headers), 404, "not_found")
    problem(await http.delete(url, params={"endpoint": browser.endpoint}, headers=other.headers), 404, "not_found")
    problem(await http.delete(f"{url}/{uuid.uuid4()}", headers=owner.headers), 404, "not_found")
    assert await subscription_exists(stack, sub)

    # The browser's signed-in person changed: it is theirs now, and the one before stops receiving there.
    taken = await subscribe(http, other, browser)
    assert taken != sub
    assert expect(await http.get(url, headers=owner.headers), 200)["items"] == []

    expect(await http.delete(url, params={"endpoint": browser.endpoint}, headers=other.headers), 204)
    assert expect(await http.get(url, headers=other.headers), 200)["items"] == []
    again = await subscribe(http, other, browser)
    expect(await http.delete(f"{url}/{again}", headers=other.headers), 204)
    problem(await http.delete(f"{url}/{again}", headers=other.headers), 404, "not_found")


def with_keys(browser: Browser, **keys: str) -> dict[str, Any]:
    body = browser.subscription()
    body["keys"] = {**body["keys"], **keys}
    return body


async def test_bad_subscriptions_are_422_naming_the_field(http: httpx.AsyncClient, pushes: PushService) -> None:
    person = await sign_up(http, "Finn")
    url = f"{API}/users/me/push-subscriptions"
    browser = pushes.browser()

    async def fields(body: dict[str, Any]) -> dict[str, str]:
        refused = problem(await http.post(url, json=body, headers=person.headers), 422, "validation_failed")
        return {e["field"]: e["message"] for e in refused["errors"]}

    # A point that is not on the curve, a compressed one, a secret of the wrong size, all at once.
    off_curve = b64url(b"\x04" + b"\x01" * 64)
    assert await fields(with_keys(browser, p256dh=off_curve, auth=b64url(b"x" * 15))) == {
        "keys.p256dh": "is not a point on the P-256 curve",
        "keys.auth": "must be a 16-byte secret, base64url",
    }
    compressed = b64url(b"\x02" + b"\x01" * 32)
    assert (await fields(with_keys(browser, p256dh=compressed)))["keys.p256dh"] == (
        "must be an uncompressed P-256 public key (65 bytes), base64url"
    )
    assert "keys.p256dh" in await fields(with_keys(browser, p256dh="not base64!"))
    for endpoint in (
        "http://push.example.com/x",  # plain http, not local
        "ftp://127.0.0.1/x",
        "https://user:secret@push.example.com/x",
        "https://",
    ):
        assert "endpoint" in await fields({**browser.subscription(), "endpoint": endpoint}), endpoint
    assert "endpoint" in await fields({**browser.subscription(), "endpoint": "https://a.example/" + "x" * 2100})
    assert "expirationTime" in await fields({**browser.subscription(), "expirationTime": 1000})  # 1970
    assert "keys" in await fields({"endpoint": browser.endpoint})
    unknown = await http.post(url, json={**browser.subscription(), "extra": 1}, headers=person.headers)
    problem(unknown, 422, "validation_failed")
    problem(await http.post(url, json=browser.subscription()), 401, "unauthenticated")
    assert expect(await http.get(url, headers=person.headers), 200)["items"] == []


async def test_an_expiration_time_is_kept_and_an_expired_subscription_gets_nothing(
    stack: Stack, http: httpx.AsyncClient, pushes: PushService
) -> None:
    person = await sign_up(http, "Gus")
    browser = pushes.browser()
    body = {**browser.subscription(), "expirationTime": 4102444800000.5}  # 2100-01-01
    created = expect(await http.post(f"{API}/users/me/push-subscriptions", json=body, headers=person.headers), 201)
    assert created["expires_at"] == "2100-01-01T00:00:00.000500Z"


async def test_deleting_the_account_erases_its_subscriptions_and_the_export_holds_them(
    stack: Stack, http: httpx.AsyncClient, pushes: PushService
) -> None:
    person = await sign_up(http, "Hana")
    browser = pushes.browser()
    sub = await subscribe(http, person, browser)
    async with stack.servers["notify"].runtime.sessions() as session:
        exported = await privacy.export_user(session, uuid.UUID(person.user_id))
    (held,) = exported["push_subscriptions"]
    assert (held["id"], held["endpoint"]) == (sub, browser.endpoint)
    assert "auth" not in held
    assert "p256dh" not in held

    deleted = await http.request("DELETE", f"{API}/users/me", json={"password": PASSWORD}, headers=person.headers)
    assert deleted.status_code == 202, deleted.text

    async def erased() -> bool:
        return not await subscription_exists(stack, sub)

    await eventually(erased, timeout=30)


async def test_pushes_follow_the_recipients_preferences_and_wait_out_their_quiet_hours(
    stack: Stack, http: httpx.AsyncClient, pushes: PushService, redis: aioredis.Redis
) -> None:
    """Completions are not pushed by default; a member who turns them on gets them; one in quiet hours has the push
    held (its job scheduled for when they end), not dropped — and in-app is written at once either way."""
    hid, alice, bob = await household_of_two(http, completions_pushed=False)
    carol = await sign_up(http, "Carol")
    await join(http, hid, alice, carol, "member")
    await settled(stack, redis)
    # Carol wants completions pushed, but is always in quiet hours (00:00 to 23:59 in her zone, UTC here).
    await choose(
        http, carol, {"events": {"chore.completed": {"push": True}}, "quiet_hours": {"start": "00:00", "end": "23:59"}}
    )
    bobs, carols = pushes.browser(), pushes.browser()
    bob_sub, carol_sub = await subscribe(http, bob, bobs), await subscribe(http, carol, carols)

    async with push_worker(stack):
        await complete(http, hid, alice, "Windows")
        await all_pushed(stack, redis)
    assert pushes.to(bobs.path) == []  # off by default
    assert await deliveries(stack, bob_sub) == []
    for person in (bob, carol):
        inbox = expect(await http.get(f"{API}/notifications", headers=person.headers), 200)["items"]
        assert [n["title"] for n in inbox if n["type"] == "chore.completed"] == ["Alice completed Windows"]
    (held,) = await deliveries(stack, carol_sub)
    assert held.status == "pending"
    assert pushes.to(carols.path) == []
    async with stack.servers["notify"].runtime.sessions() as session:
        scheduled = await session.scalar(
            sa.text(
                "SELECT scheduled_at FROM procrastinate.procrastinate_jobs WHERE task_name = :task"
                " AND args->>'delivery_id' = :delivery"
            ),
            {"task": SEND_PUSH, "delivery": str(held.id)},
        )
    assert scheduled is not None
    assert scheduled > held.create_time  # held to the end of her quiet hours

    # Bob turns completion pushes on: the next one reaches him.
    await choose(http, bob, {"events": {"chore.completed": {"push": True}}})
    key = await vapid_key(http, bob)
    async with push_worker(stack):
        await complete(http, hid, alice, "Floors")
        (pushed,) = await bobs.pushes(key)
        await all_pushed(stack, redis)
    assert pushed["title"] == "Alice completed Floors"
