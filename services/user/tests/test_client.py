"""services.user.client.MembershipClient against a real Redis and a real gRPC stand-in for the user service.

The stand-in (`Households`) serves HouseholdService.GetMember (the user-driven path) and the internal
MembershipService.GetMembership (the background path, with a service token) through the real kit server stack
from a table the test fills, and records every request it answers: that record is how a test tells an answer
served from the Redis cache from one fetched over gRPC. Service tokens come from the real
ServiceTokenServicer (services/user/service_tokens.py) on the same server, signed by a real signing key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit import context, errors
from kit.auth import TokenVerifier
from kit.cache import SignedCache
from kit.ids import new_id
from kit.service_tokens import ServiceTokens
from kit.tests.grpc_helpers import AUDIENCE, ISSUER, serving_registrations
from services.user import keys
from services.user.client import ADULT_ROLES, Membership, MembershipClient
from services.user.service_tokens import ServiceSecrets, ServiceTokenServicer

HOUSEHOLDS = "hearth.user.v1.HouseholdService"
MEMBERSHIPS = "hearth.user.v1.MembershipService"
SERVICE_TOKENS = "hearth.user.v1.ServiceTokenService"
SERVICE = "task"
TTL = 45
SECRET = b"a test secret of 32 bytes length"
SERVICE_SECRET = "task's own service secret, 32+ chars"


class Households(user_pb2_grpc.HouseholdServiceServicer):
    """GetMember over `members` (keyed by member resource name); NOT_FOUND for anyone else."""

    def __init__(self) -> None:
        self.members: dict[str, user_pb2.Member] = {}
        self.asked: list[str] = []
        # Who asked, per request: the end user's id (GetMember) or "service:<name>" (GetMembership).
        self.askers: list[str] = []
        self.failure: errors.HearthError | None = None
        # When set, GetMember reads its answer, then waits for `release` before replying (a slow answer).
        self.hold: asyncio.Event | None = None
        self.holding = asyncio.Event()

    def add(
        self,
        household_id: uuid.UUID,
        user_id: uuid.UUID,
        role: int = user_pb2.ROLE_MEMBER,
        *,
        display_name: str = "Ann",
        time_zone: str = "Europe/Berlin",
    ) -> None:
        name = member_name(household_id, user_id)
        self.members[name] = user_pb2.Member(
            name=name, user=f"users/{user_id}", display_name=display_name, role=role, household_time_zone=time_zone
        )

    async def GetMember(self, request: user_pb2.GetMemberRequest, context: Any) -> user_pb2.Member:
        return await self.answer(request.name)

    async def answer(self, name: str) -> user_pb2.Member:
        caller = context.caller.get()
        self.askers.append(
            "" if caller is None else f"service:{caller.service}" if caller.is_service else caller.user_id
        )
        request = user_pb2.GetMemberRequest(name=name)
        self.asked.append(request.name)
        if self.failure is not None:
            raise self.failure
        member = self.members.get(request.name)
        if self.hold is not None:
            self.holding.set()
            await self.hold.wait()
        if member is None:
            raise errors.NotFound("member not found")
        return member


class Memberships(user_pb2_grpc.MembershipServiceServicer):
    """The internal GetMembership over the same table as `Households`."""

    def __init__(self, households: Households) -> None:
        self.households = households

    async def GetMembership(self, request: user_pb2.GetMembershipRequest, context: Any) -> user_pb2.Member:
        return await self.households.answer(request.name)


def member_name(household_id: uuid.UUID, user_id: uuid.UUID) -> str:
    return f"households/{household_id}/members/{user_id}"


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def as_caller(user_id: uuid.UUID) -> Iterator[None]:
    token = context.caller.set(context.Caller(user_id=str(user_id), token="unused"))
    try:
        yield
    finally:
        context.caller.reset(token)


async def role_of(client: MembershipClient, household_id: uuid.UUID, user_id: uuid.UUID) -> str:
    membership = await client.get(household_id, user_id)
    assert membership is not None, "not a member"
    return membership.role


@dataclass
class Env:
    client: MembershipClient
    households: Households
    redis: aioredis.Redis
    namespace: str
    channel: grpc.aio.Channel
    cache: SignedCache
    tokens: ServiceTokens

    def key(self, household_id: uuid.UUID, user_id: uuid.UUID) -> str:
        """The documented cache key: {namespace}:{service}:{household}:membership:{user}:v2."""
        return f"{self.namespace}:{SERVICE}:{household_id}:membership:{user_id}:v2"


def signed_cache(redis: aioredis.Redis, namespace: str) -> SignedCache:
    return SignedCache(redis, prefix=f"{namespace}:{SERVICE}", secret=SECRET, ttl=TTL)


@pytest.fixture
async def env(redis_client: aioredis.Redis, namespace: str, tmp_path: Any) -> AsyncIterator[Env]:
    households = Households()
    key = keys.load_or_create(tmp_path / "keys")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / SERVICE).write_text(SERVICE_SECRET)

    async def jwks() -> dict[str, Any]:
        return keys.jwks([key])

    registrations = [
        (user_pb2_grpc.add_HouseholdServiceServicer_to_server, households, HOUSEHOLDS),
        (user_pb2_grpc.add_MembershipServiceServicer_to_server, Memberships(households), MEMBERSHIPS),
        (
            user_pb2_grpc.add_ServiceTokenServiceServicer_to_server,
            ServiceTokenServicer(key, ServiceSecrets(tmp_path / "secrets"), issuer=ISSUER, audience=AUDIENCE),
            SERVICE_TOKENS,
        ),
    ]
    verifier = TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, service_audience=f"{AUDIENCE}:user")
    public = [f"/{HOUSEHOLDS}/GetMember", f"/{SERVICE_TOKENS}/IssueServiceToken"]
    async with (
        serving_registrations(registrations, verifier=verifier, public_methods=public, service="user") as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        cache = signed_cache(redis_client, namespace)
        tokens = ServiceTokens(channel, service=SERVICE, secret=SERVICE_SECRET, audience=AUDIENCE)
        yield Env(MembershipClient(channel, cache, tokens), households, redis_client, namespace, channel, cache, tokens)


async def test_answer_is_cached_under_the_documented_key_with_the_ttl(env: Env) -> None:
    h, u = new_id(), new_id()
    env.households.add(h, u, user_pb2.ROLE_ADMIN, display_name="Ann", time_zone="Europe/Berlin")

    first = await env.client.get(h, u)

    assert first == Membership(str(h), str(u), "admin", "Ann", "Europe/Berlin")
    cached = await env.redis.get(env.key(h, u))
    assert cached is not None
    opened = env.cache.open(env.key(h, u), cached)
    assert opened is not None
    assert json.loads(opened) == asdict(first)
    assert 0 < await env.redis.ttl(env.key(h, u)) <= TTL


async def test_an_answer_read_before_an_invalidation_is_not_written_back_over_it(env: Env) -> None:
    h, u = new_id(), new_id()
    env.households.add(h, u, user_pb2.ROLE_ADMIN)
    env.households.hold = release = asyncio.Event()
    # A request reads "admin" from the user service; before it can cache that, the member is demoted
    # and the membership event invalidates the entry.
    slow = asyncio.create_task(env.client.get(h, u))
    await asyncio.wait_for(env.households.holding.wait(), 5)
    env.households.add(h, u, user_pb2.ROLE_CHILD)
    await env.client.invalidate(h, u)
    release.set()
    assert (await slow) is not None  # that request still gets the answer it asked for …
    assert not await env.redis.exists(env.key(h, u))  # … but it is not cached over the invalidation
    env.households.hold = None
    assert await role_of(env.client, h, u) == "child"
    assert await env.redis.exists(env.key(h, u))  # an answer read after the invalidation is cached again


async def test_second_answer_comes_from_the_cache_not_the_user_service(env: Env) -> None:
    h, u = new_id(), new_id()
    env.households.add(h, u, user_pb2.ROLE_OWNER)
    first = await env.client.get(h, u)
    # The user service forgets the member: only the cache can still give the same answer.
    env.households.members.clear()

    assert await env.client.get(h, u) == first
    assert env.households.asked == [member_name(h, u)]


async def test_a_fresh_answer_asks_the_user_service_past_the_cache(env: Env) -> None:
    h, u = new_id(), new_id()
    env.households.add(h, u, user_pb2.ROLE_OWNER)
    assert await env.client.get(h, u) is not None
    env.households.members.clear()  # removed; the cached answer has not heard yet

    assert await env.client.get(h, u) is not None
    assert await env.client.get(h, u, fresh=True) is None
    assert env.households.asked == [member_name(h, u), member_name(h, u)]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (user_pb2.ROLE_OWNER, "owner"),
        (user_pb2.ROLE_ADMIN, "admin"),
        (user_pb2.ROLE_MEMBER, "member"),
        (user_pb2.ROLE_CHILD, "child"),
    ],
)
async def test_roles_are_the_lower_case_names_without_prefix(env: Env, role: int, expected: str) -> None:
    h, u = new_id(), new_id()
    env.households.add(h, u, role)
    assert await role_of(env.client, h, u) == expected


async def test_a_household_without_time_zone_is_utc(env: Env) -> None:
    h, u = new_id(), new_id()
    env.households.add(h, u, time_zone="")
    membership = await env.client.get(h, u)
    assert membership is not None
    assert membership.time_zone == "UTC"


async def test_negative_answers_are_not_cached_so_a_new_member_gets_in(env: Env) -> None:
    h, u = new_id(), new_id()

    assert await env.client.get(h, u) is None
    assert not await env.redis.exists(env.key(h, u))

    env.households.add(h, u)  # e.g. they accept an invite a moment later
    assert await role_of(env.client, h, u) == "member"
    assert env.households.asked == [member_name(h, u)] * 2


async def test_require_without_a_caller_is_unauthenticated_and_asks_nobody(env: Env) -> None:
    with pytest.raises(errors.Unauthenticated):
        await env.client.require(new_id())
    assert env.households.asked == []


async def test_require_for_an_outsider_is_not_found(env: Env) -> None:
    h, insider, outsider = new_id(), new_id(), new_id()
    env.households.add(h, insider)
    with as_caller(outsider), pytest.raises(errors.NotFound):
        await env.client.require(h)


async def test_require_with_a_role_the_member_lacks_is_permission_denied(env: Env) -> None:
    h, child = new_id(), new_id()
    env.households.add(h, child, user_pb2.ROLE_CHILD)
    with as_caller(child):
        with pytest.raises(errors.PermissionDenied):
            await env.client.require(h, roles=ADULT_ROLES)
        with pytest.raises(errors.PermissionDenied):
            await env.client.require(h, roles=["owner"])


async def test_require_returns_the_callers_membership(env: Env) -> None:
    h, admin = new_id(), new_id()
    env.households.add(h, admin, user_pb2.ROLE_ADMIN)
    with as_caller(admin):
        assert (await env.client.require(h, roles=ADULT_ROLES)).role == "admin"
        assert (await env.client.require(h)).user_id == str(admin)  # no roles: any member


async def test_invalidate_drops_the_entry_so_the_next_answer_is_fresh(env: Env) -> None:
    h, u = new_id(), new_id()
    env.households.add(h, u, user_pb2.ROLE_MEMBER)
    await env.client.get(h, u)
    env.households.add(h, u, user_pb2.ROLE_ADMIN)  # promoted; the cache still says member
    assert await role_of(env.client, h, u) == "member"

    await env.client.invalidate(h, u)

    assert not await env.redis.exists(env.key(h, u))
    assert await role_of(env.client, h, u) == "admin"
    assert len(env.households.asked) == 2


async def test_redis_down_falls_through_to_the_user_service(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    # Built like kit.runtime builds it (from_url: no client-side retries, so a refused connection fails fast).
    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0", socket_timeout=5, socket_connect_timeout=2)
    client = MembershipClient(env.channel, signed_cache(dead, env.namespace), env.tokens)
    h, u = new_id(), new_id()
    env.households.add(h, u, user_pb2.ROLE_OWNER)
    try:
        with caplog.at_level(logging.WARNING, logger="hearth.cache"):
            assert await role_of(client, h, u) == "owner"
            assert await role_of(client, h, u) == "owner"
            with as_caller(u):
                assert (await client.require(h, roles=["owner"])).role == "owner"
            await client.invalidate(h, u)  # does not raise either
    finally:
        await dead.aclose()
    assert len(env.households.asked) == 3  # nothing could be cached
    assert any("cache unavailable" in r.getMessage() for r in caplog.records)


async def test_other_user_service_errors_are_raised_as_domain_errors_and_not_cached(env: Env) -> None:
    h, u = new_id(), new_id()
    env.households.add(h, u)
    env.households.failure = errors.Unavailable("user database is down")
    with pytest.raises(errors.Unavailable):
        await env.client.get(h, u)
    assert not await env.redis.exists(env.key(h, u))


async def test_user_service_unreachable_is_unavailable_not_not_found(redis_client: aioredis.Redis) -> None:
    """An outage must not read as "no such household" (which would be a wrong, cacheable-looking 404)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{closed_port()}") as channel:
        client = MembershipClient(channel, signed_cache(redis_client, "unused"))
        with as_caller(new_id()), pytest.raises(errors.Unavailable):
            await client.require(new_id())


