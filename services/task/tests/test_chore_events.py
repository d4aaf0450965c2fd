"""UpdateChore writes `chore.updated` and DeleteChore `chore.archived` into the task service's outbox, in the same
transaction as the change (the same PostgreSQL transaction id, `xmin`, on the chore row and the outbox row);
an update that changes no value, a refused call and a second archive write none. CompleteChore writes its
completion, the chore's new schedule state and `chore.completed` in one statement: what is stored is exactly what
the response and the event say, in one transaction, and the chore's other columns (its search vector among them)
are left as they were.

The module's stack runs without the outbox relay: publishing marks a row sent (an UPDATE, a new `xmin`), which
would hide the transaction that wrote it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import pytest_asyncio
import sqlalchemy as sa
from google.protobuf import field_mask_pb2
from hearth.events.v1 import events_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.support.events import household_events, payload
from tests.support.fixtures import stack_fixture, stub_fixture
from tests.support.people import Household, Person, household
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

Chore = task_pb2.Chore
Recurrence = task_pb2.Recurrence
Assignment = task_pb2.Assignment

stack = stack_fixture(["user", "task"], settings_overrides={"task": {"run_relay": False}})
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def db(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(stack.databases["task"])
    yield engine
    await engine.dispose()


async def xmin(db: AsyncEngine, query: str, **params: Any) -> str:
    """The id of the transaction that last wrote the row `query` selects (`SELECT xmin::text ...`)."""
    async with db.connect() as conn:
        value = (await conn.execute(sa.text(query), params)).scalar_one()
    return str(value)


async def same_transaction(db: AsyncEngine, chore: Chore, event: events_pb2.Envelope) -> bool:
    chore_txid = await xmin(db, "SELECT xmin::text FROM chores WHERE id = :id", id=chore_id(chore))
    return chore_txid == await xmin(db, "SELECT xmin::text FROM outbox WHERE event_id = :id", id=event.event_id)


def chore_id(chore: Chore) -> str:
    return chore.name.rsplit("/", 1)[-1]


def due_of(chore: Chore) -> datetime:
    return chore.next_due_time.ToDatetime(tzinfo=UTC)


async def create(chores: task_pb2_grpc.ChoreServiceStub, home: Household, title: str = "Dishes") -> Chore:
    return await chores.CreateChore(
        task_pb2.CreateChoreRequest(
            parent=home.name,
            chore=Chore(
                title=title,
                points=5,
                category="kitchen",
                recurrence=Recurrence(once=Recurrence.Once()),
                assignment=Assignment(strategy=Assignment.UNASSIGNED),
            ),
        ),
        metadata=home.owner.metadata,
    )


async def update(chores: task_pb2_grpc.ChoreServiceStub, chore: Chore, paths: list[str], by: Person) -> Chore:
    return await chores.UpdateChore(
        task_pb2.UpdateChoreRequest(chore=chore, update_mask=field_mask_pb2.FieldMask(paths=paths)),
        metadata=by.metadata,
    )


async def test_an_update_announces_the_fields_it_changed_in_its_transaction(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, db: AsyncEngine
) -> None:
    home = await household(stack, member="member")
    created = await create(chores, home)

    updated = await update(
        chores,
        Chore(name=created.name, title="Dishes and pans", points=8, category="kitchen"),
        ["title", "points", "category"],  # the category is set to what it was: not a change
        by=home["member"],
    )

    [event] = await household_events(stack, "task", "chore.updated", home.id)
    assert (event.source, event.actor_id, event.household_id) == ("task", home["member"].user_id, home.id)
    body = payload(event, events_pb2.ChoreUpdated)
    assert (body.household_id, body.chore_id, body.title) == (home.id, chore_id(created), "Dishes and pans")
    assert list(body.changed) == ["title", "points"]
    assert body.assignee_id == ""
    assert body.next_due_at.ToDatetime(tzinfo=UTC) == due_of(updated)
    assert await same_transaction(db, updated, event)


async def test_a_new_schedule_and_assignee_are_in_the_event(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, db: AsyncEngine
) -> None:
    home = await household(stack, member="member")
    created = await create(chores, home)
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    new = Chore(
        name=created.name,
        assignment=Assignment(strategy=Assignment.FIXED, assignees=[home["member"].name]),
        recurrence=Recurrence(interval=Recurrence.Interval(every=1, unit=Recurrence.Interval.DAYS)),
    )
    new.next_due_time.FromDatetime(due)

    moved = await update(chores, new, ["assignment", "recurrence", "next_due_time"], by=home.owner)

    [event] = await household_events(stack, "task", "chore.updated", home.id)
    body = payload(event, events_pb2.ChoreUpdated)
    assert list(body.changed) == ["recurrence", "assignment", "next_due_time"]
    assert body.assignee_id == home["member"].user_id
    assert body.next_due_at.ToDatetime(tzinfo=UTC) == due_of(moved) == due
    assert await same_transaction(db, moved, event)


async def test_updates_that_change_nothing_or_are_refused_write_no_event(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, kid="child")
    created = await create(chores, home)

    await update(chores, Chore(name=created.name, title="Dishes", points=5), ["title", "points"], by=home.owner)
    await update(chores, Chore(name=created.name, state=Chore.ARCHIVED), ["state"], by=home.owner)  # output-only
    refusals = [
        update(chores, Chore(name=created.name, title="Mine"), ["title"], by=home["kid"]),
        update(chores, Chore(name=created.name, title="Stale", etag="999"), ["title"], by=home.owner),
        update(chores, Chore(name=created.name, points=5000), ["points"], by=home.owner),
    ]
    for call in refusals:
        await refused(call)

    assert await household_events(stack, "task", "chore.updated", home.id) == []


async def test_archiving_is_announced_once_in_its_transaction(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, db: AsyncEngine
) -> None:
    home = await household(stack, admin="admin", kid="child")
    chore = await create(chores, home, title="Old bike")

    for by, etag in ((home["kid"], ""), (home.owner, "999")):
        await refused(chores.DeleteChore(task_pb2.DeleteChoreRequest(name=chore.name, etag=etag), metadata=by.metadata))
    assert await household_events(stack, "task", "chore.archived", home.id) == []

    await chores.DeleteChore(task_pb2.DeleteChoreRequest(name=chore.name), metadata=home["admin"].metadata)
    await chores.DeleteChore(task_pb2.DeleteChoreRequest(name=chore.name), metadata=home.owner.metadata)  # no-op
    archived_update = await refused(update(chores, Chore(name=chore.name, title="Back"), ["title"], by=home.owner))
    assert archived_update.code == grpc.StatusCode.FAILED_PRECONDITION

    [event] = await household_events(stack, "task", "chore.archived", home.id)
    assert (event.source, event.actor_id, event.household_id) == ("task", home["admin"].user_id, home.id)
    assert payload(event, events_pb2.ChoreArchived) == events_pb2.ChoreArchived(
        household_id=home.id, chore_id=chore_id(chore), title="Old bike"
    )
    assert await same_transaction(db, chore, event)
    assert await household_events(stack, "task", "chore.updated", home.id) == []


async def one(db: AsyncEngine, query: str, **params: Any) -> sa.Row[Any]:
    async with db.connect() as conn:
        return (await conn.execute(sa.text(query), params)).one()


def at(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def time_of(message: Any, field: str) -> datetime | None:
    return getattr(message, field).ToDatetime(tzinfo=UTC) if message.HasField(field) else None


async def test_a_completion_is_stored_as_its_response_and_event_say_in_one_transaction(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, db: AsyncEngine
) -> None:
    home = await household(stack, member="member")
    chore = Chore(
        title="Water the plants",
        description="the ferns too",
        points=7,
        estimated_minutes=15,
        category="garden",
        labels=["green"],
        recurrence=Recurrence(interval=Recurrence.Interval(every=2, unit=Recurrence.Interval.DAYS)),
        assignment=Assignment(strategy=Assignment.FIXED, assignees=[home["member"].name]),
    )
    chore.next_due_time.FromDatetime(datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2))
    created = await chores.CreateChore(
        task_pb2.CreateChoreRequest(parent=home.name, chore=chore), metadata=home.owner.metadata
    )
    cid = chore_id(created)
    before = await one(
        db, "SELECT title, description, search::text AS search_text, create_time FROM chores WHERE id = :id", id=cid
    )

    request = task_pb2.CompleteChoreRequest(name=created.name, note="all of them", completed_by=home["member"].name)
    done = await chores.CompleteChore(request, metadata=home.owner.metadata)

    row = await one(db, "SELECT *, search::text AS search_text, xmin::text AS txid FROM chores WHERE id = :id", id=cid)
    assert row.version == int(created.etag) + 1 == int(done.chore.etag)
    assert (row.state, str(row.assignee_id)) == ("active", home["member"].user_id)
    assert f"users/{row.assignee_id}" == done.chore.assignee
    assert at(row.next_due_time) == time_of(done.chore, "next_due_time") > time_of(created, "next_due_time")
    assert at(row.last_completion_time) == time_of(done.chore, "last_completion_time")
    assert at(row.update_time) == time_of(done.chore, "update_time")
    assert (row.title, row.description, row.search_text, row.create_time) == tuple(before)

    completion_id = done.completion.name.rsplit("/", 1)[-1]
    stored = await one(db, "SELECT *, xmin::text AS txid FROM completions WHERE id = :id", id=completion_id)
    assert (str(stored.household_id), str(stored.chore_id)) == (home.id, cid)
    assert (str(stored.completed_by), str(stored.recorder_id)) == (home["member"].user_id, home.owner.user_id)
    assert (stored.note, stored.photo, stored.points, stored.on_time) == ("all of them", "", 7, True)
    assert at(stored.complete_time) == time_of(done.completion, "complete_time")
    assert at(stored.due_time) == time_of(done.completion, "due_time") == time_of(created, "next_due_time")
    assert at(stored.create_time) == time_of(done.completion, "create_time") == at(row.update_time)

    [event] = await household_events(stack, "task", "chore.completed", home.id)
    assert (event.source, event.actor_id) == ("task", home.owner.user_id)
    assert payload(event, events_pb2.ChoreCompleted) == _completed(home.id, cid, completion_id, row, stored)
    outbox = await one(db, "SELECT xmin::text AS txid FROM outbox WHERE event_id = :id", id=event.event_id)
    assert row.txid == stored.txid == outbox.txid


def _completed(
    household_id: str, cid: str, completion_id: str, chore: sa.Row[Any], completion: sa.Row[Any]
) -> events_pb2.ChoreCompleted:
    """The event the stored rows describe."""
    expected = events_pb2.ChoreCompleted(
        household_id=household_id,
        chore_id=cid,
        completion_id=completion_id,
        title=chore.title,
        completed_by=str(completion.completed_by),
        points=completion.points,
        estimated_minutes=chore.estimated_minutes,
        on_time=completion.on_time,
        next_assignee_id=str(chore.assignee_id),
    )
    expected.completed_at.FromDatetime(completion.complete_time.astimezone(UTC))
    expected.due_at.FromDatetime(completion.due_time.astimezone(UTC))
    expected.next_due_at.FromDatetime(chore.next_due_time.astimezone(UTC))
    return expected


async def test_a_one_off_chore_is_done_with_no_next_due_time(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, db: AsyncEngine
) -> None:
    home = await household(stack)
    created = await chores.CreateChore(
        task_pb2.CreateChoreRequest(
            parent=home.name,
            chore=Chore(
                title="Fix the tap",
                points=3,
                recurrence=Recurrence(once=Recurrence.Once()),
                assignment=Assignment(strategy=Assignment.UNASSIGNED),
            ),
        ),
        metadata=home.owner.metadata,
    )

    done = await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=created.name), metadata=home.owner.metadata)

    row = await one(db, "SELECT * FROM chores WHERE id = :id", id=chore_id(created))
    assert (row.state, row.next_due_time, row.version) == ("done", None, int(created.etag) + 1)
    assert done.chore.state == Chore.DONE
    assert not done.chore.HasField("next_due_time")
    [event] = await household_events(stack, "task", "chore.completed", home.id)
    body = payload(event, events_pb2.ChoreCompleted)
    assert (body.next_assignee_id, body.HasField("next_due_at")) == ("", False)
    again = await chores.GetChore(task_pb2.GetChoreRequest(name=created.name), metadata=home.owner.metadata)
    assert again == done.chore
