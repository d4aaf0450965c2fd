"""UpdateChore writes `chore.updated` and DeleteChore `chore.archived` into the task service's outbox, in the same
transaction as the change (the same PostgreSQL transaction id, `xmin`, on the chore row and the outbox row);
an update that changes no value, a refused call and a second archive write none.

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
