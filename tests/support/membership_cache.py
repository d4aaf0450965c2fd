"""Checks that a service's cached membership answers (services.user.client) follow the user service's events.

Task and analytics both cache "is X a member of H" and drop the answer on the events that make it stale;
each service's tests run these checks with their own `look` (a read that makes the service ask and
cache). Use them with a membership TTL far longer than the test, so only the event can explain a drop.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import grpc
import redis.asyncio as aioredis
from hearth.events.v1 import events_pb2
from hearth.user.v1 import user_pb2, user_pb2_grpc

from tests.support.events import consumed, envelope, publish
from tests.support.people import Household, Person, household
from tests.support.stack import Stack
from tests.support.wait import eventually

# A read by `person` in `home` that makes the service ask for (and cache) their membership.
Look = Callable[[Household, Person], Awaitable[object]]


def cached(stored: bytes) -> dict[str, str]:
    """The JSON of a cached answer (kit.cache stores HMAC-SHA256 tag ‖ stamp length ‖ stamp ‖ value; the tag is
    checked by the service)."""
    return json.loads(stored[33 + stored[32] :])


def cache_key(stack: Stack, service: str, home: Household, person: Person) -> str:
    return f"{stack.namespace}:{service}:{home.id}:membership:{person.user_id}:v2"


async def household_change_drops_every_listed_member(
    stack: Stack, redis: aioredis.Redis, service: str, look: Look
) -> None:
    home = await household(stack, member="member", kid="child")
    elsewhere = await household(stack)
    people = [home.owner, home["member"], home["kid"]]
    for person in people:
        await look(home, person)
        assert await redis.exists(cache_key(stack, service, home, person))
    await look(elsewhere, elsewhere.owner)

    message = events_pb2.HouseholdUpdated(
        household_id=home.id,
        display_name="Home",
        time_zone="Asia/Tokyo",
        changed=["time_zone"],
        member_ids=[person.user_id for person in people],
    )
    stream = f"{stack.namespace}.events.user"
    entry = await publish(redis, stream, envelope("household.updated", message, household_id=home.id, source="user"))
    await consumed(redis, stream, service, entry)

    for person in people:
        assert not await redis.exists(cache_key(stack, service, home, person)), person.display_name
    assert await redis.exists(cache_key(stack, service, elsewhere, elsewhere.owner))  # another household: kept


async def time_zone_change_reaches_the_cache_before_the_ttl(
    stack: Stack, redis: aioredis.Redis, service: str, look: Look
) -> None:
    home = await household(stack, time_zone="Europe/Berlin", member="member")
    member = home["member"]
    await look(home, member)
    key = cache_key(stack, service, home, member)
    assert cached(await redis.get(key))["time_zone"] == "Europe/Berlin"

    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        await user_pb2_grpc.HouseholdServiceStub(channel).UpdateHousehold(
            user_pb2.UpdateHouseholdRequest(
                household=user_pb2.Household(name=home.name, time_zone="Asia/Tokyo"),
                update_mask={"paths": ["time_zone"]},
            ),
            metadata=home.owner.metadata,
        )

    async def dropped() -> bool:
        return not await redis.exists(key)

    await eventually(dropped)
    await look(home, member)
    assert cached(await redis.get(key))["time_zone"] == "Asia/Tokyo"
