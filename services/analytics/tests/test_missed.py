"""Missed occurrences in the stats, end to end: chore.overdue on the task stream → the real consumer →
missed_occurrences → GetHouseholdStats' `overdue`, members' `missed` and `completion_rate`.

- each occurrence counts once, however often its event is told (a re-publish carries a new event id);
- the window is `[start, end)` by due time; another household's misses never count;
- a one-off chore's miss keeps its due time: completed late after all it is a completion, not a miss — until
  that completion is undone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp
from hearth.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from hearth.events.v1 import events_pb2

from kit.ids import new_id
from services.analytics.tests.helpers import Events
from tests.support.events import envelope
from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.people import Household, household
from tests.support.rows import rows_naming
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "analytics"])
redis = redis_fixture()
analytics = stub_fixture("analytics", analytics_pb2_grpc.AnalyticsServiceStub)


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def stats(
    analytics: analytics_pb2_grpc.AnalyticsServiceStub, home: Household, **window: Timestamp
) -> analytics_pb2.HouseholdStats:
    return await analytics.GetHouseholdStats(
        analytics_pb2.GetHouseholdStatsRequest(name=f"{home.name}/stats", **window), metadata=home["kid"].metadata
    )


def missed(report: analytics_pb2.HouseholdStats) -> dict[str, int]:
    return {m.user: m.missed for m in report.members}


async def joined(stack: Stack, redis: aioredis.Redis) -> tuple[Household, Events]:
    home = await household(stack, other="member", kid="child")
    events = Events(stack, redis, home.id)
    month_ago = datetime.now(UTC) - timedelta(days=40)
    for n, (who, role) in enumerate(((home.owner, "owner"), (home["other"], "member"), (home["kid"], "child"))):
        await events.join(who, role, month_ago + timedelta(minutes=n))
    return home, events


async def test_misses_count_in_overdue_the_holders_missed_and_the_completion_rate(
    stack: Stack, redis: aioredis.Redis, analytics: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    home, events = await joined(stack, redis)
    other_home, other_events = await joined(stack, redis)
    now = datetime.now(UTC)
    for day in (1, 2, 3):
        await events.complete(home.owner, now - timedelta(days=day), on_time=day != 2)
    await events.overdue(home["other"], now - timedelta(days=4), penalty=5)
    twice = await events.overdue(home["other"], now - timedelta(days=5))
    await events.overdue(home["kid"], now - timedelta(days=6))
    await events.overdue(None, now - timedelta(days=7))  # an occurrence nobody held
    await events.overdue(home["kid"], now - timedelta(days=40))  # before the default window
    # Another household's misses, even its members', are its own.
    await other_events.overdue(other_home["kid"], now - timedelta(days=1))

    # The same miss published again (a new event id, as a relay re-publish): one row, counted once.
    await events.overdue(home["other"], now - timedelta(days=5), occurrence_id=twice)
    assert await rows_naming(stack.databases["analytics"], twice) == {"public.missed_occurrences": 1}

    report = await stats(analytics, home)
    assert report.household.overdue == 4
    assert missed(report) == {home.owner.name: 0, home["other"].name: 2, home["kid"].name: 1}
    # Completions / (completions + misses); the late completion counts as done. On-time rates are as before.
    assert report.household.completions == 3
    assert report.household.completion_rate == pytest.approx(3 / 7)
    [owner] = [m for m in report.members if m.user == home.owner.name]
    assert owner.on_time_rate == pytest.approx(2 / 3)

    assert (await stats(analytics, other_home)).household.overdue == 1


async def test_the_window_counts_misses_by_due_time_start_included_end_excluded(
    stack: Stack, redis: aioredis.Redis, analytics: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    home, events = await joined(stack, redis)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
    end = start + timedelta(days=5)
    await events.overdue(home["kid"], start)
    await events.overdue(home["kid"], end - timedelta(seconds=1))
    await events.overdue(home["kid"], end)
    await events.overdue(home["kid"], start - timedelta(seconds=1))

    report = await stats(analytics, home, start_time=timestamp(start), end_time=timestamp(end))
    assert report.household.overdue == 2
    assert missed(report)[home["kid"].name] == 2
    assert report.household.completion_rate == 0.0  # only misses
    # Nothing in an empty window.
    empty = await stats(analytics, home, start_time=timestamp(end + timedelta(seconds=1)))
    assert (empty.household.overdue, empty.household.completion_rate) == (0, 0.0)


async def test_a_one_off_chore_done_late_after_its_miss_is_a_completion_until_undone(
    stack: Stack, redis: aioredis.Redis, analytics: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    home, events = await joined(stack, redis)
    chore_id = str(new_id())
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    await events.overdue(home["kid"], due, chore_id=chore_id)
    assert (await stats(analytics, home)).household.overdue == 1

    # It keeps its due time and stays overdue; the kid does it two days late.
    late = await events.complete(home["kid"], due + timedelta(days=2), on_time=False, chore_id=chore_id, due=due)
    report = await stats(analytics, home)
    assert (report.household.overdue, report.household.completions, report.household.completion_rate) == (0, 1, 1.0)
    assert missed(report)[home["kid"].name] == 0

    # Undone, the occurrence is open again and the miss counts once more.
    undone = events_pb2.CompletionUndone(household_id=home.id, chore_id=chore_id, completion_id=late)
    await events.send("task", envelope("completion.undone", undone, household_id=home.id))
    report = await stats(analytics, home)
    assert (report.household.overdue, report.household.completions, report.household.completion_rate) == (1, 0, 0.0)
