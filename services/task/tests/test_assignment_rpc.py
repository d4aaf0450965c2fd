"""The assignment strategies through the real task and user servers: chores created with each strategy and
completed, the assignee moving on as services.task.assignment says — with the counts of the last 30 days read
from the database (repository.Tallies), an edit continuing the rotation, and bad assignments refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc

from tests.support.fixtures import stack_fixture, stub_fixture
from tests.support.people import Household, Person, household
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"])
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)
Assignment = task_pb2.Assignment
HOURLY = task_pb2.Recurrence(interval=task_pb2.Recurrence.Interval(every=1, unit=task_pb2.Recurrence.Interval.HOURS))


def new_chore(title: str = "Dishes", **fields: Any) -> task_pb2.Chore:
    """An hourly chore first due ten days ago: each occurrence is completed at its own due time (`complete`),
    so every one of them is open (none is run ahead of the schedule) and all fall in the 30-day window."""
    chore = task_pb2.Chore(title=title, **{"points": 10, "recurrence": HOURLY, **fields})
    chore.next_due_time.FromDatetime(datetime.now(UTC) - timedelta(days=10))
    return chore


def strategy(kind: Any, *people: Person) -> task_pb2.Assignment:
    return Assignment(strategy=kind, assignees=[p.name for p in people])


async def make(
    chores: task_pb2_grpc.ChoreServiceStub, home: Household, assignment: task_pb2.Assignment, **fields: Any
) -> task_pb2.Chore:
    return await chores.CreateChore(
        task_pb2.CreateChoreRequest(parent=home.name, chore=new_chore(assignment=assignment, **fields)),
        metadata=home.owner.metadata,
    )


async def complete(
    chores: task_pb2_grpc.ChoreServiceStub, home: Household, chore: task_pb2.Chore, by: Person | None = None
) -> task_pb2.Chore:
    """The owner records a completion (done by `by`, default the owner) at the open occurrence's due time; the
    chore as it is afterwards."""
    request = task_pb2.CompleteChoreRequest(
        name=chore.name, completed_by=by.name if by else "", complete_time=chore.next_due_time
    )
    return (await chores.CompleteChore(request, metadata=home.owner.metadata)).chore


async def test_round_robin_goes_round_in_list_order_and_an_edit_does_not_restart_it(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, zoe="member", anna="member", ben="member")
    zoe, anna, ben = home["zoe"], home["anna"], home["ben"]
    chore = await make(chores, home, strategy(Assignment.ROUND_ROBIN, zoe, anna, home.owner))
    assert chore.assignee == zoe.name
    seen = []
    for _ in range(4):
        chore = await complete(chores, home, chore, by=zoe)  # whoever does it, the rotation goes on
        seen.append(chore.assignee)
    assert seen == [anna.name, home.owner.name, zoe.name, anna.name]

    # Ben joins at the front: Anna keeps the open occurrence and the rotation goes on after her.
    edited = new_chore(assignment=strategy(Assignment.ROUND_ROBIN, ben, zoe, anna, home.owner))
    edited.name = chore.name
    chore = await chores.UpdateChore(
        task_pb2.UpdateChoreRequest(chore=edited, update_mask=field_mask_pb2.FieldMask(paths=["assignment"])),
        metadata=home.owner.metadata,
    )
    assert chore.assignee == anna.name
    chore = await complete(chores, home, chore)
    assert chore.assignee == home.owner.name
    chore = await complete(chores, home, chore)
    assert chore.assignee == ben.name

    # Ben (who has it) leaves the list: whoever followed him, Zoe — not the first of the new list.
    edited.assignment.CopyFrom(strategy(Assignment.ROUND_ROBIN, anna, home.owner, zoe))
    chore = await chores.UpdateChore(
        task_pb2.UpdateChoreRequest(chore=edited, update_mask=field_mask_pb2.FieldMask(paths=["assignment"])),
        metadata=home.owner.metadata,
    )
    assert chore.assignee == zoe.name


async def test_least_completed_counts_who_did_it(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, a="member", b="member", c="member")
    a, b, c = home["a"], home["b"], home["c"]
    chore = await make(chores, home, strategy(Assignment.LEAST_COMPLETED, a, b, c))
    assert chore.assignee == a.name  # all 0: the first in the list
    chore = await complete(chores, home, chore, by=c)  # c stood in: a has still done none
    assert chore.assignee == a.name
    chore = await complete(chores, home, chore, by=a)  # a 1, b 0, c 1
    assert chore.assignee == b.name
    chore = await complete(chores, home, chore, by=b)  # everyone 1: list order
    assert chore.assignee == a.name


async def test_least_assigned_counts_who_held_it(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, a="member", b="member", c="member")
    a, b, c = home["a"], home["b"], home["c"]
    held = await make(chores, home, strategy(Assignment.LEAST_ASSIGNED, a, b, c))
    done = await make(chores, home, strategy(Assignment.LEAST_COMPLETED, a, b, c), title="Laundry")
    holders = []
    for _ in range(4):  # the owner does it every time: only who held it tells them apart
        held = await complete(chores, home, held)
        done = await complete(chores, home, done)
        holders.append(held.assignee)
        assert done.assignee == a.name  # nobody listed completed anything: it stays with the first
    assert holders == [b.name, c.name, a.name, b.name]


async def test_least_points_counts_the_whole_household(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, a="member", b="member")
    a, b = home["a"], home["b"]
    big = await make(chores, home, Assignment(strategy=Assignment.UNASSIGNED), title="Windows", points=100)
    await complete(chores, home, big, by=a)  # a earns 100 points elsewhere
    chore = await make(chores, home, strategy(Assignment.LEAST_POINTS, a, b), points=10)
    assert chore.assignee == b.name
    for _ in range(3):  # b at 10, 20, 30 points: still fewer than a
        chore = await complete(chores, home, chore, by=b)
        assert chore.assignee == b.name


async def test_random_strategies_pick_among_the_assignees(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, a="member", b="member")
    listed = {home["a"].name, home["b"].name, home.owner.name}
    people = (home["a"], home["b"], home.owner)
    anyone = await make(chores, home, strategy(Assignment.RANDOM, *people))
    other = await make(chores, home, strategy(Assignment.RANDOM_EXCEPT_LAST, *people), title="Bins")
    assert {anyone.assignee, other.assignee} <= listed
    for _ in range(8):
        anyone = await complete(chores, home, anyone)
        assert anyone.assignee in listed
        before = other.assignee
        other = await complete(chores, home, other)
        assert other.assignee in listed
        assert other.assignee != before  # never twice in a row


async def test_bad_assignments_are_refused(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, a="member")
    elsewhere = await household(stack)
    a = home["a"]
    cases: list[tuple[task_pb2.Assignment, str, str]] = [
        (strategy(Assignment.ROUND_ROBIN), "assignment.assignees", "at least one"),
        (strategy(Assignment.LEAST_POINTS), "assignment.assignees", "at least one"),
        (strategy(Assignment.RANDOM, a, a), "assignment.assignees[1]", "twice"),
        (strategy(Assignment.LEAST_COMPLETED, a, elsewhere.owner), "assignment.assignees[1]", "not a member"),
        (
            Assignment(strategy=Assignment.ROUND_ROBIN, assignees=[a.name] * 51),
            "assignment.assignees",
            "at most 50",
        ),
        (
            Assignment(strategy=Assignment.LEAST_POINTS, assignees=[a.name], rotate=Assignment.WEEKLY),
            "assignment.rotate",
            "use round_robin",
        ),
        (
            Assignment(strategy=Assignment.ROUND_ROBIN, assignees=[a.name], miss_penalty_points=1001),
            "assignment.miss_penalty_points",
            "between 0 and 1000",
        ),
    ]
    for assignment, field, message in cases:
        refusal = await refused(make(chores, home, assignment))
        assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, (field, refusal)
        assert message in refusal.violations.get(field, ""), (field, refusal)
    # Rotating on completion is what every strategy does: accepted.
    accepted = await make(
        chores, home, Assignment(strategy=Assignment.ROUND_ROBIN, assignees=[a.name], rotate=Assignment.ON_COMPLETION)
    )
    assert accepted.assignment.rotate == Assignment.ON_COMPLETION
    assert accepted.assignee == a.name
