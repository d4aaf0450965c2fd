"""household.updated drops the analytics service's cached membership answers of every member it lists: a cached
answer carries the household's time zone (the days streaks are counted in), so a time-zone change counts at once.

The cache TTL is set to an hour here: only the event can make a change visible within the test.
"""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from hearth.analytics.v1 import analytics_pb2, analytics_pb2_grpc

from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.membership_cache import (
    Look,
    household_change_drops_every_listed_member,
    time_zone_change_reaches_the_cache_before_the_ttl,
)
from tests.support.people import Household, Person
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVICE = "analytics"


stack = stack_fixture(["user", "analytics"], settings_overrides={"analytics": {"membership_ttl_seconds": 3600}})
redis = redis_fixture()
analytics = stub_fixture("analytics", analytics_pb2_grpc.AnalyticsServiceStub)


async def test_a_household_change_drops_the_cached_answer_of_every_member_it_lists(
    stack: Stack, redis: aioredis.Redis, analytics: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    await household_change_drops_every_listed_member(stack, redis, SERVICE, looking(analytics))


async def test_a_time_zone_change_in_the_user_service_reaches_the_cache_before_the_ttl(
    stack: Stack, redis: aioredis.Redis, analytics: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    await time_zone_change_reaches_the_cache_before_the_ttl(stack, redis, SERVICE, looking(analytics))


def looking(analytics: analytics_pb2_grpc.AnalyticsServiceStub) -> Look:
    """A stats read by `person`: makes the analytics service ask (and cache) their membership."""

    async def look(home: Household, person: Person) -> None:
        await analytics.GetHouseholdStats(
            analytics_pb2.GetHouseholdStatsRequest(name=f"{home.name}/stats"), metadata=person.metadata
        )

    return look
