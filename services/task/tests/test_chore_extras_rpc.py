"""ChoreService's nested update masks and ClaimChore, and CategoryService, over real user and task servers: what a
gRPC caller gets (the REST side: tests/test_chore_extras_rest.py), and the events each writes through the outbox."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.field_mask_pb2 import FieldMask
from hearth.events.v1 import events_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.events import household_events, payload
from tests.support.fixtures import stack_fixture, stub_fixture
from tests.support.people import Household, household
from tests.support.rpc import refused
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"])
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)
categories = stub_fixture("task", task_pb2_grpc.CategoryServiceStub)

R = task_pb2.Recurrence
A = task_pb2.Assignment


async def weekly(chores: task_pb2_grpc.ChoreServiceStub, home: Household, **chore: object) -> task_pb2.Chore:
    return await chores.CreateChore(
        task_pb2.CreateChoreRequest(
            parent=home.name,
            chore=task_pb2.Chore(
                title="Bins",
                recurrence=R(weekly=R.Weekly(every=2, days=["mon", "thu"], time="18:00"), rolling=True),
                assignment=A(strategy=A.FIXED, assignees=[home.owner.name], grace_minutes=15),
                **chore,  # type: ignore[arg-type]
            ),
        ),
        metadata=home.owner.metadata,
    )


async def update(
    chores: task_pb2_grpc.ChoreServiceStub, home: Household, chore: task_pb2.Chore, paths: list[str]
) -> task_pb2.Chore:
    return await chores.UpdateChore(
        task_pb2.UpdateChoreRequest(chore=chore, update_mask=FieldMask(paths=paths)), metadata=home.owner.metadata
    )


async def test_nested_mask_paths_merge_into_the_stored_values(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    chore = await weekly(chores, home)
    # Only the members named change, whatever else the request holds.
    sent = task_pb2.Chore(
        name=chore.name,
        title="ignored",
        assignment=A(grace_minutes=60, strategy=A.ROUND_ROBIN),
        recurrence=R(weekly=R.Weekly(days=["sat"], time="09:00")),
    )
    updated = await update(chores, home, sent, ["assignment.grace_minutes", "recurrence.weekly.days"])
    assert updated.title == "Bins"
    expected_assignment = A()
    expected_assignment.CopyFrom(chore.assignment)
    expected_assignment.grace_minutes = 60
    assert updated.assignment == expected_assignment
    assert updated.recurrence == R(weekly=R.Weekly(every=2, days=["sat"], time="18:00"), rolling=True)
    # A member named and left out of the request: back to its default.
    cleared = await update(
        chores, home, task_pb2.Chore(name=chore.name), ["recurrence.rolling", "recurrence.weekly.time"]
    )
    assert cleared.recurrence == R(weekly=R.Weekly(every=2, days=["sat"]))
    latest = (await household_events(stack, "task", "chore.updated", home.id))[-1]
    assert list(payload(latest, events_pb2.ChoreUpdated).changed) == ["recurrence"]


async def test_a_member_of_another_kind_replaces_the_recurrence(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    chore = await weekly(chores, home)
    sent = task_pb2.Chore(name=chore.name, recurrence=R(interval=R.Interval(every=3, unit=R.Interval.DAYS)))
    updated = await update(chores, home, sent, ["recurrence.interval.every", "recurrence.interval.unit"])
    assert updated.recurrence == R(interval=R.Interval(every=3, unit=R.Interval.DAYS))
    # Naming the members of two kinds at once says nothing clear: refused.
    refusal = await refused(update(chores, home, sent, ["recurrence.weekly.days", "recurrence.interval.every"]))
    assert (refusal.code, set(refusal.violations)) == (grpc.StatusCode.INVALID_ARGUMENT, {"update_mask"})


async def test_unknown_nested_paths_are_refused_naming_them(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    chore = await weekly(chores, home)
    for path in ["assignment.colour", "recurrence.weekly.unit", "recurrence.fortnightly", "title.first"]:
        refusal = await refused(update(chores, home, task_pb2.Chore(name=chore.name), [path]))
        assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, path
        assert path in refusal.violations["update_mask"], (path, refusal.violations)
    again = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)
    assert again.etag == chore.etag


async def test_claim_writes_chore_assigned_once(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, kid="child", member="member")
    chore = await chores.CreateChore(
        task_pb2.CreateChoreRequest(
            parent=home.name,
            chore=task_pb2.Chore(title="Free", recurrence=R(once=R.Once()), assignment=A(strategy=A.UNASSIGNED)),
        ),
        metadata=home.owner.metadata,
    )
    claim = task_pb2.ClaimChoreRequest(name=chore.name)
    claimed = await chores.ClaimChore(claim, metadata=home["kid"].metadata)
    assert claimed.assignee == home["kid"].name
    assert (await chores.ClaimChore(claim, metadata=home["kid"].metadata)).etag == claimed.etag
    refusal = await refused(chores.ClaimChore(claim, metadata=home["member"].metadata))
    assert (refusal.code, refusal.reason) == (grpc.StatusCode.ABORTED, "CONFLICT")
    [event] = await household_events(stack, "task", "chore.assigned", home.id)
    body = payload(event, events_pb2.ChoreAssigned)
    assert (body.chore_id, body.assignee_id) == (chore.name.rsplit("/", 1)[-1], home["kid"].user_id)
    assert event.actor_id == home["kid"].user_id


async def test_category_events_and_the_chores_they_carry(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, categories: task_pb2_grpc.CategoryServiceStub
) -> None:
    home = await household(stack)
    chore = await weekly(chores, home, category="Garden")
    [created] = await household_events(stack, "task", "category.created", home.id)
    made = payload(created, events_pb2.CategoryCreated)
    assert made.name == "Garden"
    name = f"{home.name}/categories/{made.category_id}"
    listed = await categories.ListCategories(
        task_pb2.ListCategoriesRequest(parent=home.name), metadata=home.owner.metadata
    )
    assert [(c.name, c.display_name, c.chore_count) for c in listed.categories] == [(name, "Garden", 1)]
    # An empty mask with nothing set changes nothing; display_name renames.
    same = await categories.UpdateCategory(
        task_pb2.UpdateCategoryRequest(category=task_pb2.Category(name=name)), metadata=home.owner.metadata
    )
    assert same.display_name == "Garden"
    renamed = await categories.UpdateCategory(
        task_pb2.UpdateCategoryRequest(category=task_pb2.Category(name=name, display_name="Yard")),
        metadata=home.owner.metadata,
    )
    assert renamed.display_name == "Yard"
    [updated] = await household_events(stack, "task", "category.updated", home.id)
    assert (
        payload(updated, events_pb2.CategoryUpdated).previous_name,
        payload(updated, events_pb2.CategoryUpdated).chores,
    ) == ("Garden", 1)
    refusal = await refused(
        categories.UpdateCategory(
            task_pb2.UpdateCategoryRequest(
                category=task_pb2.Category(name=name, display_name="x"), update_mask=FieldMask(paths=["chore_count.x"])
            ),
            metadata=home.owner.metadata,
        )
    )
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    await categories.DeleteCategory(task_pb2.DeleteCategoryRequest(name=name), metadata=home.owner.metadata)
    [deleted] = await household_events(stack, "task", "category.deleted", home.id)
    assert payload(deleted, events_pb2.CategoryDeleted).chores == 1
    after = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)
    assert after.category == ""
    assert int(after.etag) == int(chore.etag) + 2


async def test_subtasks_over_grpc(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, kid="child")
    chore = await weekly(chores, home, subtasks=[task_pb2.Subtask(title=" Sweep "), task_pb2.Subtask(title="Mop")])
    assert [(s.title, s.done) for s in chore.subtasks] == [("Sweep", False), ("Mop", False)]
    sweep = f"{chore.name}/subtasks/{chore.subtasks[0].id}"
    ticked = await chores.TickSubtask(task_pb2.TickSubtaskRequest(name=sweep, done=True), metadata=home.owner.metadata)
    assert [s.done for s in ticked.subtasks] == [True, False]
    # A child ticks only the chores assigned to them (this one is the owner's).
    refusal = await refused(
        chores.TickSubtask(task_pb2.TickSubtaskRequest(name=sweep, done=False), metadata=home["kid"].metadata)
    )
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    refusal = await refused(
        chores.TickSubtask(task_pb2.TickSubtaskRequest(name=f"{chore.name}/subtasks/x"), metadata=home.owner.metadata)
    )
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    # An item with an id the chore has keeps it, and its tick.
    sweep_id = chore.subtasks[0].id
    kept = await update(
        chores,
        home,
        task_pb2.Chore(name=chore.name, subtasks=[task_pb2.Subtask(id=sweep_id, title="Sweep well")]),
        ["subtasks"],
    )
    assert [(s.id, s.title, s.done) for s in kept.subtasks] == [(sweep_id, "Sweep well", True)]
    refusal = await refused(
        update(
            chores,
            home,
            task_pb2.Chore(name=chore.name, subtasks=[task_pb2.Subtask(id="nope", title="x")]),
            ["subtasks"],
        )
    )
    assert set(refusal.violations) == {"subtasks[0].id"}
    # The mask names the list: sent empty, it is cleared (AIP-134); an id it had is not one it has any more.
    cleared = await update(chores, home, task_pb2.Chore(name=chore.name), ["subtasks"])
    assert list(cleared.subtasks) == []
    gone = task_pb2.Chore(name=chore.name, subtasks=[task_pb2.Subtask(id=sweep_id, title="Sweep")])
    refusal = await refused(update(chores, home, gone, ["subtasks"]))
    assert refusal.violations == {"subtasks[0].id": "is not a subtask of this chore"}


async def test_a_chore_written_during_a_rename_of_its_category_is_carried_along(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    """A rename locks the category, then renames it on its chores: a chore written with that category meanwhile
    waits for it (categories.ensure holds what it finds) and ends up naming a category that exists."""
    home = await household(stack)
    garden = await weekly(chores, home, category="Garden")
    chore = await weekly(chores, home)
    engine = create_async_engine(stack.databases["task"])
    try:
        async with engine.connect() as renamer:
            transaction = await renamer.begin()
            await renamer.execute(
                sa.text("SELECT id FROM categories WHERE household_id = :h AND lower(name) = 'garden' FOR UPDATE"),
                {"h": uuid.UUID(home.id)},
            )
            writing = asyncio.create_task(
                update(chores, home, task_pb2.Chore(name=chore.name, category="garden"), ["category"])
            )

            async def waits_for_the_category() -> bool:
                async with engine.connect() as probe:
                    waiting = await probe.scalar(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            " AND query ILIKE '%categories%'"
                        )
                    )
                return bool(waiting)

            await eventually(waits_for_the_category)
            await renamer.execute(
                sa.text("UPDATE categories SET name = 'Yard' WHERE household_id = :h AND lower(name) = 'garden'"),
                {"h": uuid.UUID(home.id)},
            )
            await renamer.execute(
                sa.text("UPDATE chores SET category = 'Yard' WHERE household_id = :h AND category = 'Garden'"),
                {"h": uuid.UUID(home.id)},
            )
            await transaction.commit()
        written = await writing
        async with engine.connect() as conn:
            names = set(
                await conn.scalars(
                    sa.text("SELECT name FROM categories WHERE household_id = :h"), {"h": uuid.UUID(home.id)}
                )
            )
    finally:
        await engine.dispose()
    # The renamed one moved on; the chore written meanwhile names a category that exists (made again, as "garden").
    assert (
        await chores.GetChore(task_pb2.GetChoreRequest(name=garden.name), metadata=home.owner.metadata)
    ).category == "Yard"
    assert written.category in names
    assert names == {"Yard", written.category}
