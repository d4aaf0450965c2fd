"""GDPR in the analytics service, end to end: the read model built from events on the streams, the user service's
user.deleted and household.deleted delivered, then every table of analytics' database searched.

- user.deleted: nothing in any table names the person (by id or display name), while the household's totals are
  what they were — their completions are attributed to the deleted user; a completion of theirs that reaches
  analytics late (the task stream behind the user stream) is attributed to the deleted user too.
- household.deleted: its read model is gone (only the mark that it was deleted stays), and late events about it
  do not bring it back; other households are untouched.
- PrivacyService.ExportUserData: the user service's service token reads a person's data as one JSON object; a
  user's token, another service's token, no token and a malformed name are refused.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import redis.asyncio as aioredis
from hearth.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from hearth.events.v1 import events_pb2

from services.analytics.tests.helpers import Events
from services.task.tests.helpers import join
from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.infra import unique
from tests.support.membership_cache import cache_key
from tests.support.people import Household, Person, household, register
from tests.support.rows import rows_naming
from tests.support.rpc import refused
from tests.support.service_tokens import service_token
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

# The membership TTL is an hour: only user.deleted can explain a dropped answer.
stack = stack_fixture(["user", "analytics"], settings_overrides={"analytics": {"membership_ttl_seconds": 3600}})
redis = redis_fixture()
analytics = stub_fixture("analytics", analytics_pb2_grpc.AnalyticsServiceStub)
privacy = stub_fixture("analytics", analytics_pb2_grpc.PrivacyServiceStub)


async def stats(analytics: analytics_pb2_grpc.AnalyticsServiceStub, home: Household) -> analytics_pb2.HouseholdStats:
    return await analytics.GetHouseholdStats(
        analytics_pb2.GetHouseholdStatsRequest(name=f"{home.name}/stats"), metadata=home.owner.metadata
    )


def members(report: analytics_pb2.HouseholdStats) -> dict[str, analytics_pb2.MemberStats]:
    return {m.user: m for m in report.members}


async def person(stack: Stack, home: Household) -> Person:
    """A new member of `home` whose display name is like nobody else's (so a search for it means something)."""
    someone = await register(stack, unique("Zephyrine"))
    await join(stack, home, someone)
    return someone


async def active_home(stack: Stack, redis: aioredis.Redis) -> tuple[Household, Person, Events]:
    """A household whose owner, member and a third person (returned) joined a week ago, did some chores and missed
    some."""
    home = await household(stack, other="member")
    someone = await person(stack, home)
    events = Events(stack, redis, home.id)
    week_ago = datetime.now(UTC) - timedelta(days=7)
    for n, (who, role) in enumerate(((home.owner, "owner"), (home["other"], "member"), (someone, "member"))):
        await events.join(who, role, week_ago + timedelta(minutes=n))
    for day in (1, 2, 3):
        await events.complete(someone, week_ago + timedelta(days=day), points=10, minutes=30, on_time=day != 2)
    await events.complete(home["other"], week_ago + timedelta(days=2), points=5, minutes=30)
    await events.complete(home.owner, week_ago + timedelta(days=4), points=1, minutes=60)
    # The third person missed two occurrences (one with a penalty), the member one.
    await events.overdue(someone, week_ago + timedelta(days=5), penalty=3)
    await events.overdue(someone, week_ago + timedelta(days=6))
    await events.overdue(home["other"], week_ago + timedelta(days=6))
    return home, someone, events


# --- user.deleted ------------------------------------------------------------------------------------------


