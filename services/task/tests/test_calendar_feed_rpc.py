"""The calendar feed through the real task service over gRPC (services/task/feeds.py): a member's token opens the
household's feed with no bearer token, rotates and is revoked; every bad token gets the same NOT_FOUND."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc
from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncEngine

from services.task.feeds import NOT_FOUND_MESSAGE
from services.task.tests.helpers import deliver
from services.task.tests.test_chores_rpc import create, new_chore
from tests.support.fixtures import database_fixture, redis_fixture, stack_fixture, stub_fixture
from tests.support.people import Household, Person, household
from tests.support.rpc import refused
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

BERLIN = ZoneInfo("Europe/Berlin")
Recurrence = task_pb2.Recurrence

stack = stack_fixture(["user", "task"])
database = database_fixture("task")
redis = redis_fixture()
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)
feeds = stub_fixture("task", task_pb2_grpc.CalendarFeedServiceStub)


async def token_of(feeds: task_pb2_grpc.CalendarFeedServiceStub, home: Household, person: Person) -> str:
    feed = await feeds.CreateCalendarFeed(
        task_pb2.CreateCalendarFeedRequest(parent=home.name), metadata=person.metadata
    )
    assert feed.name == f"{home.name}/calendarFeeds/{person.user_id}"
    return feed.token


async def fetch(feeds: task_pb2_grpc.CalendarFeedServiceStub, home: Household, token: str) -> Any:
    """The feed, parsed back, fetched with no Authorization at all."""
    content = await feeds.GetCalendarFeed(task_pb2.GetCalendarFeedRequest(parent=home.name, token=token))
    return Calendar.from_ical(content.ics)


async def not_found(feeds: task_pb2_grpc.CalendarFeedServiceStub, parent: str, token: str) -> None:
    refusal = await refused(feeds.GetCalendarFeed(task_pb2.GetCalendarFeedRequest(parent=parent, token=token)))
    assert (refusal.code, refusal.message) == (grpc.StatusCode.NOT_FOUND, NOT_FOUND_MESSAGE)


async def test_a_members_token_opens_the_households_chores_on_its_wall_clock(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, feeds: task_pb2_grpc.CalendarFeedServiceStub
) -> None:
    home = await household(stack, member="member")
    year = datetime.now(UTC).year + 1
    weekly = await create(
        chores,
        home,
        chore=new_chore(
            "Bins",
            recurrence=Recurrence(weekly=Recurrence.Weekly(days=["mon"], time="09:00")),
            due=datetime(year, 3, 1, 9, tzinfo=BERLIN),
        ),
    )
    archived = await create(chores, home, chore=new_chore("Gone"))
    await chores.DeleteChore(task_pb2.DeleteChoreRequest(name=archived.name), metadata=home.owner.metadata)
    token = await token_of(feeds, home, home["member"])
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    feed = await fetch(feeds, home, token)
    (event,) = feed.events  # the archived chore is absent
    assert event["uid"] == f"{weekly.name.rsplit('/', 1)[1]}@hearth"
    assert event["summary"] == "Bins"
    assert event["rrule"]["FREQ"] == ["WEEKLY"]
    start = event["dtstart"].dt
    assert (start.tzinfo, start.strftime("%a %H:%M")) == (BERLIN, "Mon 09:00")
    content = await feeds.GetCalendarFeed(task_pb2.GetCalendarFeedRequest(parent=home.name, token=token))
    again = await feeds.GetCalendarFeed(task_pb2.GetCalendarFeedRequest(parent=home.name, token=token))
    assert content.etag
    assert content.etag == again.etag


async def test_creating_again_rotates_and_deleting_revokes(
    stack: Stack, feeds: task_pb2_grpc.CalendarFeedServiceStub
) -> None:
    home = await household(stack)
    first = await token_of(feeds, home, home.owner)
    second = await token_of(feeds, home, home.owner)
    assert first != second
    await not_found(feeds, home.name, first)
    await fetch(feeds, home, second)
    await feeds.DeleteCalendarFeed(task_pb2.DeleteCalendarFeedRequest(parent=home.name), metadata=home.owner.metadata)
    await not_found(feeds, home.name, second)
    # Revoking what is already gone is no error.
    await feeds.DeleteCalendarFeed(task_pb2.DeleteCalendarFeedRequest(parent=home.name), metadata=home.owner.metadata)


async def test_every_bad_token_gets_the_same_answer(stack: Stack, feeds: task_pb2_grpc.CalendarFeedServiceStub) -> None:
    home, other = await household(stack), await household(stack)
    token = await token_of(feeds, home, home.owner)
    await not_found(feeds, other.name, token)  # another household's URL
    for bad in ("", "x", token[:-1], token + "x", "A" * 100_000, "ü" * 50, "' OR 1=1 --"):
        await not_found(feeds, home.name, bad)
    await not_found(feeds, "households/not-a-uuid", token)
    await not_found(feeds, "", token)


async def feeds_of(database: AsyncEngine, *, user_id: str = "", household_id: str = "") -> int:
    """How many feed rows name the person or the household."""
    async with database.connect() as conn:
        found = await conn.scalar(
            sa.text("SELECT count(*) FROM calendar_feeds WHERE user_id::text = :u OR household_id::text = :h"),
            {"u": user_id, "h": household_id},
        )
    return int(found or 0)


async def test_a_member_who_left_gets_nothing(
    stack: Stack, feeds: task_pb2_grpc.CalendarFeedServiceStub, database: AsyncEngine
) -> None:
    home = await household(stack, member="member")
    token = await token_of(feeds, home, home["member"])
    await fetch(feeds, home, token)  # cached: a member
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        await user_pb2_grpc.HouseholdServiceStub(channel).DeleteMember(
            user_pb2.DeleteMemberRequest(name=f"{home.name}/members/{home['member'].user_id}"),
            metadata=home.owner.metadata,
        )

    async def refused_now() -> bool:
        try:
            await fetch(feeds, home, token)
        except grpc.aio.AioRpcError as exc:
            return exc.code() == grpc.StatusCode.NOT_FOUND
        return False

    # member.left drops task's cached answer (the TTL is far longer than this test).
    await eventually(refused_now)
    await not_found(feeds, home.name, token)
    # member.left also deletes the dead credential.
    await eventually(lambda: _none_left(database, user_id=home["member"].user_id))


async def _none_left(database: AsyncEngine, **who: str) -> bool:
    return await feeds_of(database, **who) == 0


async def test_a_deleted_person_or_household_leaves_no_feed(
    stack: Stack, feeds: task_pb2_grpc.CalendarFeedServiceStub, database: AsyncEngine, redis: aioredis.Redis
) -> None:
    home, other = await household(stack, member="member"), await household(stack)
    await token_of(feeds, home, home["member"])
    await token_of(feeds, home, home.owner)
    await token_of(feeds, other, other.owner)
    member = home["member"]
    await deliver(stack, redis, "user.deleted", events_pb2.UserDeleted(user_id=member.user_id, household_ids=[home.id]))
    assert await feeds_of(database, user_id=member.user_id) == 0
    assert await feeds_of(database, user_id=home.owner.user_id) == 1  # the others' stay
    await deliver(
        stack, redis, "household.deleted", events_pb2.HouseholdDeleted(household_id=home.id), household_id=home.id
    )
    assert await feeds_of(database, household_id=home.id) == 0
    assert await feeds_of(database, household_id=other.id) == 1


async def test_creating_and_revoking_need_a_member(stack: Stack, feeds: task_pb2_grpc.CalendarFeedServiceStub) -> None:
    home, other = await household(stack), await household(stack)
    refusal = await refused(
        feeds.CreateCalendarFeed(task_pb2.CreateCalendarFeedRequest(parent=home.name), metadata=other.owner.metadata)
    )
    assert refusal.code == grpc.StatusCode.NOT_FOUND
    refusal = await refused(feeds.CreateCalendarFeed(task_pb2.CreateCalendarFeedRequest(parent=home.name)))
    assert refusal.code == grpc.StatusCode.UNAUTHENTICATED
    refusal = await refused(
        feeds.DeleteCalendarFeed(task_pb2.DeleteCalendarFeedRequest(parent=home.name), metadata=other.owner.metadata)
    )
    assert refusal.code == grpc.StatusCode.NOT_FOUND


async def test_a_child_has_a_feed_too(stack: Stack, feeds: task_pb2_grpc.CalendarFeedServiceStub) -> None:
    home = await household(stack, kid="child")
    token = await token_of(feeds, home, home["kid"])
    assert (await fetch(feeds, home, token)).events == []
