"""GDPR in the task service, end to end: data made through the real RPCs, the user service's user.deleted and
household.deleted delivered on its stream, then every table of task's database searched.

- user.deleted: nothing in any table names the person (by id or display name) any more, while the household's
  history is what it was — every completion still there with its time and points, attributed to the deleted
  user, the chores still there, the assignments without them; their cached membership is dropped and the chore
  pages that showed them are re-rendered.
- household.deleted: its chores, completions, away periods, request ids and photos (rows, then bytes by the worker)
  are gone; other households untouched. A deleted user's uploads stay the household's, with no uploader.
- member.away_set / member.away_cleared: one period per member per household, newest wins, read back as
  `scheduling.AwayPeriod`s.
- PrivacyService.ExportUserData: the user service's service token reads a person's data as one JSON object; a
  user's token, another service's token, no token and a malformed name are refused.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import sqlalchemy as sa
from google.protobuf.message import Message
from hearth.events.v1 import events_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from services.task import scheduling
from services.task.privacy import DELETED_USER
from services.task.repository import AwayRepository
from services.task.tests.helpers import deliver, join
from tests.support.events import household_events, payload
from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.infra import unique
from tests.support.jobs import photo_worker
from tests.support.membership_cache import cache_key
from tests.support.occurrences import reopen
from tests.support.people import Household, Person, household, register
from tests.support.photos import encoded, read, upload
from tests.support.rows import rows_naming
from tests.support.rpc import refused
from tests.support.service_tokens import service_token
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

Chore = task_pb2.Chore
Recurrence = task_pb2.Recurrence
Assignment = task_pb2.Assignment
DELETED = f"users/{DELETED_USER}"

# The membership TTL is an hour: only user.deleted can explain a dropped answer.
stack = stack_fixture(["user", "task"], settings_overrides={"task": {"membership_ttl_seconds": 3600}})
redis = redis_fixture()
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)
privacy = stub_fixture("task", task_pb2_grpc.PrivacyServiceStub)
points = stub_fixture("task", task_pb2_grpc.PointsServiceStub)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def db(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(stack.databases["task"])
    yield engine
    await engine.dispose()


def fixed(*people: Person) -> Assignment:
    return Assignment(strategy=Assignment.FIXED, assignees=[p.name for p in people])


def new_chore(title: str, assignment: Assignment, *, daily: bool = True) -> Chore:
    recurrence = (
        Recurrence(interval=Recurrence.Interval(every=1, unit=Recurrence.Interval.DAYS))
        if daily
        else Recurrence(once=Recurrence.Once())
    )
    return Chore(title=title, points=5, recurrence=recurrence, assignment=assignment)


async def create(chores: task_pb2_grpc.ChoreServiceStub, home: Household, by: Person, chore: Chore) -> Chore:
    return await chores.CreateChore(task_pb2.CreateChoreRequest(parent=home.name, chore=chore), metadata=by.metadata)


async def complete(
    chores: task_pb2_grpc.ChoreServiceStub, chore: Chore, by: Person, *, note: str = "", **fields: str
) -> task_pb2.Completion:
    request = task_pb2.CompleteChoreRequest(name=chore.name, note=note, **fields)
    return (await chores.CompleteChore(request, metadata=by.metadata)).completion


async def history(chores: task_pb2_grpc.ChoreServiceStub, home: Household) -> list[task_pb2.Completion]:
    reply = await chores.ListCompletions(
        task_pb2.ListCompletionsRequest(parent=f"{home.name}/chores/-", page_size=100), metadata=home.owner.metadata
    )
    return list(reply.completions)


async def get(chores: task_pb2_grpc.ChoreServiceStub, home: Household, chore: Chore) -> Chore:
    return await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)


def away(home: Household, person: Person, start: datetime | None, end: datetime | None) -> events_pb2.MemberAwaySet:
    message = events_pb2.MemberAwaySet(household_id=home.id, user_id=person.user_id)
    if start is not None:
        message.start_time.FromDatetime(start)
    if end is not None:
        message.end_time.FromDatetime(end)
    return message


async def away_periods(db: AsyncEngine, home: Household) -> dict[uuid.UUID, scheduling.AwayPeriod]:
    """What task's assignment code reads of the household's away periods."""
    async with AsyncSession(db) as session:
        return await AwayRepository(session).household(uuid.UUID(home.id))


async def person(stack: Stack, home: Household) -> Person:
    """A new member of `home` whose display name is like nobody else's (so a search for it means something)."""
    someone = await register(stack, unique("Zephyrine"))
    await join(stack, home, someone)
    return someone


