"""WebhookService end to end: the real user and notify services (membership asked of the user service), events fed
to the real streams, notify's real job worker or its delivery job run directly, and a real HTTP receiver on
127.0.0.1 (so this stack allows private targets: HEARTH_WEBHOOKS_ALLOW_PRIVATE). Signatures are verified with the
Standard Webhooks reference library, as a receiver would.

The retry schedule is walked without waiting: the job's attempts are run one after another with a clock that jumps
to each attempt's recorded `next_attempt_time`. Nothing is patched.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from kit import jobs
from kit.catalogue import payload_class
from kit.events import Event
from services.notify import signing, webhook_delivery
from services.notify.models import Notification, Webhook, WebhookDelivery
from services.notify.tests.helpers import Events
from services.notify.tests.receiver import closed_port, pki, receiver
from services.notify.webhook_delivery import HttpSender, Policy, RetryLater, deliver, secret_box, webhook_jobs
from tests.support.events import envelope
from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.jobs import NEVER, running_worker
from tests.support.people import Household, Person, household, register
from tests.support.rpc import refused
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

PER_HOUSEHOLD = 4
stack = stack_fixture(
    ["user", "notify"],
    settings_overrides={"notify": {"webhooks_allow_private": True, "webhooks_per_household": PER_HOUSEHOLD}},
)
redis = redis_fixture()
hooks = stub_fixture("notify", notify_pb2_grpc.WebhookServiceStub)


@pytest_asyncio.fixture(loop_scope="module")
async def home(stack: Stack) -> Household:
    return await household(stack, admin="admin", member="member", kid="child")


@pytest_asyncio.fixture(loop_scope="module")
async def events(stack: Stack, redis: aioredis.Redis, home: Household) -> Events:
    fed = Events(stack, redis)
    fed.household_id = home.id
    return fed


@pytest_asyncio.fixture(loop_scope="module")
async def worker(stack: Stack) -> AsyncIterator[None]:
    config = stack.servers["notify"].runtime.settings.model_copy(
        update={
            "prune_cron": NEVER,
            "jobs_recovery_cron": NEVER,
            "webhook_prune_cron": NEVER,
            "webhook_retry_base_seconds": 0.1,
        }
    )
    async with running_worker(config, jobs.create_app(config, webhook_jobs(config))):
        yield


def create(
    home: Household, url: str, events: list[str] | None = None, *, request_id: str = ""
) -> notify_pb2.CreateWebhookRequest:
    return notify_pb2.CreateWebhookRequest(
        parent=home.name,
        webhook=notify_pb2.Webhook(url=url, events=events or ["chore.completed"], description="CI"),
        request_id=request_id,
    )


async def deliveries_of(stack: Stack, webhook_name: str) -> list[WebhookDelivery]:
    webhook_id = uuid.UUID(webhook_name.rsplit("/", 1)[1])
    async with stack.servers["notify"].runtime.sessions() as session:
        rows = await session.scalars(
            sa.select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id).order_by(WebhookDelivery.id)
        )
        return list(rows)


def settings(stack: Stack) -> Any:
    return stack.servers["notify"].runtime.settings


async def test_an_event_reaches_the_receiver_signed_once_and_the_log_shows_it(
    stack: Stack, hooks: notify_pb2_grpc.WebhookServiceStub, home: Household, events: Events, worker: None
) -> None:
    async with receiver() as box:
        made = await hooks.CreateWebhook(create(home, box.url), metadata=home.owner.metadata)
        assert made.secret.startswith("whsec_")
        assert made.webhook.state == "active"
        assert list(made.webhook.events) == ["chore.completed"]
        # A type it did not subscribe to is not delivered; the subscribed one is, once, even when redelivered.
        created = events_pb2.ChoreCreated(household_id=home.id, chore_id=str(uuid.uuid4()), title="Windows")
        await events.send("task", envelope("chore.created", created, household_id=home.id))
        sent = await events.complete(home["member"], "Dishes", points=15)
        (request,) = await box.wait_for(1)

    assert request.method == "POST"
    assert request.path == "/hooks"
    assert request.headers["webhook-id"] == sent.event_id
    assert request.headers["content-type"] == "application/json"
    payload = Verifier(made.secret).verify(request.body, request.headers)
    assert payload["type"] == "chore.completed"
    assert payload["timestamp"].endswith("Z")
    assert payload["data"]["household_id"] == home.id
    assert payload["data"]["title"] == "Dishes"
    assert payload["data"]["points"] == 15
    assert payload["data"]["completed_by"] == home["member"].user_id

    async def logged() -> notify_pb2.ListWebhookDeliveriesResponse | None:
        page = await hooks.ListWebhookDeliveries(
            notify_pb2.ListWebhookDeliveriesRequest(parent=made.webhook.name), metadata=home.owner.metadata
        )
        return page if [d.status for d in page.deliveries] == ["succeeded"] else None

    page = await eventually(logged)
    newest = page.deliveries[0]
    assert (newest.event_id, newest.event_type, newest.attempts, newest.response_code) == (
        sent.event_id,
        "chore.completed",
        1,
        200,
    )
    assert newest.latency_ms >= 0
    assert newest.HasField("attempt_time")
    assert not newest.HasField("next_attempt_time")

    # The same event handled again (a replayed stream): the (event, endpoint) delivery exists, nothing new is owed.
    before = len(await deliveries_of(stack, made.webhook.name))
    async with stack.servers["notify"].runtime.sessions() as session, session.begin():
        cls = payload_class(sent.type)
        assert cls is not None
        payload_message = cls()
        sent.payload.Unpack(payload_message)
        await webhook_delivery.fan_out(session, Event(payload_message, sent))
    assert len(await deliveries_of(stack, made.webhook.name)) == before


async def test_a_rotation_signs_with_both_secrets_and_each_verifies(
    hooks: notify_pb2_grpc.WebhookServiceStub, home: Household, worker: None
) -> None:
    async with receiver() as box:
        made = await hooks.CreateWebhook(create(home, box.url), metadata=home.owner.metadata)
        rotate = notify_pb2.RotateWebhookSecretRequest(name=made.webhook.name)
        # Rotated twice (an answer lost, say): the secret receivers had before keeps signing, the lost one does not.
        lost = await hooks.RotateWebhookSecret(rotate, metadata=home["admin"].metadata)
        rotated = await hooks.RotateWebhookSecret(rotate, metadata=home["admin"].metadata)
        assert len({made.secret, lost.secret, rotated.secret}) == 3
        assert rotated.secret.startswith("whsec_")
        assert rotated.webhook.HasField("previous_secret_expire_time")
        window = rotated.webhook.previous_secret_expire_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)
        assert timedelta(hours=23) < window <= timedelta(hours=24)
        test = await hooks.TestWebhook(
            notify_pb2.TestWebhookRequest(name=made.webhook.name), metadata=home.owner.metadata
        )
        assert test.event_type == "webhook.test"
        assert test.status == "pending"
        (request,) = await box.wait_for(1)

    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    for secret, signature in ((rotated.secret, signatures[0]), (made.secret, signatures[1])):
        alone = {**request.headers, "webhook-signature": signature}
        assert Verifier(secret).verify(request.body, alone)["type"] == "webhook.test"
    with pytest.raises(WebhookVerificationError):
        Verifier(rotated.secret).verify(request.body, {**request.headers, "webhook-signature": signatures[1]})
    with pytest.raises(WebhookVerificationError):
        Verifier(lost.secret).verify(request.body, request.headers)
    assert request.headers["webhook-id"] == test.event_id


async def _walk(stack: Stack, delivery_id: uuid.UUID, sender: HttpSender, policy: Policy) -> list[datetime]:
    """Run every attempt of a delivery, the clock jumping to each next_attempt_time; the times of the attempts."""
    sessions = stack.servers["notify"].runtime.sessions
    now = datetime.now(UTC)
    times = []
    box = secret_box(settings(stack))
    for _ in range(policy.max_attempts + 1):
        times.append(now)
        try:
            status = await deliver(sessions, sender, box, delivery_id, policy=policy, clock=lambda at=now: at)
        except RetryLater as later:
            now = later.retry_at
            continue
        assert status in ("dead", None)
        break
    return times


async def test_a_receiver_down_for_the_whole_schedule_ends_dead_then_disabled_and_the_owner_is_told(
    stack: Stack, hooks: notify_pb2_grpc.WebhookServiceStub, home: Household, events: Events
) -> None:
    down = f"http://127.0.0.1:{await closed_port()}/hooks"
    made = await hooks.CreateWebhook(create(home, down), metadata=home.owner.metadata)
    policy = Policy.of(settings(stack))
    assert policy.disable_after_dead == 3
    sender = HttpSender(allow_private=True, timeout=2)
    for n in range(policy.disable_after_dead):
        await events.complete(home["member"], f"Chore {n}")
        (delivery,) = [d for d in await deliveries_of(stack, made.webhook.name) if d.status == "pending"]
        times = await _walk(stack, delivery.id, sender, policy)
        assert len(times) == policy.max_attempts
        # The schedule spans more than a day, each wait longer than the last until the cap.
        assert times[-1] - times[0] > timedelta(hours=24)
        waits = [b - a for a, b in itertools.pairwise(times)]
        assert waits[0] <= timedelta(seconds=policy.base)
        assert max(waits) <= timedelta(seconds=policy.cap)
        (over,) = [d for d in await deliveries_of(stack, made.webhook.name) if d.id == delivery.id]
        assert (over.status, over.attempts, over.response_code, over.next_attempt_time) == (
            "dead",
            policy.max_attempts,
            None,
            None,
        )
        assert over.last_error
        assert "ConnectError" in over.last_error
        get = notify_pb2.GetWebhookRequest(name=made.webhook.name)
        state = await hooks.GetWebhook(get, metadata=home.owner.metadata)
        assert state.state == ("disabled" if n == policy.disable_after_dead - 1 else "active")
    assert state.disabled_reason == "failing"

    async def told() -> list[Notification]:
        async with stack.servers["notify"].runtime.sessions() as session:
            rows = await session.scalars(sa.select(Notification).where(Notification.type == "webhook.disabled"))
            return [n for n in rows if n.data["webhook_id"] == made.webhook.name.rsplit("/", 1)[1]]

    (notice,) = await eventually(told)
    assert str(notice.user_id) == home.owner.user_id  # the owner, not the admin who could also manage it
    assert notice.title == "A webhook was disabled"
    assert down in notice.body
    # Disabled: the next event is owed to it no more.
    await events.complete(home["member"], "After")
    assert not [d for d in await deliveries_of(stack, made.webhook.name) if d.status == "pending"]
    await hooks.DeleteWebhook(notify_pb2.DeleteWebhookRequest(name=made.webhook.name), metadata=home.owner.metadata)


async def test_410_gone_disables_at_once_and_a_redirect_to_a_metadata_address_is_refused(
    stack: Stack, hooks: notify_pb2_grpc.WebhookServiceStub, home: Household, events: Events
) -> None:
    sender = HttpSender(allow_private=True, timeout=2)
    policy = Policy.of(settings(stack))
    box = secret_box(settings(stack))
    sessions = stack.servers["notify"].runtime.sessions

    def redirect(n: int) -> tuple[int, str | None]:
        return (307, "http://169.254.169.254/latest/meta-data") if n == 0 else (200, None)

    async with receiver(redirect) as inward:
        made = await hooks.CreateWebhook(create(home, inward.url), metadata=home.owner.metadata)
        await events.complete(home["member"], "Redirected")
        (delivery,) = await deliveries_of(stack, made.webhook.name)
        with pytest.raises(RetryLater):
            await deliver(sessions, sender, box, delivery.id, policy=policy)
        assert len(inward.received) == 1  # the receiver was asked once; the metadata address never
    (after,) = await deliveries_of(stack, made.webhook.name)
    assert after.status == "pending"
    assert after.last_error
    assert "169.254.169.254" in after.last_error
    assert "metadata" in after.last_error
    await hooks.DeleteWebhook(notify_pb2.DeleteWebhookRequest(name=made.webhook.name), metadata=home.owner.metadata)

    async with receiver(lambda n: (410, None)) as gone:
        made = await hooks.CreateWebhook(create(home, gone.url), metadata=home.owner.metadata)
        await events.complete(home["member"], "Gone")
        (delivery,) = await deliveries_of(stack, made.webhook.name)
        assert await deliver(sessions, sender, box, delivery.id, policy=policy) == "dead"
    (over,) = await deliveries_of(stack, made.webhook.name)
    assert (over.status, over.attempts, over.response_code) == ("dead", 1, 410)
    state = await hooks.GetWebhook(notify_pb2.GetWebhookRequest(name=made.webhook.name), metadata=home.owner.metadata)
    assert (state.state, state.disabled_reason) == ("disabled", "gone")
    await hooks.DeleteWebhook(notify_pb2.DeleteWebhookRequest(name=made.webhook.name), metadata=home.owner.metadata)


async def test_only_owners_and_admins_manage_and_other_households_ids_are_not_found(
    stack: Stack, hooks: notify_pb2_grpc.WebhookServiceStub, home: Household
) -> None:
    made = await hooks.CreateWebhook(create(home, "https://93.184.215.14/in"), metadata=home["admin"].metadata)
    name = made.webhook.name
    for who in (home["member"], home["kid"]):
        denied = await refused(hooks.CreateWebhook(create(home, "https://93.184.215.14/x"), metadata=who.metadata))
        assert denied.code == grpc.StatusCode.PERMISSION_DENIED
        for call in (
            hooks.ListWebhooks(notify_pb2.ListWebhooksRequest(parent=home.name), metadata=who.metadata),
            hooks.GetWebhook(notify_pb2.GetWebhookRequest(name=name), metadata=who.metadata),
            hooks.DeleteWebhook(notify_pb2.DeleteWebhookRequest(name=name), metadata=who.metadata),
            hooks.RotateWebhookSecret(notify_pb2.RotateWebhookSecretRequest(name=name), metadata=who.metadata),
            hooks.TestWebhook(notify_pb2.TestWebhookRequest(name=name), metadata=who.metadata),
            hooks.ListWebhookDeliveries(notify_pb2.ListWebhookDeliveriesRequest(parent=name), metadata=who.metadata),
        ):
            assert (await refused(call)).code == grpc.StatusCode.PERMISSION_DENIED

    other = await household(stack)
    outsider: Person = other.owner
    outside = await refused(hooks.GetWebhook(notify_pb2.GetWebhookRequest(name=name), metadata=outsider.metadata))
    assert outside.code == grpc.StatusCode.NOT_FOUND
    # A's webhook under B's household, by B's owner: not found, and nothing is deleted.
    foreign = f"{other.name}/webhooks/{name.rsplit('/', 1)[1]}"
    for call in (
        hooks.GetWebhook(notify_pb2.GetWebhookRequest(name=foreign), metadata=outsider.metadata),
        hooks.DeleteWebhook(notify_pb2.DeleteWebhookRequest(name=foreign), metadata=outsider.metadata),
        hooks.ListWebhookDeliveries(
            notify_pb2.ListWebhookDeliveriesRequest(parent=foreign), metadata=outsider.metadata
        ),
    ):
        assert (await refused(call)).code == grpc.StatusCode.NOT_FOUND
    listed = await hooks.ListWebhooks(notify_pb2.ListWebhooksRequest(parent=home.name), metadata=home.owner.metadata)
    assert name in [w.name for w in listed.webhooks]
    # The list never shows a secret; the owner deletes it and it is gone.
    assert made.secret not in str(listed)
    await hooks.DeleteWebhook(notify_pb2.DeleteWebhookRequest(name=name), metadata=home.owner.metadata)
    gone = await refused(hooks.GetWebhook(notify_pb2.GetWebhookRequest(name=name), metadata=home.owner.metadata))
    assert gone.code == grpc.StatusCode.NOT_FOUND


async def test_bad_input_is_refused_field_by_field_and_the_household_limit_holds(
    stack: Stack, hooks: notify_pb2_grpc.WebhookServiceStub
) -> None:
    home = await household(stack)
    bad = notify_pb2.CreateWebhookRequest(
        parent=home.name,
        webhook=notify_pb2.Webhook(
            url="ftp://user:pw@example.com/", events=["chore.completed", "nope.never"], description="x" * 201
        ),
    )
    refusal = await refused(hooks.CreateWebhook(bad, metadata=home.owner.metadata))
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(refusal.violations) == {"url", "events[1]", "description"}
    for events in ([], ["notification.created"], ["user.deleted"], ["*", "x" * 5000]):
        request = create(home, "https://93.184.215.14/in", events or None)
        if not events:
            del request.webhook.events[:]
        assert (await refused(hooks.CreateWebhook(request, metadata=home.owner.metadata))).code == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
    everything = await hooks.CreateWebhook(
        create(home, "https://93.184.215.14/in", ["*", "chore.completed"]), metadata=home.owner.metadata
    )
    assert list(everything.webhook.events) == ["*"]
    for _ in range(PER_HOUSEHOLD - 1):
        await hooks.CreateWebhook(create(home, "https://93.184.215.14/in"), metadata=home.owner.metadata)
    full = await refused(hooks.CreateWebhook(create(home, "https://93.184.215.14/in"), metadata=home.owner.metadata))
    assert full.code == grpc.StatusCode.ABORTED
    assert str(PER_HOUSEHOLD) in full.message


async def test_a_repeated_request_id_creates_once_and_answers_the_same_secret_to_the_same_caller_only(
    stack: Stack, hooks: notify_pb2_grpc.WebhookServiceStub
) -> None:
    home = await household(stack, admin="admin")
    key = str(uuid.uuid4())
    request = create(home, "https://93.184.215.14/in", request_id=key)
    first = await hooks.CreateWebhook(request, metadata=home.owner.metadata)
    again = await hooks.CreateWebhook(request, metadata=home.owner.metadata)
    assert (again.webhook.name, again.secret) == (first.webhook.name, first.secret)
    # Another caller's same key is their own request: a second webhook, with its own secret.
    theirs = await hooks.CreateWebhook(
        create(home, "https://93.184.215.14/in", request_id=key), metadata=home["admin"].metadata
    )
    assert theirs.webhook.name != first.webhook.name
    assert theirs.secret != first.secret
    changed = await refused(
        hooks.CreateWebhook(create(home, "https://93.184.215.14/other", request_id=key), metadata=home.owner.metadata)
    )
    assert changed.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in changed.violations
    listed = await hooks.ListWebhooks(notify_pb2.ListWebhooksRequest(parent=home.name), metadata=home.owner.metadata)
    assert len(listed.webhooks) == 2


async def test_a_deleted_household_takes_its_webhooks_with_it(
    stack: Stack, hooks: notify_pb2_grpc.WebhookServiceStub, redis: aioredis.Redis
) -> None:
    home = await household(stack)
    made = await hooks.CreateWebhook(create(home, "https://93.184.215.14/in"), metadata=home.owner.metadata)
    fed = Events(stack, redis)
    fed.household_id = home.id
    await fed.send(
        "user",
        envelope("household.deleted", events_pb2.HouseholdDeleted(household_id=home.id), household_id=home.id),
    )
    async with stack.servers["notify"].runtime.sessions() as session:
        assert await session.get(Webhook, uuid.UUID(made.webhook.name.rsplit("/", 1)[1])) is None


async def test_an_unauthenticated_caller_is_refused(hooks: notify_pb2_grpc.WebhookServiceStub, stack: Stack) -> None:
    someone = await register(stack, "Nobody")
    assert someone.user_id
    refusal = await refused(hooks.ListWebhooks(notify_pb2.ListWebhooksRequest(parent=f"households/{uuid.uuid4()}")))
    assert refusal.code == grpc.StatusCode.UNAUTHENTICATED


async def test_the_connection_goes_to_the_checked_address_with_the_name_as_host() -> None:
    async def resolve(host: str, port: int) -> list[Any]:
        import ipaddress

        return [ipaddress.ip_address("127.0.0.1")] if host == "hooks.test" else []

    sender = HttpSender(allow_private=True, timeout=2, resolver=resolve)
    async with receiver() as box:
        answer = await sender.send(f"http://hooks.test:{box.port}/in?x=1", {"webhook-id": "m1"}, "{}")
        (request,) = box.received
    assert (answer.status, answer.error) == (200, None)
    assert answer.latency_ms is not None
    assert request.headers["host"] == f"hooks.test:{box.port}"
    assert request.path == "/in?x=1"
    assert request.headers["user-agent"].startswith("Hearth-Webhooks")
    # A name the resolver does not know is never connected to.
    unknown = await sender.send(f"http://elsewhere.test:{box.port}/in", {}, "{}")
    assert unknown.status is None
    assert unknown.error is not None
    assert "does not resolve" in unknown.error


async def test_a_receiver_that_hangs_is_given_up_on_within_the_timeout_and_redirect_loops_end() -> None:
    from tests.support.black_hole import black_hole

    sender = HttpSender(allow_private=True, timeout=0.3)
    async with black_hole() as address:
        answer = await sender.send(f"http://{address}/hooks", {}, "{}")
    assert answer.status is None
    assert answer.error is not None
    assert "timed out" in answer.error

    async with receiver(lambda n: (302, "/again")) as loop:
        looped = await sender.send(loop.url, {}, "{}")
    assert looped.error is not None
    assert "redirects" in looped.error
    assert len(loop.received) == webhook_delivery.MAX_REDIRECTS + 1


async def test_the_log_keeps_finished_deliveries_for_its_retention_and_owed_ones_always(
    stack: Stack, hooks: notify_pb2_grpc.WebhookServiceStub, home: Household, events: Events
) -> None:
    sessions = stack.servers["notify"].runtime.sessions
    sender = HttpSender(allow_private=True, timeout=2)
    box = secret_box(settings(stack))
    async with receiver() as ok:
        made = await hooks.CreateWebhook(create(home, ok.url), metadata=home.owner.metadata)
        await events.complete(home["member"], "Kept")
        await events.complete(home["member"], "Owed")
        done, owed = await deliveries_of(stack, made.webhook.name)
        assert await deliver(sessions, sender, box, done.id, policy=Policy.of(settings(stack))) == "succeeded"
    now = datetime.now(UTC)
    assert await webhook_delivery.prune_deliveries(sessions, before=now - timedelta(days=1)) == 0
    assert await webhook_delivery.prune_deliveries(sessions, before=now + timedelta(seconds=1)) >= 1
    assert [d.id for d in await deliveries_of(stack, made.webhook.name)] == [owed.id]
    await hooks.DeleteWebhook(notify_pb2.DeleteWebhookRequest(name=made.webhook.name), metadata=home.owner.metadata)


async def test_a_failed_test_delivery_is_not_retried_and_disables_nothing(
    stack: Stack, hooks: notify_pb2_grpc.WebhookServiceStub, home: Household
) -> None:
    sessions = stack.servers["notify"].runtime.sessions
    sender = HttpSender(allow_private=True, timeout=2)
    box = secret_box(settings(stack))
    async with receiver(lambda n: (500, None)) as failing:
        made = await hooks.CreateWebhook(create(home, failing.url), metadata=home.owner.metadata)
        name = made.webhook.name
        for _ in range(4):
            test = await hooks.TestWebhook(notify_pb2.TestWebhookRequest(name=name), metadata=home.owner.metadata)
            delivery_id = uuid.UUID(test.name.rsplit("/", 1)[1])
            # One on its way: another is refused (no worker runs here, so it stays on its way until delivered).
            flood = await refused(
                hooks.TestWebhook(notify_pb2.TestWebhookRequest(name=name), metadata=home.owner.metadata)
            )
            assert flood.code == grpc.StatusCode.ABORTED
            assert await deliver(sessions, sender, box, delivery_id, policy=Policy.of(settings(stack))) == "dead"
    log = await hooks.ListWebhookDeliveries(
        notify_pb2.ListWebhookDeliveriesRequest(parent=name), metadata=home.owner.metadata
    )
    assert [(d.status, d.attempts, d.response_code) for d in log.deliveries] == [("dead", 1, 500)] * 4
    assert log.deliveries[0].last_error.startswith("HTTP 500")
    state = await hooks.GetWebhook(notify_pb2.GetWebhookRequest(name=name), metadata=home.owner.metadata)
    assert state.state == "active"
    await hooks.DeleteWebhook(notify_pb2.DeleteWebhookRequest(name=name), metadata=home.owner.metadata)


async def test_after_the_rotation_window_only_the_new_secret_signs(
    stack: Stack, hooks: notify_pb2_grpc.WebhookServiceStub, home: Household
) -> None:
    sessions = stack.servers["notify"].runtime.sessions
    sender = HttpSender(allow_private=True, timeout=2)
    box = secret_box(settings(stack))
    async with receiver() as ok:
        made = await hooks.CreateWebhook(create(home, ok.url), metadata=home.owner.metadata)
        name = made.webhook.name
        rotated = await hooks.RotateWebhookSecret(
            notify_pb2.RotateWebhookSecretRequest(name=name), metadata=home.owner.metadata
        )
        test = await hooks.TestWebhook(notify_pb2.TestWebhookRequest(name=name), metadata=home.owner.metadata)
        later = datetime.now(UTC) + timedelta(hours=24, minutes=1)
        delivery_id = uuid.UUID(test.name.rsplit("/", 1)[1])
        policy = Policy.of(settings(stack))
        assert await deliver(sessions, sender, box, delivery_id, policy=policy, clock=lambda: later) == "succeeded"
        (request,) = ok.received
    (signature,) = request.headers["webhook-signature"].split(" ")
    assert signature.startswith("v1,")
    # Signed at the (advanced) attempt time: the reference library checks it against its own clock, so compare the
    # signature itself.
    stamp = int(request.headers["webhook-timestamp"])
    assert stamp == int(later.timestamp())
    assert signature == signing.signature(rotated.secret, request.headers["webhook-id"], stamp, request.body)
    await hooks.DeleteWebhook(notify_pb2.DeleteWebhookRequest(name=name), metadata=home.owner.metadata)


async def test_a_deleted_creator_is_forgotten_and_the_webhook_stays_the_households(
    stack: Stack, hooks: notify_pb2_grpc.WebhookServiceStub, redis: aioredis.Redis
) -> None:
    home = await household(stack, admin="admin")
    made = await hooks.CreateWebhook(create(home, "https://93.184.215.14/in"), metadata=home["admin"].metadata)
    webhook_id = uuid.UUID(made.webhook.name.rsplit("/", 1)[1])
    admin = home["admin"]
    fed = Events(stack, redis)
    await fed.send("user", envelope("user.deleted", events_pb2.UserDeleted(user_id=admin.user_id), household_id=""))
    async with stack.servers["notify"].runtime.sessions() as session:
        kept = await session.get(Webhook, webhook_id)
    assert kept is not None
    assert kept.created_by == uuid.UUID(int=0)
    assert kept.state == "active"


async def test_https_goes_to_the_pinned_address_and_the_certificate_is_verified_for_the_name(
    tmp_path: Any,
) -> None:
    tls = pki(str(tmp_path), "hooks.test")

    async def resolve(host: str, port: int) -> list[Any]:
        import ipaddress

        return [ipaddress.ip_address("127.0.0.1")] if host in ("hooks.test", "other.test") else []

    sender = HttpSender(allow_private=True, timeout=2, resolver=resolve, verify=tls.ca)
    async with receiver(tls=tls.server) as box:
        answer = await sender.send(f"https://hooks.test:{box.port}/in", {"webhook-id": "m1"}, "{}")
        assert (answer.status, answer.error) == (200, None)
        assert box.received[0].headers["host"] == f"hooks.test:{box.port}"
        # The same address under another name: the certificate is not that name's, so nothing is sent.
        wrong = await sender.send(f"https://other.test:{box.port}/in", {"webhook-id": "m2"}, "{}")
        assert wrong.status is None
        assert wrong.error is not None
        assert "ConnectError" in wrong.error
        assert len(box.received) == 1
