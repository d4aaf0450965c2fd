"""Membership events drop the task service's cached membership answers, so role changes bite at once; a
household change drops every member's (a cached answer carries the household's time zone).

The cache TTL is set to an hour here: only the event can make a change visible within the test.
"""

from __future__ import annotations

import json

import grpc
import pytest
import redis.asyncio as aioredis
from hearth.events.v1 import events_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc

from tests.support.events import consumed, envelope, publish
from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.people import Household, Person, household, set_role
from tests.support.rpc import refused
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = "task"


stack = stack_fixture(["user", "task"], settings_overrides={"task": {"membership_ttl_seconds": 3600}})
redis = redis_fixture()
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)


def cache_key(stack: Stack, home: Household, person: Person) -> str:
    return f"{stack.namespace}:task:{home.id}:membership:{person.user_id}:v1"


async def look(chores: task_pb2_grpc.ChoreServiceStub, home: Household, person: Person) -> None:
    """A read by `person`: makes the task service ask (and cache) their membership."""
    await chores.ListChores(task_pb2.ListChoresRequest(parent=home.name), metadata=person.metadata)


def new_chore() -> task_pb2.Chore:
    return task_pb2.Chore(
        title="Dishes",
        recurrence=task_pb2.Recurrence(once=task_pb2.Recurrence.Once()),
        assignment=task_pb2.Assignment(strategy=task_pb2.Assignment.UNASSIGNED),
    )


@pytest.mark.parametrize("event_type", ["member.updated", "member.left"])
async def test_a_membership_event_drops_the_cached_answer(
    stack: Stack, redis: aioredis.Redis, chores: task_pb2_grpc.ChoreServiceStub, event_type: str
) -> None:
    home = await household(stack, member="member", other="member")
    member, other = home["member"], home["other"]
    await look(chores, home, member)
    await look(chores, home, other)
    assert await redis.exists(cache_key(stack, home, member))
    assert await redis.exists(cache_key(stack, home, other))

    message = (
        events_pb2.MemberUpdated(household_id=home.id, user_id=member.user_id, role="child")
        if event_type == "member.updated"
        else events_pb2.MemberLeft(household_id=home.id, user_id=member.user_id)
    )
    stream = f"{stack.namespace}.events.user"
    entry = await publish(redis, stream, envelope(event_type, message, household_id=home.id, source="user"))
    await consumed(redis, stream, GROUP, entry)

    assert not await redis.exists(cache_key(stack, home, member))
    assert await redis.exists(cache_key(stack, home, other))  # only that member's answer


async def test_a_demotion_in_the_user_service_takes_effect_before_the_ttl(
    stack: Stack, redis: aioredis.Redis, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, member="member")
    member = home["member"]
    await chores.CreateChore(task_pb2.CreateChoreRequest(parent=home.name, chore=new_chore()), metadata=member.metadata)
    key = cache_key(stack, home, member)
    assert await redis.exists(key)

    await set_role(stack, home, member, "child")  # the user service emits member.updated through its outbox

    async def dropped() -> bool:
        return not await redis.exists(key)

    await eventually(dropped)
    refusal = await refused(
        chores.CreateChore(task_pb2.CreateChoreRequest(parent=home.name, chore=new_chore()), metadata=member.metadata)
    )
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED


async def test_a_household_change_drops_the_cached_answer_of_every_member_it_lists(
    stack: Stack, redis: aioredis.Redis, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, member="member", kid="child")
    elsewhere = await household(stack)
    people = [home.owner, home["member"], home["kid"]]
    for person in people:
        await look(chores, home, person)
    await look(chores, elsewhere, elsewhere.owner)

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
    stack: Stack, redis: aioredis.Redis, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, time_zone="Europe/Berlin", member="member")
    member = home["member"]
    await look(chores, home, member)
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
    await look(chores, home, member)
    assert json.loads(await redis.get(key))["time_zone"] == "Asia/Tokyo"