# --- Redis is a trust boundary: what an attacker who can write keys gets -------------------------------


async def test_a_forged_entry_is_a_miss_not_a_grant(env: Env) -> None:
    """Writing a plausible answer into Redis (no access to the secret) does not make an outsider an owner."""
    h, outsider = new_id(), new_id()
    forged = Membership(str(h), str(outsider), "owner", "Mallory", "UTC")
    await env.redis.set(env.key(h, outsider), json.dumps(asdict(forged)))
    with as_caller(outsider), pytest.raises(errors.NotFound):
        await env.client.require(h, roles=["owner"])
    assert env.households.asked == [member_name(h, outsider)]  # the user service was asked, and said no


async def test_an_altered_entry_is_a_miss(env: Env) -> None:
    h, child = new_id(), new_id()
    env.households.add(h, child, user_pb2.ROLE_CHILD)
    await env.client.get(h, child)
    stored = await env.redis.get(env.key(h, child))
    await env.redis.set(env.key(h, child), stored.replace(b'"child"', b'"owner"'))
    assert await role_of(env.client, h, child) == "child"
    assert len(env.households.asked) == 2


async def test_a_genuine_entry_copied_under_another_key_is_a_miss(env: Env) -> None:
    """An owner's real entry of their own household, copied to make them an owner of another one."""
    mine, theirs, owner = new_id(), new_id(), new_id()
    env.households.add(mine, owner, user_pb2.ROLE_OWNER)
    await env.client.get(mine, owner)
    await env.redis.set(env.key(theirs, owner), await env.redis.get(env.key(mine, owner)))
    with as_caller(owner), pytest.raises(errors.NotFound):
        await env.client.require(theirs)


