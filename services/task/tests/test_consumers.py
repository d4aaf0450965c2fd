"""Membership events drop the task service's cached membership answers, so role changes bite at once; a
household change drops every member's (a cached answer carries the household's time zone).

The cache TTL is set to an hour here: only the event can make a change visible within the test.
"""

from __future__ import annotations

import functools

import grpc
import pytest
import redis.asyncio as aioredis
from hearth.events.v1 import events_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc

from tests.support import membership_cache
from tests.support.events import consumed, envelope, publish
from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.membership_cache import (
    household_change_drops_every_listed_member,
    time_zone_change_reaches_the_cache_before_the_ttl,
)
from tests.support.people import Household, Person, household, set_role
from tests.support.rpc import refused
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVICE = "task"


stack = stack_fixture(["user", "task"], settings_overrides={"task": {"membership_ttl_seconds": 3600}})
redis = redis_fixture()
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)


def cache_key(stack: Stack, home: Household, person: Person) -> str:
    return membership_cache.cache_key(stack, SERVICE, home, person)


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
    await consumed(redis, stream, SERVICE, entry)

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
    await household_change_drops_every_listed_member(stack, redis, SERVICE, functools.partial(look, chores))


async def test_a_time_zone_change_in_the_user_service_reaches_the_cache_before_the_ttl(
    stack: Stack, redis: aioredis.Redis, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    await time_zone_change_reaches_the_cache_before_the_ttl(stack, redis, SERVICE, functools.partial(look, chores))