# --- user.deleted ------------------------------------------------------------------------------------------


async def test_a_deleted_user_leaves_no_trace_and_the_household_keeps_its_history(
    stack: Stack, redis: aioredis.Redis, db: AsyncEngine, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, other="member")
    owner, other = home.owner, home["other"]
    gone = await person(stack, home)

    theirs = await create(chores, home, gone, new_chore("Bins", fixed(gone)))
    shared = await create(chores, home, owner, new_chore("Dishes", fixed(gone, other)))
    others = await create(chores, home, owner, new_chore("Plants", fixed(other)))
    anyone = await create(chores, home, gone, new_chore("Laundry", Assignment(strategy=Assignment.UNASSIGNED)))
    once = await create(chores, home, owner, new_chore("Attic", fixed(gone), daily=False))
    by_them = await complete(chores, anyone, gone, note="did it before the game", request_id=unique("retry"))
    for_them = await complete(chores, shared, owner, note="Zephyrine forgot the pans", completed_by=gone.name)
    recorded_by_them = await complete(chores, others, gone, note="watered them for Other", completed_by=other.name)
    await reopen(stack, others.name)
    not_theirs = await complete(chores, others, other, note="all good")
    held_by_them = await complete(chores, theirs, other, note="took the bins out")  # theirs, done by another
    last = await complete(chores, once, gone)  # a done one-off: its assignee goes with them, nobody takes over
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        photos = task_pb2_grpc.PhotoServiceStub(channel)
        their_photo = await upload(photos, home.name, gone, encoded("PNG"))
    await deliver(stack, redis, "member.away_set", away(home, gone, None, None), household_id=home.id)
    await deliver(stack, redis, "member.away_set", away(home, other, None, None), household_id=home.id)
    # The user's read caches their membership and the household's first chore page, which shows them.
    await chores.ListChores(task_pb2.ListChoresRequest(parent=home.name), metadata=gone.metadata)
    assert await redis.exists(cache_key(stack, "task", home, gone))
    before = await history(chores, home)
    untouched = await get(chores, home, others)
    assert await rows_naming(stack.databases["task"], gone.user_id, gone.display_name)  # the search finds them

    deleted = events_pb2.UserDeleted(user_id=gone.user_id, household_ids=[home.id])
    await deliver(stack, redis, "user.deleted", deleted)

    assert await rows_naming(stack.databases["task"], gone.user_id, gone.display_name) == {}
    assert not await redis.exists(cache_key(stack, "task", home, gone))
    # No cached entry names them. (The generation counter of their dropped answer does, in its key, until
    # kit.cache.GENERATION_TTL: a number, kept so that a read still in flight cannot store the answer again.)
    keys = [key.decode() async for key in redis.scan_iter(match=f"{stack.namespace}:task:*{gone.user_id}*")]
    assert [key for key in keys if not key.endswith(":gen")] == []

    # The history: every completion, with its time and points, attributed to the deleted user where it was theirs;
    # the notes by or about them gone, the others' kept.
    after = await history(chores, home)
    assert [(c.name, c.complete_time, c.points, c.on_time) for c in after] == [
        (c.name, c.complete_time, c.points, c.on_time) for c in before
    ]
    assert {c.name: (c.completed_by, c.recorder, c.note) for c in after} == {
        by_them.name: (DELETED, DELETED, ""),
        for_them.name: (DELETED, owner.name, ""),
        recorded_by_them.name: (other.name, DELETED, ""),
        not_theirs.name: (other.name, other.name, "all good"),
        held_by_them.name: (other.name, other.name, "took the bins out"),  # only who held it goes
        last.name: (DELETED, DELETED, ""),
    }

    # The chores: all still there; the assignments without them.
    now_theirs, now_shared, now_anyone, now_once = [
        await get(chores, home, chore) for chore in (theirs, shared, anyone, once)
    ]
    assert now_theirs.assignment.strategy == Assignment.UNASSIGNED
    assert now_theirs.assignee == ""
    assert now_theirs.creator == DELETED
    assert list(now_shared.assignment.assignees) == [other.name]
    assert now_shared.assignee == other.name
    assert now_shared.assignment.strategy == Assignment.FIXED
    assert now_anyone.creator == DELETED
    assert now_anyone.title == "Laundry"
    assert now_once.state == Chore.DONE
    assert now_once.assignee == ""
    assert await get(chores, home, others) == untouched
    # Each chore whose assignment changed says so, in the outbox.
    updated = [
        payload(e, events_pb2.ChoreUpdated) for e in await household_events(stack, "task", "chore.updated", home.id)
    ]
    assert {u.chore_id for u in updated} == {c.name.rsplit("/", 1)[1] for c in (theirs, shared, once)}
    assert all(list(u.changed) == ["assignment"] for u in updated)

    # The page the user's read cached is rendered again.
    async def page_rendered_again() -> bool:
        page = await chores.ListChores(task_pb2.ListChoresRequest(parent=home.name), metadata=owner.metadata)
        return gone.name not in str(page)

    await eventually(page_rendered_again)
    # Away periods: theirs gone, the other member's kept.
    assert set(await away_periods(db, home)) == {uuid.UUID(other.user_id)}
    # The photo they uploaded is the household's: still there, no longer theirs.
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        header, _ = await read(task_pb2_grpc.PhotoServiceStub(channel), their_photo.name, owner)
    assert (header.photo.name, header.photo.uploader) == (their_photo.name, "")

    # Idempotent: the same deletion told again (another event id) changes nothing.
    etags = [c.etag for c in (now_theirs, now_shared, now_anyone, now_once)]
    await deliver(stack, redis, "user.deleted", deleted)
    assert [(await get(chores, home, c)).etag for c in (theirs, shared, anyone, once)] == etags
    assert await history(chores, home) == after


