"""household.updated drops the analytics service's cached membership answers of every member it lists: a cached
answer carries the household's time zone (the days streaks are counted in), so a time-zone change counts at once.

The cache TTL is set to an hour here: only the event can make a change visible within the test.
"""

from __future__ import annotations

import json

import grpc
import pytest
import redis.asyncio as aioredis
from hearth.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from hearth.events.v1 import events_pb2
from hearth.user.v1 import user_pb2, user_pb2_grpc

from tests.support.events import consumed, envelope, publish
from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.people import Household, Person, household
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = "analytics"


stack = stack_fixture(["user", "analytics"], settings_overrides={"analytics": {"membership_ttl_seconds": 3600}})
redis = redis_fixture()
analytics = stub_fixture("analytics", analytics_pb2_grpc.AnalyticsServiceStub)


def cache_key(stack: Stack, home: Household, person: Person) -> str:
    return f"{stack.namespace}:analytics:{home.id}:membership:{person.user_id}:v1"


async def look(analytics: analytics_pb2_grpc.AnalyticsServiceStub, home: Household, person: Person) -> None:
    """A read by `person`: makes the analytics service ask (and cache) their membership."""
    await analytics.GetHouseholdStats(
        analytics_pb2.GetHouseholdStatsRequest(name=f"{home.name}/stats"), metadata=person.metadata
    )


async def test_a_household_change_drops_the_cached_answer_of_every_member_it_lists(
    stack: Stack, redis: aioredis.Redis, analytics: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    home = await household(stack, member="member", kid="child")
    elsewhere = await household(stack)
    people = [home.owner, home["member"], home["kid"]]
    for person in people:
        await look(analytics, home, person)
        assert await redis.exists(cache_key(stack, home, person))
    await look(analytics, elsewhere, elsewhere.owner)

    message = events_pb2.HouseholdUpdated(
        household_id=home.id,
        display_name="Home",
        time_zone="Asia/Tokyo",
        changed=["time_zone"],
        member_ids=[person.user_id for person in people],
    )
    stream = f"{stack.namespace}.events.user"
    entry = await publish(redis, stream, envelope("household.updated", message, household_id=home.id, source="user"))
    await consumed(redis, stream, GROUP, entry)

    for person in people:
        assert not await redis.exists(cache_key(stack, home, person)), person.display_name
    assert await redis.exists(cache_key(stack, elsewhere, elsewhere.owner))  # another household: kept


async def test_a_time_zone_change_in_the_user_service_reaches_the_cache_before_the_ttl(
    stack: Stack, redis: aioredis.Redis, analytics: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    home = await household(stack, time_zone="Europe/Berlin", member="member")
    member = home["member"]
    await look(analytics, home, member)
    key = cache_key(stack, home, member)
    assert json.loads(await redis.get(key))["time_zone"] == "Europe/Berlin"

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
    await look(analytics, home, member)
    assert json.loads(await redis.get(key))["time_zone"] == "Asia/Tokyo"