async def test_an_entry_signed_with_another_services_secret_is_a_miss(env: Env) -> None:
    h, u = new_id(), new_id()
    env.households.add(h, u, user_pb2.ROLE_CHILD)
    other = SignedCache(env.redis, prefix=f"{env.namespace}:{SERVICE}", secret=b"another service's secret!", ttl=TTL)
    forged = json.dumps(asdict(Membership(str(h), str(u), "owner", "Ann", "UTC"))).encode()
    await env.redis.set(env.key(h, u), other.seal(env.key(h, u), forged))
    assert await role_of(env.client, h, u) == "child"


# --- who asks: the end user while serving them, the service itself in background work ---------------------


async def test_while_serving_a_user_the_user_driven_rpc_is_asked(env: Env) -> None:
    h, u = new_id(), new_id()
    env.households.add(h, u, user_pb2.ROLE_ADMIN)
    with as_caller(u):
        assert (await env.client.require(h)).role == "admin"
    # GetMember on this plain channel carries no token; the stand-in saw no service identity and no fetch happened.
    assert env.households.askers == [""]
    assert env.tokens.fetches == 0


async def test_background_work_asks_the_internal_rpc_with_its_service_token(env: Env) -> None:
    h, u = new_id(), new_id()
    env.households.add(h, u, user_pb2.ROLE_MEMBER)
    assert await role_of(env.client, h, u) == "member"
    other = new_id()
    env.households.add(h, other, user_pb2.ROLE_CHILD)
    assert await role_of(env.client, h, other) == "child"
    assert env.households.askers == [f"service:{SERVICE}"] * 2
    assert env.tokens.fetches == 1  # one token, reused until shortly before it expires