async def test_a_deleted_assignee_passes_a_rotation_on_to_whoever_followed_them(
    stack: Stack, redis: aioredis.Redis, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, other="member")
    owner, other = home.owner, home["other"]
    gone = await person(stack, home)
    rotation = Assignment(strategy=Assignment.ROUND_ROBIN, assignees=[other.name, gone.name, owner.name])
    turn = await create(chores, home, owner, new_chore("Dishes", rotation))
    await complete(chores, turn, other)  # now it is theirs
    assert (await get(chores, home, turn)).assignee == gone.name
    drawn = Assignment(strategy=Assignment.RANDOM_EXCEPT_LAST, assignees=[gone.name, other.name])
    lottery = await create(chores, home, owner, new_chore("Bins", drawn))
    while (await get(chores, home, lottery)).assignee != gone.name:
        await complete(chores, lottery, owner)

    await deliver(stack, redis, "user.deleted", events_pb2.UserDeleted(user_id=gone.user_id, household_ids=[home.id]))

    assert (await get(chores, home, turn)).assignee == owner.name  # the one after them, not the first
    assert (await get(chores, home, lottery)).assignee == other.name


async def test_events_in_the_outbox_that_name_a_deleted_user_are_anonymised(
    stack: Stack, redis: aioredis.Redis, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    gone = await person(stack, home)
    chore = await create(chores, home, home.owner, new_chore("Windows", fixed(gone)))
    done = await complete(chores, chore, gone)
    [completed] = await household_events(stack, "task", "chore.completed", home.id)
    assert payload(completed, events_pb2.ChoreCompleted).completed_by == gone.user_id

    await deliver(stack, redis, "user.deleted", events_pb2.UserDeleted(user_id=gone.user_id, household_ids=[home.id]))

    [created] = await household_events(stack, "task", "chore.created", home.id)
    [completed] = await household_events(stack, "task", "chore.completed", home.id)
    assert payload(created, events_pb2.ChoreCreated).assignee_id == str(DELETED_USER)
    event = payload(completed, events_pb2.ChoreCompleted)
    assert (event.completed_by, event.completion_id, event.points) == (
        str(DELETED_USER),
        done.name.rsplit("/", 1)[1],
        5,
    )
    assert completed.actor_id == str(DELETED_USER)


# --- household.deleted -------------------------------------------------------------------------------------


async def test_a_deleted_household_leaves_nothing_behind_but_its_published_events(
    stack: Stack, redis: aioredis.Redis, db: AsyncEngine, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    gone, kept = await household(stack, member="member"), await household(stack, member="member")
    uploaded = {}
    for home in (gone, kept):
        chore = await create(chores, home, home.owner, new_chore("Dishes", fixed(home["member"])))
        await complete(chores, chore, home["member"], note="done", request_id=unique("retry"))
        await deliver(stack, redis, "member.away_set", away(home, home["member"], None, None), household_id=home.id)
        async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
            uploaded[home.id] = await upload(
                task_pb2_grpc.PhotoServiceStub(channel), home.name, home.owner, encoded("PNG")
            )
    kept_history = await history(chores, kept)
    photos_dir = Path(stack.servers["task"].runtime.settings.photos_dir)
    assert (photos_dir / gone.id).is_dir()

    await deliver(stack, redis, "household.deleted", events_pb2.HouseholdDeleted(household_id=gone.id))

    # The job deleting its photos' bytes names their keys (and so the household) in the queue until its history
    # is pruned (kit.jobs.JOB_HISTORY_DAYS), as published outbox rows do until theirs.
    assert set(await rows_naming(stack.databases["task"], gone.id)) <= {
        "public.outbox",
        "procrastinate.procrastinate_jobs",
    }
    async with photo_worker(stack):

        async def bytes_deleted() -> bool:
            return not any(await asyncio.to_thread(lambda: list((photos_dir / gone.id).rglob("original"))))

        await eventually(bytes_deleted)
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        photos = task_pb2_grpc.PhotoServiceStub(channel)
        await read(photos, uploaded[kept.id].name, kept.owner)  # the other household's photo is still there
        lost = await refused(read(photos, uploaded[gone.id].name, gone.owner))
    assert lost.code == grpc.StatusCode.NOT_FOUND
    # Its chores are gone for anyone who could still ask.
    reply = await chores.ListChores(task_pb2.ListChoresRequest(parent=gone.name), metadata=gone.owner.metadata)
    assert list(reply.chores) == []
    assert await history(chores, kept) == kept_history
    assert set(await away_periods(db, kept)) == {uuid.UUID(kept["member"].user_id)}
    await deliver(stack, redis, "household.deleted", events_pb2.HouseholdDeleted(household_id=gone.id))  # again


# --- away periods ------------------------------------------------------------------------------------------


async def test_away_periods_follow_the_newest_event(stack: Stack, redis: aioredis.Redis, db: AsyncEngine) -> None:
    home = await household(stack, member="member")
    member = uuid.UUID(home["member"].user_id)
    t0 = datetime(2027, 7, 1, tzinfo=UTC)
    events = datetime.now(UTC)

    async def tell(event_type: str, message: Message, minutes: int) -> None:
        await deliver(stack, redis, event_type, message, household_id=home.id, at=events + timedelta(minutes=minutes))

    await tell("member.away_set", away(home, home["member"], t0, t0 + timedelta(days=14)), 0)
    periods = await away_periods(db, home)
    assert scheduling.is_away(periods, member, t0 + timedelta(days=1))
    assert not scheduling.is_away(periods, member, t0 + timedelta(days=14))
    assert not scheduling.is_away(periods, uuid.UUID(home.owner.user_id), t0 + timedelta(days=1))

    # A new period replaces the old one; an older event told late does not undo it.
    await tell("member.away_set", away(home, home["member"], t0 + timedelta(days=30), None), 2)
    await tell("member.away_set", away(home, home["member"], t0, t0 + timedelta(days=14)), 1)
    periods = await away_periods(db, home)
    assert not scheduling.is_away(periods, member, t0 + timedelta(days=1))
    assert scheduling.is_away(periods, member, t0 + timedelta(days=3000))  # open-ended

    cleared = events_pb2.MemberAwayCleared(household_id=home.id, user_id=home["member"].user_id)
    await tell("member.away_cleared", cleared, 3)
    await tell("member.away_set", away(home, home["member"], t0, None), 2)  # older than the clearing
    assert await away_periods(db, home) == {}
    await tell("member.away_set", away(home, home["member"], t0, None), 4)  # newer: away again
    assert scheduling.available([uuid.UUID(home.owner.user_id), member], await away_periods(db, home), t0) == (
        uuid.UUID(home.owner.user_id),
    )


# --- PrivacyService.ExportUserData -------------------------------------------------------------------------


async def test_the_user_service_exports_what_task_holds_about_a_person(
    stack: Stack,
    redis: aioredis.Redis,
    chores: task_pb2_grpc.ChoreServiceStub,
    privacy: task_pb2_grpc.PrivacyServiceStub,
) -> None:
    home = await household(stack, other="member")
    someone = await person(stack, home)
    made = await create(chores, home, someone, new_chore("Bins", fixed(home["other"])))
    theirs = await create(chores, home, home.owner, new_chore("Dishes", fixed(someone, home["other"])))
    await create(chores, home, home.owner, new_chore("Plants", fixed(home["other"])))  # nothing of theirs
    done = await complete(chores, theirs, someone, note="with the new sponge")
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        feed = await task_pb2_grpc.CalendarFeedServiceStub(channel).CreateCalendarFeed(
            task_pb2.CreateCalendarFeedRequest(parent=home.name), metadata=someone.metadata
        )
        photo = await upload(task_pb2_grpc.PhotoServiceStub(channel), home.name, someone, encoded("PNG", 20, 10))
    start = datetime(2027, 8, 1, tzinfo=UTC)
    await deliver(stack, redis, "member.away_set", away(home, someone, start, None), household_id=home.id)

    reply = await privacy.ExportUserData(
        task_pb2.ExportUserDataRequest(user=someone.name), metadata=await service_token(stack, "user", "task")
    )

    data = json.loads(reply.json)
    [exported_feed] = data["calendar_feeds"]
    assert exported_feed["household"] == home.name
    assert feed.token not in reply.json
    assert data["service"] == "task"
    assert data["user"] == someone.name
    assert [c["name"] for c in data["chores_created"]] == [made.name]
    assert [c["name"] for c in data["chores_assigned"]] == [theirs.name]
    assert data["chores_assigned"][0]["assignee"] == someone.name
    [completion] = data["completions"]
    assert completion["name"] == done.name
    assert completion["note"] == "with the new sponge"
    assert completion["chore_title"] == "Dishes"
    assert completion["completed_by"] == someone.name
    assert completion["assignee"] == someone.name  # they held the occurrence they completed
    assert completion["complete_time"] == done.complete_time.ToJsonString()
    assert data["away_periods"] == [
        {"household": home.name, "start_time": start.isoformat(), "end_time": None, "cleared_time": None}
    ]
    # Their points: the ledger entry the completion wrote, and the balance.
    [entry] = data["points_ledger"]
    assert (entry["user"], entry["reason"], entry["completion_id"]) == (
        someone.name,
        "COMPLETION",
        done.name.rsplit("/", 1)[-1],
    )
    assert data["point_balances"] == [{"household": home.name, "balance": entry["delta"]}]
    # The occurrence they did (and held), with its completion.
    [occurrence] = data["occurrences"]
    assert (occurrence["outcome"], occurrence["completed_by"], occurrence["assignee"]) == (
        "DONE",
        someone.name,
        someone.name,
    )
    assert occurrence["completion"] == done.name
    assert occurrence["chore_title"] == "Dishes"
    # The photo they uploaded: named and described, never its bytes.
    [exported_photo] = data["photos_uploaded"]
    assert (exported_photo["name"], exported_photo["uploader"], exported_photo["width"]) == (
        photo.name,
        someone.name,
        10 * 2,
    )
    assert "sha256" in exported_photo
    # Someone who has nothing here gets an empty export, not an error.
    nobody = await register(stack, "Nobody")
    empty = await privacy.ExportUserData(
        task_pb2.ExportUserDataRequest(user=nobody.name), metadata=await service_token(stack, "user", "task")
    )
    assert json.loads(empty.json) == {
        "service": "task",
        "user": nobody.name,
        "chores_created": [],
        "chores_assigned": [],
        "completions": [],
        "completions_reviewed": [],
        "occurrences": [],
        "away_periods": [],
        "points_ledger": [],
        "point_balances": [],
        "rewards_created": [],
        "calendar_feeds": [],
        "photos_uploaded": [],
    }


async def test_export_is_for_the_user_service_alone(stack: Stack, privacy: task_pb2_grpc.PrivacyServiceStub) -> None:
    someone = await register(stack, "Someone")
    request = task_pb2.ExportUserDataRequest(user=someone.name)
    # Not the person themselves (an internal method takes no user token) ...
    refusal = await refused(privacy.ExportUserData(request, metadata=someone.metadata))
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    # ... nor another service ...
    refusal = await refused(privacy.ExportUserData(request, metadata=await service_token(stack, "notify", "task")))
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    # ... nor anyone without a token.
    assert (await refused(privacy.ExportUserData(request))).code == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "name", ["", "users/", "users/not-an-id", "users/a/b", "households/0190b3a0-0000-7000-8000-000000000000"]
)
async def test_export_names_a_user(stack: Stack, privacy: task_pb2_grpc.PrivacyServiceStub, name: str) -> None:
    token = await service_token(stack, "user", "task")
    refusal = await refused(privacy.ExportUserData(task_pb2.ExportUserDataRequest(user=name), metadata=token))
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(refusal.violations) == {"user"}


# --- points and rewards ------------------------------------------------------------------------------------


async def test_a_deleted_users_points_and_rewards_are_anonymised_and_the_household_keeps_them(
    stack: Stack,
    redis: aioredis.Redis,
    db: AsyncEngine,
    chores: task_pb2_grpc.ChoreServiceStub,
    points: task_pb2_grpc.PointsServiceStub,
) -> None:
    """Their ledger entries stay (the household's history), under DELETED_USER; their balance goes; a reward
    they made stays, its creator DELETED_USER; nothing names them any more."""
    home = await household(stack)
    gone = await register(stack, unique("Gone"))
    await join(stack, home, gone, "admin")
    made = await points.CreateReward(
        task_pb2.CreateRewardRequest(parent=home.name, reward=task_pb2.Reward(title="Cake", cost=3), request_id="r"),
        metadata=gone.metadata,
    )
    await complete(chores, await create(chores, home, home.owner, new_chore("Bins", fixed(gone))), gone)
    await points.RedeemReward(task_pb2.RedeemRewardRequest(name=made.name, request_id="x"), metadata=gone.metadata)

    await deliver(stack, redis, "user.deleted", events_pb2.UserDeleted(user_id=gone.user_id, household_ids=[home.id]))

    assert await rows_naming(stack.databases["task"], gone.user_id, gone.display_name) == {}
    async with AsyncSession(db) as session:
        ledger = (
            await session.execute(
                sa.text(
                    "SELECT user_id, delta, reason FROM points_ledger WHERE household_id = :h ORDER BY create_time"
                ),
                {"h": home.id},
            )
        ).all()
    assert ledger == [(DELETED_USER, 5, "completion"), (DELETED_USER, -3, "redemption")]
    listed = await points.ListRewards(task_pb2.ListRewardsRequest(parent=home.name), metadata=home.owner.metadata)
    assert [(r.name, r.creator) for r in listed.rewards] == [(made.name, DELETED)]


async def test_a_deleted_reviewer_leaves_the_decision_and_the_export_names_their_reviews(
    stack: Stack,
    redis: aioredis.Redis,
    chores: task_pb2_grpc.ChoreServiceStub,
    privacy: task_pb2_grpc.PrivacyServiceStub,
) -> None:
    home = await household(stack, kid="child")
    reviewer = await person(stack, home)
    chore = new_chore("Tidy room", fixed(home["kid"]))
    chore.requires_approval = True
    made = await create(chores, home, home.owner, chore)
    pending = await complete(chores, made, home["kid"], note="all tidy")
    await chores.RejectCompletion(
        task_pb2.RejectCompletionRequest(name=pending.name, note="Zephyrine saw the socks"), metadata=reviewer.metadata
    )
    exported = json.loads(
        (
            await privacy.ExportUserData(
                task_pb2.ExportUserDataRequest(user=reviewer.name), metadata=await service_token(stack, "user", "task")
            )
        ).json
    )
    [review] = exported["completions_reviewed"]
    assert (review["name"], review["status"], review["review_note"]) == (
        pending.name,
        "REJECTED",
        "Zephyrine saw the socks",
    )

    await deliver(
        stack, redis, "user.deleted", events_pb2.UserDeleted(user_id=reviewer.user_id, household_ids=[home.id])
    )

    [after] = await history(chores, home)
    # The decision stands (it never counts); who made it and their words are gone; the kid's own note stays.
    assert (after.status, after.reviewer, after.review_note, after.note) == (
        task_pb2.Completion.REJECTED,
        DELETED,
        "",
        "all tidy",
    )
    assert await rows_naming(stack.databases["task"], reviewer.user_id, reviewer.display_name) == {}
