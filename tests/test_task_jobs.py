"""The task service's background scans (services.task.jobs) against the real user and task services: the miss scan,
reminders and the daily/weekly rotation, driven by the `now` each scan is given (never by sleeping), and the events
they leave in the outbox. Scans cover every household in the database, so each test judges its own household only."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit.jobs import QUEUE_SCHEMA, create_app, defer_in, run_worker
from services.task.jobs import SCAN_MISSED, SCAN_REMINDERS, SCAN_ROTATIONS, MembershipZones, Scans, task_jobs
from services.task.lists import ChoreLists
from services.task.models import OUTCOME_MISSED, PENALTY, Occurrence, PointEntry
from services.task.repository import AwayRepository
from tests.support.events import consumed, envelope, household_events, payload, publish
from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.jobs import NEVER, running_worker
from tests.support.people import Household, Person, household
from tests.support.rpc import refused
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

Recurrence = task_pb2.Recurrence
Assignment = task_pb2.Assignment
BERLIN = ZoneInfo("Europe/Berlin")

stack = stack_fixture(["user", "task", "notify"])
redis = redis_fixture()
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)
ledger = stub_fixture("task", task_pb2_grpc.PointsServiceStub)


def scans(stack: Stack, **options: Any) -> Scans:
    """The scans as the worker runs them, on the stack's task database, asking the stack's user service for zones."""
    runtime = stack.servers["task"].runtime
    assert runtime.service_tokens is not None
    return Scans(
        runtime.sessions,
        MembershipZones(runtime.channels["user"], runtime.service_tokens),
        rng=random.Random(7),
        **options,
    )


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def at(stamp: Any) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]


def daily() -> task_pb2.Recurrence:
    return Recurrence(interval=Recurrence.Interval(every=1, unit=Recurrence.Interval.DAYS))


def once() -> task_pb2.Recurrence:
    return Recurrence(once=Recurrence.Once())


def round_robin(*people: Person, **fields: Any) -> task_pb2.Assignment:
    return Assignment(strategy=Assignment.ROUND_ROBIN, assignees=[p.name for p in people], **fields)


async def make(
    chores: task_pb2_grpc.ChoreServiceStub,
    home: Household,
    *,
    due: datetime,
    assignment: task_pb2.Assignment,
    recurrence: task_pb2.Recurrence | None = None,
    reminders: tuple[int, ...] = (),
    title: str = "Dishes",
) -> task_pb2.Chore:
    chore = task_pb2.Chore(
        title=title,
        points=10,
        recurrence=recurrence or daily(),
        assignment=assignment,
        reminders=[task_pb2.Reminder(before_minutes=m) for m in reminders],
    )
    chore.next_due_time.FromDatetime(due)
    return await chores.CreateChore(
        task_pb2.CreateChoreRequest(parent=home.name, chore=chore), metadata=home.owner.metadata
    )


async def get(chores: task_pb2_grpc.ChoreServiceStub, home: Household, chore: task_pb2.Chore) -> task_pb2.Chore:
    return await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)


def chore_id(chore: task_pb2.Chore) -> uuid.UUID:
    return uuid.UUID(chore.name.rsplit("/", 1)[-1])


async def missed_rows(stack: Stack, chore: task_pb2.Chore) -> list[Occurrence]:
    async with stack.servers["task"].runtime.sessions() as session:
        query = sa.select(Occurrence).where(
            Occurrence.chore_id == chore_id(chore), Occurrence.outcome == OUTCOME_MISSED
        )
        return list(await session.scalars(query))


async def penalties(stack: Stack, home: Household) -> list[PointEntry]:
    async with stack.servers["task"].runtime.sessions() as session:
        query = sa.select(PointEntry).where(PointEntry.household_id == uuid.UUID(home.id), PointEntry.reason == PENALTY)
        return list(await session.scalars(query))


async def events_of(stack: Stack, event_type: str, home: Household, cls: type[Any]) -> list[Any]:
    return [payload(e, cls) for e in await household_events(stack, "task", event_type, home.id)]


# --- the miss scan ----------------------------------------------------------------------------------------


async def test_two_concurrent_scans_mark_each_occurrence_missed_once(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, member="member")
    due = now() - timedelta(hours=3)
    made = [
        await make(chores, home, due=due, assignment=round_robin(home["member"], miss_penalty_points=2))
        for _ in range(12)
    ]
    # Small batches, two scans at once: they share the work through SKIP LOCKED and never mark one twice.
    first, second = scans(stack, batch_size=3), scans(stack, batch_size=3)
    await asyncio.gather(first.missed(now()), second.missed(now()))
    await first.missed(now())  # and a third run finds nothing left to mark
    for chore in made:
        [row] = await missed_rows(stack, chore)
        assert (row.due_time, row.assignee_id) == (due, uuid.UUID(home["member"].user_id))
    assert len(await penalties(stack, home)) == len(made)
    overdue = await events_of(stack, "chore.overdue", home, events_pb2.ChoreOverdue)
    assert sorted(e.chore_id for e in overdue) == sorted(str(chore_id(c)) for c in made)


async def test_grace_is_respected(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    due = now() - timedelta(hours=5)
    chore = await make(chores, home, due=due, assignment=round_robin(home.owner, grace_minutes=60))
    await scans(stack).missed(due + timedelta(minutes=59))
    assert await missed_rows(stack, chore) == []
    assert at((await get(chores, home, chore)).next_due_time) == due
    await scans(stack).missed(due + timedelta(minutes=61))
    [row] = await missed_rows(stack, chore)
    # It ended when it became missed (due + grace), whenever the scan saw it.
    assert row.end_time == due + timedelta(minutes=60)
    after = await get(chores, home, chore)
    assert at(after.next_due_time) == due + timedelta(days=1)  # the first slot after the scan
    [event] = await events_of(stack, "chore.overdue", home, events_pb2.ChoreOverdue)
    assert (at(event.due_at), event.grace_minutes, at(event.next_due_at)) == (due, 60, due + timedelta(days=1))
    assert event.assignee_id == event.next_assignee_id == home.owner.user_id
    assert event.occurrence_id == str(row.id)


async def test_a_long_outage_marks_one_occurrence_not_every_slot(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    hourly = Recurrence(interval=Recurrence.Interval(every=1, unit=Recurrence.Interval.HOURS))
    due = now() - timedelta(hours=30)
    chore = await make(chores, home, due=due, recurrence=hourly, assignment=round_robin(home.owner))
    scan_time = now()
    await scans(stack).missed(scan_time)
    assert len(await missed_rows(stack, chore)) == 1
    after = at((await get(chores, home, chore)).next_due_time)
    assert scan_time < after <= scan_time + timedelta(hours=1)


async def test_keep_and_advance(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, member="member")
    due = now() - timedelta(hours=2)
    people = (home.owner, home["member"])
    kept = await make(chores, home, due=due, assignment=round_robin(*people, on_miss=Assignment.KEEP))
    advanced = await make(chores, home, due=due, assignment=round_robin(*people, on_miss=Assignment.ADVANCE))
    assert kept.assignee == advanced.assignee == home.owner.name
    await scans(stack).missed(now())
    assert (await get(chores, home, kept)).assignee == home.owner.name
    assert (await get(chores, home, advanced)).assignee == home["member"].name
    # Only the advanced one says it changed hands.
    [assigned] = await events_of(stack, "chore.assigned", home, events_pb2.ChoreAssigned)
    assert (assigned.chore_id, assigned.reason) == (str(chore_id(advanced)), "missed")
    assert (assigned.previous_assignee_id, assigned.assignee_id) == (home.owner.user_id, home["member"].user_id)


async def test_advance_skips_an_away_member(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, away="member", third="member")
    away = home["away"]
    start = now() - timedelta(hours=1)
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        period = user_pb2.Away(name=f"{home.name}/members/{away.user_id}/away")
        period.start_time.FromDatetime(start)
        period.end_time.FromDatetime(start + timedelta(days=10))
        await user_pb2_grpc.HouseholdServiceStub(channel).SetAway(
            user_pb2.SetAwayRequest(away=period), metadata=away.metadata
        )

    async def arrived() -> bool:
        async with stack.servers["task"].runtime.sessions() as session:
            return uuid.UUID(away.user_id) in await AwayRepository(session).household(uuid.UUID(home.id))

    await eventually(arrived)
    chore = await make(
        chores,
        home,
        due=now() - timedelta(minutes=30),
        assignment=round_robin(home.owner, away, home["third"], on_miss=Assignment.ADVANCE),
    )
    assert chore.assignee == home.owner.name
    await scans(stack).missed(now())
    assert (await get(chores, home, chore)).assignee == home["third"].name


async def test_a_penalty_is_deducted_once_and_may_leave_a_debt(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, ledger: task_pb2_grpc.PointsServiceStub
) -> None:
    home = await household(stack, member="member")
    member = home["member"]
    due = now() - timedelta(hours=2)
    chore = await make(chores, home, due=due, assignment=round_robin(member, miss_penalty_points=7))
    for _ in range(3):
        await scans(stack).missed(now())
    [entry] = await penalties(stack, home)
    [row] = await missed_rows(stack, chore)
    assert (entry.user_id, entry.delta, entry.occurrence_id, entry.actor_id) == (
        uuid.UUID(member.user_id),
        -7,
        row.id,
        None,
    )
    answer = await ledger.ListPointEntries(
        task_pb2.ListPointEntriesRequest(parent=home.name, user=member.name), metadata=member.metadata
    )
    # Nobody had any points: a penalty is not a redemption, it leaves a debt.
    assert answer.balance == -7
    assert [(e.delta, e.reason) for e in answer.entries] == [(-7, task_pb2.PointEntry.PENALTY)]
    [changed] = await events_of(stack, "points.changed", home, events_pb2.PointsChanged)
    assert (changed.reason, changed.delta, changed.balance, changed.occurrence_id) == ("penalty", -7, -7, str(row.id))
    [overdue] = await events_of(stack, "chore.overdue", home, events_pb2.ChoreOverdue)
    assert overdue.penalty_points == 7


async def test_a_one_off_chore_is_marked_once_and_stays_overdue(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, member="member")
    due = now() - timedelta(hours=2)
    chore = await make(
        chores,
        home,
        due=due,
        recurrence=once(),
        assignment=round_robin(home.owner, home["member"], on_miss=Assignment.ADVANCE, miss_penalty_points=1),
    )
    await scans(stack).missed(now())
    await scans(stack).missed(now() + timedelta(days=3))
    assert len(await missed_rows(stack, chore)) == 1
    assert len(await penalties(stack, home)) == 1
    after = await get(chores, home, chore)
    assert (at(after.next_due_time), after.state) == (due, task_pb2.Chore.ACTIVE)
    assert after.assignee == home["member"].name  # advanced once, not at every scan
    [overdue] = await events_of(stack, "chore.overdue", home, events_pb2.ChoreOverdue)
    assert not overdue.HasField("next_due_at")
    # Still overdue, it can still be done.
    done = await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=home.owner.metadata)
    assert done.chore.state == task_pb2.Chore.DONE


async def test_a_done_occurrence_is_never_missed(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    due = now() - timedelta(hours=2)
    chore = await make(chores, home, due=due, assignment=round_robin(home.owner, miss_penalty_points=3))
    await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=home.owner.metadata)
    await scans(stack).missed(now())
    assert await missed_rows(stack, chore) == []
    assert await penalties(stack, home) == []


# --- reminders --------------------------------------------------------------------------------------------


async def test_each_reminder_fires_once_per_occurrence_and_again_after_a_snooze(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    due = now() + timedelta(hours=3)
    chore = await make(chores, home, due=due, assignment=round_robin(home.owner), reminders=(60, 10))

    async def sent() -> list[tuple[datetime, int]]:
        found = await events_of(stack, "chore.due_soon", home, events_pb2.ChoreDueSoon)
        return [(at(e.due_at), e.before_minutes) for e in found]

    await scans(stack).reminders(due - timedelta(minutes=61))
    assert await sent() == []
    for minutes in (60, 59, 30):
        await scans(stack).reminders(due - timedelta(minutes=minutes))
    assert await sent() == [(due, 60)]
    await scans(stack).reminders(due - timedelta(minutes=10))
    await scans(stack).reminders(due - timedelta(minutes=5))
    assert await sent() == [(due, 60), (due, 10)]
    [event] = (await events_of(stack, "chore.due_soon", home, events_pb2.ChoreDueSoon))[:1]
    assert (event.chore_id, event.household_id, event.assignee_id) == (
        str(chore_id(chore)),
        home.id,
        home.owner.user_id,
    )
    # Snoozed: the occurrence has a new due time, and its reminders come again for it.
    later = due + timedelta(hours=2)
    await chores.SnoozeChore(task_pb2.SnoozeChoreRequest(name=chore.name, until=later), metadata=home.owner.metadata)
    await scans(stack).reminders(later - timedelta(minutes=60))
    await scans(stack).reminders(later - timedelta(minutes=60))
    assert await sent() == [(due, 60), (due, 10), (later, 60)]


async def test_reminders_due_together_send_the_closest(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    due = now() + timedelta(hours=3)
    await make(chores, home, due=due, assignment=round_robin(home.owner), reminders=(120, 60, 10))
    # The worker was down until 5 minutes before: one reminder (the closest), not three at once.
    await scans(stack).reminders(due - timedelta(minutes=5))
    await scans(stack).reminders(due - timedelta(minutes=4))
    found = await events_of(stack, "chore.due_soon", home, events_pb2.ChoreDueSoon)
    assert [e.before_minutes for e in found] == [10]


async def test_no_reminder_once_the_occurrence_is_missed(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    due = now() - timedelta(hours=2)
    await make(chores, home, due=due, assignment=round_robin(home.owner, grace_minutes=30), reminders=(10,))
    await scans(stack).reminders(due + timedelta(minutes=31))  # past the grace: chore.overdue's to say
    assert await events_of(stack, "chore.due_soon", home, events_pb2.ChoreDueSoon) == []
    await scans(stack).reminders(due + timedelta(minutes=29))  # late, but still within the grace
    assert len(await events_of(stack, "chore.due_soon", home, events_pb2.ChoreDueSoon)) == 1


# --- scheduled rotation -----------------------------------------------------------------------------------


def berlin(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


async def rotating(
    chores: task_pb2_grpc.ChoreServiceStub, home: Household, rotate: int, *people: Person
) -> task_pb2.Chore:
    return await make(chores, home, due=now() + timedelta(days=1), assignment=round_robin(*people, rotate=rotate))


async def test_daily_rotation_turns_at_local_midnight_across_spring_forward(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, second="member", third="member")
    people = (home.owner, home["second"], home["third"])
    chore = await rotating(chores, home, Assignment.DAILY, *people)
    assert chore.assignee == home.owner.name

    async def holder(moment: datetime) -> str:
        await scans(stack).rotations(moment)
        return (await get(chores, home, chore)).assignee

    # Berlin springs forward on 28 March 2027: that day has 23 hours.
    assert await holder(berlin(2027, 3, 27, 12, 0)) == home.owner.name  # the rotation starts with the assignee
    assert await holder(berlin(2027, 3, 27, 23, 59)) == home.owner.name
    assert await holder(berlin(2027, 3, 28, 0, 1)) == home["second"].name
    assert await holder(berlin(2027, 3, 28, 0, 2)) == home["second"].name  # once per boundary
    # Local midnight of the 29th is 23 hours later (22:00 UTC), not 24.
    assert await holder(datetime(2027, 3, 28, 21, 59, tzinfo=UTC)) == home["second"].name
    assert await holder(datetime(2027, 3, 28, 22, 1, tzinfo=UTC)) == home["third"].name
    # Two days later (the worker was down): two turns on at once, round the list, in one change.
    assert await holder(berlin(2027, 3, 31, 9, 0)) == home["second"].name
    assigned = await events_of(stack, "chore.assigned", home, events_pb2.ChoreAssigned)
    assert [(e.reason, e.previous_assignee_id, e.assignee_id) for e in assigned] == [
        ("rotation", home.owner.user_id, home["second"].user_id),
        ("rotation", home["second"].user_id, home["third"].user_id),
        ("rotation", home["third"].user_id, home["second"].user_id),
    ]


async def test_weekly_rotation_turns_on_monday_across_fall_back(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, second="member")
    chore = await rotating(chores, home, Assignment.WEEKLY, home.owner, home["second"])

    async def holder(moment: datetime) -> str:
        await scans(stack).rotations(moment)
        return (await get(chores, home, chore)).assignee

    # Berlin falls back on Sunday 31 October 2027: the week from Monday the 25th has 169 hours.
    assert await holder(berlin(2027, 10, 27, 12, 0)) == home.owner.name
    assert await holder(datetime(2027, 10, 31, 22, 30, tzinfo=UTC)) == home.owner.name  # 7 x 24 h would be 22:00
    assert await holder(berlin(2027, 11, 1, 0, 1)) == home["second"].name
    assert await holder(berlin(2027, 11, 7, 23, 59)) == home["second"].name
    assert await holder(berlin(2027, 11, 8, 0, 1)) == home.owner.name


async def test_a_completion_does_not_rotate_a_scheduled_rotation(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, second="member")
    chore = await make(
        chores,
        home,
        due=now() - timedelta(hours=1),
        assignment=round_robin(home.owner, home["second"], rotate=Assignment.WEEKLY),
    )
    done = await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=home.owner.metadata)
    assert done.chore.assignee == home.owner.name  # the week's turn, not the completion, decides


async def test_a_rotation_skips_the_away_for_the_turn(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, away="member", third="member")
    away = home["away"]
    chore = await rotating(chores, home, Assignment.DAILY, home.owner, away, home["third"])
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        period = user_pb2.Away(name=f"{home.name}/members/{away.user_id}/away")
        period.start_time.FromDatetime(berlin(2027, 5, 1, 0, 0))
        period.end_time.FromDatetime(berlin(2027, 5, 3, 0, 0))
        await user_pb2_grpc.HouseholdServiceStub(channel).SetAway(
            user_pb2.SetAwayRequest(away=period), metadata=away.metadata
        )

    async def arrived() -> bool:
        async with stack.servers["task"].runtime.sessions() as session:
            return uuid.UUID(away.user_id) in await AwayRepository(session).household(uuid.UUID(home.id))

    await eventually(arrived)

    async def holder(moment: datetime) -> str:
        await scans(stack).rotations(moment)
        return (await get(chores, home, chore)).assignee

    assert await holder(berlin(2027, 4, 30, 12, 0)) == home.owner.name
    # 1 May is the away member's turn: the next one stands in, and the turn after is still the third's own.
    assert await holder(berlin(2027, 5, 1, 0, 1)) == home["third"].name
    assert await holder(berlin(2027, 5, 2, 0, 1)) == home["third"].name
    assert await holder(berlin(2027, 5, 3, 0, 1)) == home.owner.name


# --- what the scans accept and what notify makes of their events -------------------------------------------


async def test_the_new_assignment_settings_are_accepted_and_bounded(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, member="member")
    people = (home.owner, home["member"])
    made = await make(
        chores,
        home,
        due=now() + timedelta(days=1),
        assignment=round_robin(*people, rotate=Assignment.WEEKLY, on_miss=Assignment.ADVANCE, miss_penalty_points=5),
    )
    assert (made.assignment.rotate, made.assignment.on_miss, made.assignment.miss_penalty_points) == (
        Assignment.WEEKLY,
        Assignment.ADVANCE,
        5,
    )
    for assignment, field, message in (
        (round_robin(*people, miss_penalty_points=1001), "assignment.miss_penalty_points", "between 0 and 1000"),
        (round_robin(*people, miss_penalty_points=-1), "assignment.miss_penalty_points", "between 0 and 1000"),
        (
            Assignment(strategy=Assignment.RANDOM, assignees=[p.name for p in people], rotate=Assignment.DAILY),
            "assignment.rotate",
            "round_robin",
        ),
    ):
        refusal = await refused(make(chores, home, due=now() + timedelta(days=1), assignment=assignment))
        assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
        assert message in refusal.violations.get(field, ""), refusal


async def test_notify_acknowledges_the_scans_events(stack: Stack, redis: Any) -> None:
    # Notify has no use for them yet (issue 17): they are acknowledged, not dead-lettered or retried.
    stream = f"{stack.namespace}.events.task"
    household_id = str(uuid.uuid4())
    for event_type, message in (
        ("chore.overdue", events_pb2.ChoreOverdue(household_id=household_id, chore_id=str(uuid.uuid4()))),
        ("chore.due_soon", events_pb2.ChoreDueSoon(household_id=household_id, chore_id=str(uuid.uuid4()))),
        ("chore.assigned", events_pb2.ChoreAssigned(household_id=household_id, chore_id=str(uuid.uuid4()))),
    ):
        built = envelope(event_type, message, household_id=household_id, source="task")
        await consumed(redis, stream, "notify", await publish(redis, stream, built))
    assert await redis.exists(f"{stream}.dead") == 0


async def test_a_scan_drops_the_households_cached_chore_pages(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    due = now() - timedelta(hours=2)
    chore = await make(chores, home, due=due, assignment=round_robin(home.owner))
    listing = task_pb2.ListChoresRequest(parent=home.name)
    [before] = (await chores.ListChores(listing, metadata=home.owner.metadata)).chores  # the page is cached now
    assert at(before.next_due_time) == due
    runtime = stack.servers["task"].runtime
    lists = ChoreLists(runtime.cache("chore-lists", ttl=runtime.settings.chore_list_ttl_seconds))
    await scans(stack, lists=lists).missed(now())

    async def moved_on() -> bool:
        [listed] = (await chores.ListChores(listing, metadata=home.owner.metadata)).chores
        return listed.name == chore.name and at(listed.next_due_time) == due + timedelta(days=1)

    await eventually(moved_on)


async def test_the_worker_runs_the_three_scans(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    soon = await make(
        chores, home, due=now() + timedelta(minutes=20), assignment=round_robin(home.owner), reminders=(30,)
    )
    late = await make(chores, home, due=now() - timedelta(hours=1), assignment=round_robin(home.owner))
    runtime = stack.servers["task"].runtime
    settings = runtime.settings.model_copy(
        update={name: NEVER for name in ("miss_scan_cron", "reminder_scan_cron", "rotation_scan_cron", "prune_cron")}
        | {"jobs_recovery_cron": NEVER}
    )
    stamp = int(now().timestamp())
    async with runtime.sessions() as session, session.begin():
        queued = [
            await defer_in(session, name, timestamp=stamp) for name in (SCAN_MISSED, SCAN_REMINDERS, SCAN_ROTATIONS)
        ]
    # Run as `python -m services.task worker` runs them, until nothing is due.
    await run_worker(
        settings,
        task_jobs(settings, scans=lambda sessions: replace(scans(stack), sessions=sessions)),
        install_signal_handlers=False,
        wait=False,
        poll_seconds=0.05,
    )
    async with runtime.sessions() as session:
        statuses = await session.scalars(
            sa.text(f"SELECT status::text FROM {QUEUE_SCHEMA}.procrastinate_jobs WHERE id = ANY(:ids)"),
            {"ids": queued},
        )
        assert list(statuses) == ["succeeded"] * 3
    assert [e.chore_id for e in await events_of(stack, "chore.due_soon", home, events_pb2.ChoreDueSoon)] == [
        str(chore_id(soon))
    ]
    assert len(await missed_rows(stack, late)) == 1


async def test_a_miss_leaves_a_scheduled_rotation_to_its_turns(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, member="member")
    chore = await make(
        chores,
        home,
        due=now() - timedelta(hours=2),
        assignment=round_robin(home.owner, home["member"], rotate=Assignment.WEEKLY, on_miss=Assignment.ADVANCE),
    )
    await scans(stack).missed(now())
    assert len(await missed_rows(stack, chore)) == 1
    assert (await get(chores, home, chore)).assignee == home.owner.name  # the week's turn still decides
    assert await events_of(stack, "chore.assigned", home, events_pb2.ChoreAssigned) == []


async def test_a_reminder_at_the_due_time_of_a_chore_without_grace(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    due = now() + timedelta(hours=1)
    on_time = await make(chores, home, due=due, assignment=round_robin(home.owner), reminders=(0,))
    too_late = await make(chores, home, due=due, assignment=round_robin(home.owner), reminders=(0,), title="Bins")
    await scans(stack).reminders(due - timedelta(seconds=1))
    assert await events_of(stack, "chore.due_soon", home, events_pb2.ChoreDueSoon) == []
    # The scan after the due instant still sends it (a minutely scan rarely runs at that very second) ...
    await scans(stack).reminders(due + timedelta(seconds=40))
    found = await events_of(stack, "chore.due_soon", home, events_pb2.ChoreDueSoon)
    assert sorted(e.chore_id for e in found) == sorted(str(chore_id(c)) for c in (on_time, too_late))
    # ... but not one long after: a chore snoozed to a new due time seen only 11 minutes past it gets none.
    later = due + timedelta(hours=2)
    await chores.SnoozeChore(task_pb2.SnoozeChoreRequest(name=too_late.name, until=later), metadata=home.owner.metadata)
    await scans(stack).reminders(later + timedelta(minutes=11))
    assert len(await events_of(stack, "chore.due_soon", home, events_pb2.ChoreDueSoon)) == 2


async def test_the_worker_schedules_the_scans_on_their_crons(stack: Stack) -> None:
    runtime = stack.servers["task"].runtime
    every_second = "* * * * * *"
    settings = runtime.settings.model_copy(
        update={name: every_second for name in ("miss_scan_cron", "reminder_scan_cron", "rotation_scan_cron")}
        | {"prune_cron": NEVER, "jobs_recovery_cron": NEVER}
    )
    app = create_app(settings, task_jobs(settings, scans=lambda sessions: replace(scans(stack), sessions=sessions)))
    jobs = f"{QUEUE_SCHEMA}.procrastinate_jobs"
    async with runtime.sessions() as session:
        before = await session.scalar(sa.text(f"SELECT coalesce(max(id), 0) FROM {jobs}"))

    async def each_ran() -> bool:
        # Jobs the worker deferred itself, on the crons (not ones a test deferred before).
        async with runtime.sessions() as session:
            done = await session.scalars(
                sa.text(
                    f"SELECT DISTINCT task_name FROM {jobs}"
                    " WHERE id > :before AND status = 'succeeded' AND task_name = ANY(:names)"
                ),
                {"before": before, "names": [SCAN_MISSED, SCAN_REMINDERS, SCAN_ROTATIONS]},
            )
            return len(list(done)) == 3

    async with running_worker(settings, app):
        await eventually(each_ran, timeout=30)
