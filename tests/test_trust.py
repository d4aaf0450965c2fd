"""Trust between services, tried as an attacker would, through the real services (DESIGN.md).

1. Service tokens: a service's own credential for background work. Accepted on internal RPCs only, refused
   on user-facing ones; a user's access token is refused on internal RPCs; a wrong secret, a wrong audience,
   an expired token, a foreign key and another service's token are refused.
2. Redis is a trust boundary: every process connects as its own ACL user. Notify's credentials cannot forge a
   completion on task's stream or touch task's cache; a forged membership-cache entry does not let an outsider
   into another household; the gateway still has what it needs.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import redis.asyncio as aioredis
from hearth.events.v1 import events_pb2
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc
from hearth.task.v1 import task_pb2, task_pb2_grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc
from redis.exceptions import NoPermissionError

from kit.ids import new_id
from services.user import keys
from services.user.client import Membership, membership_client
from services.user.service_tokens import issue_service_token
from tests.support.events import consumed, envelope, publish
from tests.support.fixtures import redis_fixture, stack_fixture
from tests.support.people import Household, household, register
from tests.support.rpc import refused
from tests.support.service_tokens import bearer, issue
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEYS_DIR = Path(tempfile.mkdtemp(prefix="hearth-trust-keys-"))
ISSUER, AUDIENCE = "https://hearth.dev", "hearth"
stack = stack_fixture(
    ["user", "task", "notify", "analytics"], gateway=True, settings_overrides={"user": {"keys_dir": KEYS_DIR}}
)
redis = redis_fixture()


async def get_membership(stack: Stack, home: Household, user_id: str, token: str) -> user_pb2.Member:
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        return await user_pb2_grpc.MembershipServiceStub(channel).GetMembership(
            user_pb2.GetMembershipRequest(name=f"{home.name}/members/{user_id}"), metadata=bearer(token)
        )


async def get_member(stack: Stack, home: Household, user_id: str, token: str) -> user_pb2.Member:
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        return await user_pb2_grpc.HouseholdServiceStub(channel).GetMember(
            user_pb2.GetMemberRequest(name=f"{home.name}/members/{user_id}"), metadata=bearer(token)
        )


def redis_as(stack: Stack, process: str) -> aioredis.Redis:
    assert stack.credentials is not None
    return aioredis.Redis.from_url(stack.credentials.redis_urls[process])


# --- 1. service tokens ------------------------------------------------------------------------------------


async def test_a_service_token_is_accepted_on_the_internal_rpc(stack: Stack) -> None:
    home = await household(stack, member="member")
    token = await issue(stack, "notify", "hearth:user")
    member = await get_membership(stack, home, home["member"].user_id, token)
    assert member.role == user_pb2.ROLE_MEMBER
    assert member.household_time_zone == "Europe/Berlin"
    outsider = await register(stack, "Olga")
    assert (await refused(get_membership(stack, home, outsider.user_id, token))).code == grpc.StatusCode.NOT_FOUND


async def test_a_service_token_is_refused_on_user_facing_rpcs(stack: Stack) -> None:
    home = await household(stack)
    token = await issue(stack, "task", "hearth:user")
    refusal = await refused(get_member(stack, home, home.owner.user_id, token))
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    assert "internal methods only" in refusal.message
    # On another service's user-facing RPC too, with a token meant for it.
    task_token = await issue(stack, "notify", "hearth:task")
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        listing = task_pb2_grpc.ChoreServiceStub(channel).ListChores(
            task_pb2.ListChoresRequest(parent=home.name), metadata=bearer(task_token)
        )
        assert (await refused(listing)).code == grpc.StatusCode.PERMISSION_DENIED


async def test_a_user_access_token_is_refused_on_the_internal_rpc(stack: Stack) -> None:
    home = await household(stack)
    refusal = await refused(get_membership(stack, home, home.owner.user_id, home.owner.token))
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    assert "only services" in refusal.message


async def test_the_internal_rpc_without_a_token_is_unauthenticated(stack: Stack) -> None:
    home = await household(stack)
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        call = user_pb2_grpc.MembershipServiceStub(channel).GetMembership(
            user_pb2.GetMembershipRequest(name=f"{home.name}/members/{home.owner.user_id}")
        )
        assert (await refused(call)).code == grpc.StatusCode.UNAUTHENTICATED


async def test_a_token_for_another_callee_is_refused(stack: Stack) -> None:
    """Notify's token for analytics (or task) does not open user's internal RPC."""
    home = await household(stack)
    for audience in ("hearth:analytics", "hearth:task"):
        token = await issue(stack, "notify", audience)
        refusal = await refused(get_membership(stack, home, home.owner.user_id, token))
        assert refusal.code == grpc.StatusCode.UNAUTHENTICATED, audience


@pytest.mark.parametrize(
    ("service", "secret"),
    [
        ("task", "not task's secret, but long enough"),
        ("nobody", "whatever secret anyone might try"),
        ("task", None),  # notify's secret, claiming to be task: below
    ],
)
async def test_a_wrong_secret_gets_no_token(stack: Stack, service: str, secret: str | None) -> None:
    assert stack.credentials is not None
    secret = secret if secret is not None else stack.credentials.service_secrets["notify"]
    refusal = await refused(issue(stack, service, "hearth:user", secret=secret))
    assert refusal.code == grpc.StatusCode.UNAUTHENTICATED


async def test_an_audience_that_is_no_hearth_service_is_invalid(stack: Stack) -> None:
    for audience in ("hearth", "hearth:gateway", "https://elsewhere.example"):
        refusal = await refused(issue(stack, "task", audience))
        assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, audience


async def test_expired_forged_and_mistyped_service_tokens_are_refused(stack: Stack) -> None:
    home = await household(stack)
    key = keys.load_or_create(KEYS_DIR)  # the user service's own signing key
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    expired = issue_service_token(
        key, service="task", audience="hearth:user", issuer=ISSUER, ttl=timedelta(minutes=5), now=long_ago
    )
    other = keys.load_or_create(Path(tempfile.mkdtemp(prefix="hearth-foreign-key-")))  # not user's key
    forged = issue_service_token(
        other, service="task", audience="hearth:user", issuer=ISSUER, ttl=timedelta(minutes=5), now=datetime.now(UTC)
    )
    # A service token with the users' audience must not pass as an access token on user-facing RPCs either.
    as_access = issue_service_token(
        key, service="task", audience=AUDIENCE, issuer=ISSUER, ttl=timedelta(minutes=5), now=datetime.now(UTC)
    )
    for token in (expired, forged, as_access):
        refusal = await refused(get_membership(stack, home, home.owner.user_id, token))
        assert refusal.code == grpc.StatusCode.UNAUTHENTICATED
    refusal = await refused(get_member(stack, home, home.owner.user_id, as_access))
    assert refusal.code == grpc.StatusCode.UNAUTHENTICATED


async def test_background_membership_answers_come_through_the_services_own_identity(stack: Stack) -> None:
    """No end user acting: task's real MembershipClient asks the internal RPC with task's service token."""
    home = await household(stack, kid="child")
    runtime = stack.servers["task"].runtime
    client = membership_client(runtime, ttl=60)
    found = await client.get(home.id, home["kid"].user_id)
    kid = home["kid"]
    assert found == Membership(home.id, kid.user_id, "child", kid.display_name, "Europe/Berlin")
    assert await client.get(home.id, (await register(stack, "Stranger")).user_id) is None
    assert runtime.service_tokens is not None
    assert runtime.service_tokens.fetches >= 1


# --- 2. Redis ACL users -----------------------------------------------------------------------------------


async def test_notify_cannot_forge_a_completion_on_tasks_stream(stack: Stack, redis: aioredis.Redis) -> None:
    home = await household(stack)
    completed = events_pb2.ChoreCompleted(household_id=home.id, chore_id=str(new_id()), completed_by=home.owner.user_id)
    forged = envelope("chore.completed", completed, household_id=home.id, source="task")
    stream = f"{stack.namespace}.events.task"
    before = await redis.xlen(stream)
    notify = redis_as(stack, "notify")
    try:
        with pytest.raises(NoPermissionError):
            await publish(notify, stream, forged)
        # Nor onto user's stream, nor a stream it does not know.
        for other in ("user", "analytics", "notify-but-not-really"):
            with pytest.raises(NoPermissionError):
                await publish(notify, f"{stack.namespace}.events.{other}", forged)
    finally:
        await notify.aclose()
    assert await redis.xlen(stream) == before


async def test_a_service_cannot_speak_for_another_on_its_own_stream(stack: Stack, redis: aioredis.Redis) -> None:
    """task may append to task's stream — but a member.joined there (role owner, for an outsider) is user's to
    say: notify and analytics refuse it (dead-lettered), and the outsider hears nothing of the household."""
    home = await household(stack, member="member")
    outsider = await register(stack, "Mallory")
    joined = events_pb2.MemberJoined(household_id=home.id, user_id=outsider.user_id, display_name="M", role="owner")
    forged = envelope("member.joined", joined, household_id=home.id, source="user")
    stream = f"{stack.namespace}.events.task"
    task = redis_as(stack, "task")
    try:
        entry = await publish(task, stream, forged)  # allowed: it is task's own stream
    finally:
        await task.aclose()
    for group in ("notify", "analytics"):
        await consumed(redis, stream, group, entry)
    dead = [fields for _, fields in await redis.xrange(f"{stream}.dead")]
    assert sum(json_free(fields).get("original_id") == entry for fields in dead) == 2  # one per consumer group
    # A real completion in the household now: the outsider is not among those notified.
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        chores = task_pb2_grpc.ChoreServiceStub(channel)
        chore = await chores.CreateChore(
            task_pb2.CreateChoreRequest(
                parent=f"households/{home.id}",
                chore=task_pb2.Chore(
                    title="Bins",
                    recurrence=task_pb2.Recurrence(once=task_pb2.Recurrence.Once()),
                    assignment=task_pb2.Assignment(strategy=task_pb2.Assignment.UNASSIGNED),
                ),
            ),
            metadata=home.owner.metadata,
        )
        await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=home.owner.metadata)
    await eventually_notified(stack, home["member"].metadata)
    async with grpc.aio.insecure_channel(stack.addr("notify")) as channel:
        inbox = notify_pb2_grpc.NotificationServiceStub(channel)
        mine = await inbox.ListNotifications(
            notify_pb2.ListNotificationsRequest(parent="users/me"), metadata=outsider.metadata
        )
    assert list(mine.notifications) == []


def json_free(fields: dict[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in fields.items()
        if k not in (b"envelope", "envelope")
    }


async def eventually_notified(stack: Stack, metadata: Any) -> None:
    """Until the member has heard of the completion (so notify has handled everything before it too)."""
    async with grpc.aio.insecure_channel(stack.addr("notify")) as channel:
        inbox = notify_pb2_grpc.NotificationServiceStub(channel)

        async def heard() -> bool:
            page = await inbox.ListNotifications(
                notify_pb2.ListNotificationsRequest(parent="users/me"), metadata=metadata
            )
            return len(page.notifications) > 0

        await eventually(heard)


async def test_each_service_appends_only_to_its_own_stream(stack: Stack, redis: aioredis.Redis) -> None:
    for service in ("user", "task", "notify", "analytics"):
        client = redis_as(stack, service)
        try:
            probe = envelope("household.updated", events_pb2.HouseholdUpdated(), household_id=str(new_id()))
            own = f"{stack.namespace}.probe.{service}"  # not a stream of anyone's: refused as well
            with pytest.raises(NoPermissionError):
                await publish(client, own, probe)
            for other in {"user", "task", "notify", "analytics"} - {service}:
                with pytest.raises(NoPermissionError):
                    await client.xadd(f"{stack.namespace}.events.{other}", {"envelope": b"forged"})
        finally:
            await client.aclose()


async def test_a_service_cannot_read_or_write_another_services_cache(stack: Stack, redis: aioredis.Redis) -> None:
    key = f"{stack.namespace}:task:{new_id()}:membership:{new_id()}:v2"
    await redis.set(key, b"genuine")
    notify = redis_as(stack, "notify")
    try:
        with pytest.raises(NoPermissionError):
            await notify.set(key, b"forged")
        with pytest.raises(NoPermissionError):
            await notify.get(key)
        with pytest.raises(NoPermissionError):
            await notify.delete(key)
        with pytest.raises(NoPermissionError):
            await notify.scan()  # key names of other services are not listed either
        with pytest.raises(NoPermissionError):
            await notify.flushall()
        # Its own prefix is its own.
        assert await notify.set(f"{stack.namespace}:notify:probe", b"1")
    finally:
        await notify.aclose()
    assert await redis.get(key) == b"genuine"


async def test_a_forged_membership_entry_lets_no_outsider_into_a_household(stack: Stack, redis: aioredis.Redis) -> None:
    """Even someone who can write task's keys (here: the admin user) plants an answer task does not believe."""
    home = await household(stack)
    outsider = await register(stack, "Mallory")
    key = f"{stack.namespace}:task:{home.id}:membership:{outsider.user_id}:v2"
    forged: dict[str, Any] = {
        "household_id": home.id,
        "user_id": outsider.user_id,
        "role": "owner",
        "display_name": "Mallory",
        "time_zone": "UTC",
    }
    for value in (json.dumps(forged).encode(), b"\x00" * 32 + json.dumps(forged).encode()):
        await redis.set(key, value, ex=300)
        async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
            chores = task_pb2_grpc.ChoreServiceStub(channel)
            listing = chores.ListChores(task_pb2.ListChoresRequest(parent=home.name), metadata=outsider.metadata)
            assert (await refused(listing)).code == grpc.StatusCode.NOT_FOUND
            chore = task_pb2.Chore(
                title="Pay Mallory",
                points=10,
                recurrence=task_pb2.Recurrence(once=task_pb2.Recurrence.Once()),
                assignment=task_pb2.Assignment(strategy=task_pb2.Assignment.UNASSIGNED),
            )
            creating = chores.CreateChore(
                task_pb2.CreateChoreRequest(parent=home.name, chore=chore), metadata=outsider.metadata
            )
            assert (await refused(creating)).code == grpc.StatusCode.NOT_FOUND
            listing = chores.ListChores(task_pb2.ListChoresRequest(parent=home.name), metadata=home.owner.metadata)
            assert [c.title for c in (await listing).chores] == []


async def test_the_gateway_keeps_what_it_needs(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as http:
        reply = await http.get("/health/cache")
        assert reply.status_code == 200
        assert reply.json()["components"]["gateway"]["status"] == "ok"

        # Its ACL user may keep the health history under its own prefix ({namespace}:gateway:health:history): the
        # sampler files a sample at the gateway's start.
        async def filed() -> bool:
            checks = (await http.get("/health/history")).json()["checks"]
            return bool(checks)

        await eventually(filed)
    gateway = redis_as(stack, "gateway")
    try:
        assert await gateway.ping()
        with pytest.raises(NoPermissionError):
            await gateway.xadd(f"{stack.namespace}.events.task", {"envelope": b"forged"})
        with pytest.raises(NoPermissionError):
            await gateway.get(f"{stack.namespace}:task:anything")
    finally:
        await gateway.aclose()