async def test_a_deleted_user_leaves_no_trace_and_the_household_totals_stay(
    stack: Stack, redis: aioredis.Redis, analytics: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    home, gone, events = await active_home(stack, redis)
    await analytics.GetHouseholdStats(  # their own look caches their membership answer
        analytics_pb2.GetHouseholdStatsRequest(name=f"{home.name}/stats"), metadata=gone.metadata
    )
    assert await redis.exists(cache_key(stack, "analytics", home, gone))
    before = await stats(analytics, home)
    assert (members(before)[gone.name].completions, members(before)[gone.name].missed) == (3, 2)
    assert await rows_naming(stack.databases["analytics"], gone.user_id)  # the search finds them

    deleted = events_pb2.UserDeleted(user_id=gone.user_id, household_ids=[home.id])
    await events.tell("user.deleted", deleted)

    assert await rows_naming(stack.databases["analytics"], gone.user_id, gone.display_name) == {}
    assert not await redis.exists(cache_key(stack, "analytics", home, gone))
    after = await stats(analytics, home)
    assert after.household.completions == before.household.completions == 5
    assert after.household.overdue == before.household.overdue == 3
    assert after.household.completion_rate == pytest.approx(before.household.completion_rate) == 5 / 8
    assert set(members(after)) == {home.owner.name, home["other"].name}
    # The others' stats are theirs as before: their shares are of the household's work, theirs included.
    for name in (home.owner.name, home["other"].name):
        assert members(after)[name] == members(before)[name]

    # A completion of theirs told late (published by task before the deletion) is the deleted user's too.
    await events.complete(gone, datetime.now(UTC) - timedelta(hours=1))
    assert await rows_naming(stack.databases["analytics"], gone.user_id, gone.display_name) == {}
    assert (await stats(analytics, home)).household.completions == 6
    # And so is an occurrence of theirs whose miss is told late.
    await events.overdue(gone, datetime.now(UTC) - timedelta(hours=2))
    assert await rows_naming(stack.databases["analytics"], gone.user_id, gone.display_name) == {}
    assert (await stats(analytics, home)).household.overdue == 4

    # Idempotent: the same deletion told again (another event id) changes nothing.
    settled = await stats(analytics, home)
    await events.tell("user.deleted", deleted)
    again = await stats(analytics, home)
    assert (again.members, again.household) == (settled.members, settled.household)


# --- household.deleted -------------------------------------------------------------------------------------


async def test_a_deleted_household_leaves_only_the_mark_that_it_was_deleted(
    stack: Stack, redis: aioredis.Redis, analytics: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    gone, _, gone_events = await active_home(stack, redis)
    kept, _, _ = await active_home(stack, redis)
    kept_before = await stats(analytics, kept)

    await gone_events.tell("household.deleted", events_pb2.HouseholdDeleted(household_id=gone.id))

    assert await rows_naming(stack.databases["analytics"], gone.id) == {"public.deleted_households": 1}
    assert (await stats(analytics, gone)).household.completions == 0
    # Late events about it do not start it again.
    await gone_events.complete(gone.owner, datetime.now(UTC) - timedelta(hours=1))
    await gone_events.overdue(gone.owner, datetime.now(UTC) - timedelta(hours=1))
    assert await rows_naming(stack.databases["analytics"], gone.id) == {"public.deleted_households": 1}
    assert (await stats(analytics, gone)).household.overdue == 0
    await gone_events.tell("household.deleted", events_pb2.HouseholdDeleted(household_id=gone.id))  # again
    kept_after = await stats(analytics, kept)
    assert (kept_after.members, kept_after.household) == (kept_before.members, kept_before.household)


# --- PrivacyService.ExportUserData -------------------------------------------------------------------------


async def test_the_user_service_exports_what_analytics_holds_about_a_person(
    stack: Stack, redis: aioredis.Redis, privacy: analytics_pb2_grpc.PrivacyServiceStub
) -> None:
    home, someone, _ = await active_home(stack, redis)
    token = await service_token(stack, "user", "analytics")

    reply = await privacy.ExportUserData(analytics_pb2.ExportUserDataRequest(user=someone.name), metadata=token)

    data = json.loads(reply.json)
    assert data["service"] == "analytics"
    assert data["user"] == someone.name
    [membership] = data["memberships"]
    assert membership["household"] == home.name
    assert membership["role"] == "member"
    assert membership["leave_time"] is None
    assert data["household_totals"] == [
        {
            "household": home.name,
            "completions": 3,
            "on_time": 2,
            "points": 30,
            "estimated_minutes": 90,
            "first_complete_time": data["completions"][0]["complete_time"],
            "last_complete_time": data["completions"][-1]["complete_time"],
        }
    ]
    assert [c["on_time"] for c in data["completions"]] == [True, False, True]
    assert all(c["completion"].startswith(f"{home.name}/chores/") for c in data["completions"])
    assert [
        (m["penalty_points"], m["occurrence"].startswith(f"{home.name}/chores/")) for m in data["missed_occurrences"]
    ] == [
        (3, True),
        (0, True),
    ]
    # Someone analytics never heard of gets an empty export, not an error.
    nobody = await register(stack, "Nobody")
    empty = await privacy.ExportUserData(analytics_pb2.ExportUserDataRequest(user=nobody.name), metadata=token)
    assert json.loads(empty.json) == {
        "service": "analytics",
        "user": nobody.name,
        "memberships": [],
        "household_totals": [],
        "completions": [],
        "missed_occurrences": [],
    }


async def test_export_is_for_the_user_service_alone(
    stack: Stack, privacy: analytics_pb2_grpc.PrivacyServiceStub
) -> None:
    someone = await register(stack, "Someone")
    request = analytics_pb2.ExportUserDataRequest(user=someone.name)
    refusal = await refused(privacy.ExportUserData(request, metadata=someone.metadata))
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    token = await service_token(stack, "notify", "analytics")
    assert (await refused(privacy.ExportUserData(request, metadata=token))).code == grpc.StatusCode.PERMISSION_DENIED
    assert (await refused(privacy.ExportUserData(request))).code == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "name", ["", "users/", "users/not-an-id", "users/a/b", "households/0190b3a0-0000-7000-8000-000000000000"]
)
async def test_export_names_a_user(stack: Stack, privacy: analytics_pb2_grpc.PrivacyServiceStub, name: str) -> None:
    token = await service_token(stack, "user", "analytics")
    refusal = await refused(privacy.ExportUserData(analytics_pb2.ExportUserDataRequest(user=name), metadata=token))
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(refusal.violations) == {"user"}
