"""GetHouseholdStats end to end: events on the streams → the real consumer → the read models → the real gRPC server.

The household and its memberships live in the real user service (analytics asks it who may see the
stats and in which time zone days fall); what analytics counts comes only from events, XADDed to the
streams in the relay's wire format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp
from hearth.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit import timestamps
from kit.ids import new_id
from services.analytics.tests.helpers import Events
from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.people import Person, register
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

BERLIN = ZoneInfo("Europe/Berlin")


stack = stack_fixture(["user", "analytics"])
redis = redis_fixture()
analytics = stub_fixture("analytics", analytics_pb2_grpc.AnalyticsServiceStub)


@dataclass
class Home:
    household_id: str
    owner: Person
    member: Person
    child: Person


async def make_home(stack: Stack, time_zone: str = "Europe/Berlin") -> Home:
    """A real household in the user service: Alice (owner), Bob (member), Carol (child)."""
    alice, bob, carol = [await register(stack, name) for name in ("Alice", "Bob", "Carol")]
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        households = user_pb2_grpc.HouseholdServiceStub(channel)
        household = await households.CreateHousehold(
            user_pb2.CreateHouseholdRequest(household=user_pb2.Household(display_name="Home", time_zone=time_zone)),
            metadata=alice.metadata,
        )
        for person, role in ((bob, user_pb2.ROLE_MEMBER), (carol, user_pb2.ROLE_CHILD)):
            invite = await households.CreateInvite(
                user_pb2.CreateInviteRequest(parent=household.name, invite=user_pb2.Invite(role=role)),
                metadata=alice.metadata,
            )
            await households.AcceptInvite(user_pb2.AcceptInviteRequest(code=invite.code), metadata=person.metadata)
    return Home(household.name.removeprefix("households/"), alice, bob, carol)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN).astimezone(UTC)


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def get_stats(
    analytics: analytics_pb2_grpc.AnalyticsServiceStub, home: Home, who: Person, **kwargs: Timestamp
) -> analytics_pb2.HouseholdStats:
    return await analytics.GetHouseholdStats(
        analytics_pb2.GetHouseholdStatsRequest(name=f"households/{home.household_id}/stats", **kwargs),
        metadata=who.metadata,
    )


def by_user(stats: analytics_pb2.HouseholdStats) -> dict[str, analytics_pb2.MemberStats]:
    return {m.user.removeprefix("users/"): m for m in stats.members}


async def test_household_stats(
    stack: Stack, redis: aioredis.Redis, analytics: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    home = await make_home(stack)
    alice, bob, carol = home.owner, home.member, home.child
    gone = await register(stack, "Gone")
    events = Events(stack, redis, home.household_id)
    t0 = datetime.now(UTC) - timedelta(days=60)
    for n, (person, role) in enumerate(((alice, "owner"), (bob, "member"), (carol, "child"), (gone, "member"))):
        await events.join(person, role, t0 + timedelta(minutes=n))
    await events.leave(gone, t0 + timedelta(days=1))

    today = datetime.now(BERLIN).date()
    # Alice: yesterday and the two days before (current streak 3), 10-13 days ago (best streak 4),
    # one of them late; and one 40 days ago, outside the default window.
    alice_days = [today - timedelta(days=n) for n in (1, 2, 3, 10, 11, 12, 13)]
    for n, day in enumerate(alice_days):
        await events.complete(alice, local(day, 12), points=10, minutes=30, on_time=n != 4)
    await events.complete(alice, local(today - timedelta(days=40), 12))
    # Bob: 23:30 the day before yesterday and 00:30 yesterday, Berlin time — two days in a row there,
    # one and the same day in UTC (so bucketing in UTC would give him no current streak at all).
    await events.complete(bob, local(today - timedelta(days=2), 23, 30), points=5, minutes=15)
    first_bob = await events.complete(bob, local(today - timedelta(days=1), 0, 30), points=5, minutes=15)
    # The same completion published again (a new event id): counted once.
    await events.complete(bob, local(today - timedelta(days=1), 0, 30), points=5, minutes=15, completion_id=first_bob)
    # Someone who has left since: counts for the household, is not listed.
    await events.complete(gone, local(today - timedelta(days=20), 12), points=1, minutes=60)
    # Carol let one occurrence pass (chore.overdue): she did nothing, but she missed something.
    await events.overdue(carol, local(today - timedelta(days=4), 18))

    stats = await get_stats(analytics, home, carol)  # a child may look
    assert stats.name == f"households/{home.household_id}/stats"
    window = stats.end_time.ToDatetime(tzinfo=UTC) - stats.start_time.ToDatetime(tzinfo=UTC)
    assert window == timedelta(days=30)
    assert abs(stats.end_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)

    members = by_user(stats)
    assert set(members) == {alice.user_id, bob.user_id, carol.user_id}
    a, b, c = members[alice.user_id], members[bob.user_id], members[carol.user_id]
    assert (a.completions, a.points, a.current_streak, a.best_streak) == (7, 70, 3, 4)
    assert a.on_time_rate == pytest.approx(6 / 7)
    assert (b.completions, b.points, b.current_streak, b.best_streak) == (2, 10, 2, 2)
    assert b.on_time_rate == 1.0
    assert (c.completions, c.points, c.on_time_rate, c.current_streak, c.best_streak, c.share) == (0, 0, 0, 0, 0, 0)
    assert (a.missed, b.missed, c.missed) == (0, 0, 1)
    # Minutes: Alice 210, Bob 30, Gone 60 of 300.
    assert a.share == pytest.approx(0.7)
    assert b.share == pytest.approx(0.1)
    assert stats.household.completions == 10
    # Done / (done + missed): Alice's late one is done.
    assert stats.household.completion_rate == pytest.approx(10 / 11)
    assert stats.household.overdue == 1
    # 1 - Gini([0, 0.1, 0.7]) * 3/2 = 1 - (1.4 / 2.4) * 1.5
    assert stats.household.fairness == pytest.approx(0.125)

    # An explicit window: from 45 days ago, Alice's old completion counts too.
    wider = await get_stats(analytics, home, alice, start_time=timestamp(datetime.now(UTC) - timedelta(days=45)))
    assert by_user(wider)[alice.user_id].completions == 8
    assert wider.household.completions == 11
    # Only an end: the 30 days before it (Alice's 10-13 days ago and Gone's 20 days ago).
    end = datetime.now(UTC) - timedelta(days=5)
    earlier = await get_stats(analytics, home, bob, end_time=timestamp(end))
    assert earlier.start_time.ToDatetime(tzinfo=UTC) == end - timedelta(days=30)
    assert by_user(earlier)[alice.user_id].completions == 4
    assert by_user(earlier)[bob.user_id].completions == 0
    assert earlier.household.completions == 5
    # Streaks do not depend on the window.
    assert by_user(earlier)[alice.user_id].current_streak == 3


async def test_streaks_follow_the_household_time_zone(
    stack: Stack, redis: aioredis.Redis, analytics: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    home = await make_home(stack, time_zone="Pacific/Auckland")
    events = Events(stack, redis, home.household_id)
    await events.join(home.owner, "owner", datetime.now(UTC) - timedelta(days=3))
    auckland = ZoneInfo("Pacific/Auckland")
    today = datetime.now(auckland).date()
    # 00:30 and 23:30 Auckland time on yesterday and the day before: 4 completions on 2 local days.
    for day in (today - timedelta(days=2), today - timedelta(days=1)):
        for hour, minute in ((0, 30), (23, 30)):
            moment = datetime.combine(day, time(hour, minute), tzinfo=auckland).astimezone(UTC)
            await events.complete(home.owner, moment)
    stats = await get_stats(analytics, home, home.owner)
    owner = by_user(stats)[home.owner.user_id]
    assert (owner.completions, owner.current_streak, owner.best_streak) == (4, 2, 2)
    assert owner.share == 1.0
    # Bucketed in UTC instead (00:30 NZDT is 11:30 UTC the day before) they would span three days: best 3.
    assert stats.household.completions == 4


async def test_an_idle_household(stack: Stack, analytics: analytics_pb2_grpc.AnalyticsServiceStub) -> None:
    home = await make_home(stack)
    stats = await get_stats(analytics, home, home.owner)
    assert all(m.completions == 0 and m.share == 0.0 for m in stats.members)
    assert stats.household.completions == 0
    assert stats.household.completion_rate == 0.0
    assert stats.household.fairness == 1.0


async def test_who_may_ask_and_what_is_refused(
    stack: Stack, analytics: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    home = await make_home(stack)
    outsider = await register(stack, "Eve")

    async def code_of(request: analytics_pb2.GetHouseholdStatsRequest, who: Person | None) -> grpc.StatusCode:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await analytics.GetHouseholdStats(request, metadata=who.metadata if who else None)
        return failed.value.code()

    name = f"households/{home.household_id}/stats"
    now = datetime.now(UTC)
    assert await code_of(analytics_pb2.GetHouseholdStatsRequest(name=name), outsider) == grpc.StatusCode.NOT_FOUND
    unknown = analytics_pb2.GetHouseholdStatsRequest(name=f"households/{new_id()}/stats")
    assert await code_of(unknown, home.owner) == grpc.StatusCode.NOT_FOUND
    for bad in ("households/x/stats", f"households/{home.household_id}", "stats", ""):
        request = analytics_pb2.GetHouseholdStatsRequest(name=bad)
        assert await code_of(request, home.owner) == grpc.StatusCode.INVALID_ARGUMENT, bad
    reversed_window = analytics_pb2.GetHouseholdStatsRequest(
        name=name, start_time=timestamp(now), end_time=timestamp(now - timedelta(days=1))
    )
    assert await code_of(reversed_window, home.owner) == grpc.StatusCode.INVALID_ARGUMENT
    future_start = analytics_pb2.GetHouseholdStatsRequest(name=name, start_time=timestamp(now + timedelta(days=1)))
    assert await code_of(future_start, home.owner) == grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of(analytics_pb2.GetHouseholdStatsRequest(name=name), None) == grpc.StatusCode.UNAUTHENTICATED
    # Every member may look, children too.
    for person in (home.owner, home.member, home.child):
        stats = await get_stats(analytics, home, person)
        assert stats.name == name


async def test_times_out_of_range_are_invalid_argument_naming_the_field(
    stack: Stack, analytics: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    """A window edge no datetime can hold (seconds=2**50), or outside 1900…2200 UTC (an end of 0001-01-02
    would overflow computing the default start 30 days before it), is INVALID_ARGUMENT naming it."""
    home = await make_home(stack)
    year_1 = datetime(1, 1, 2, tzinfo=UTC)
    for field in ("start_time", "end_time"):
        for value in (Timestamp(seconds=2**50), Timestamp(seconds=-(2**50)), timestamp(year_1)):
            refusal = await refused(get_stats(analytics, home, home.owner, **{field: value}))
            assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, (field, value)
            assert field in refusal.violations, (field, value)
            assert "1900-01-01" in refusal.violations[field]
    # The range's start is in it: a window at its very beginning is fine (and empty).
    stats = await get_stats(
        analytics, home, home.owner, start_time=timestamp(timestamps.EARLIEST), end_time=timestamp(timestamps.EARLIEST)
    )
    assert stats.household.completions == 0