async def test_concurrent_background_calls_fetch_one_token(env: Env) -> None:
    h = new_id()
    people = [new_id() for _ in range(8)]
    for person in people:
        env.households.add(h, person)
    await asyncio.gather(*(env.client.get(h, person) for person in people))
    assert env.tokens.fetches == 1


async def test_a_token_close_to_expiry_is_replaced(env: Env) -> None:
    now = [time.time()]
    tokens = ServiceTokens(env.channel, service=SERVICE, secret=SERVICE_SECRET, audience=AUDIENCE, clock=lambda: now[0])
    first = await tokens.token("user")
    now[0] += 200  # of a five-minute lifetime: still fine
    assert await tokens.token("user") == first
    now[0] += 50  # less than a fifth left: a fresh one
    assert await tokens.token("user") != first
    assert tokens.fetches == 2


async def test_a_wrong_service_secret_gets_no_token_and_no_answer(env: Env) -> None:
    tokens = ServiceTokens(env.channel, service=SERVICE, secret="not the secret at all", audience=AUDIENCE)
    client = MembershipClient(env.channel, env.cache, tokens)
    h, u = new_id(), new_id()
    env.households.add(h, u)
    with pytest.raises(errors.Unauthenticated):
        await client.get(h, u)
    assert env.households.asked == []


async def test_without_a_service_identity_background_work_is_refused(env: Env) -> None:
    client = MembershipClient(env.channel, env.cache)
    with pytest.raises(errors.Internal):
        await client.get(new_id(), new_id())
    assert env.households.asked == []
