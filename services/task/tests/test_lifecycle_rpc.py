"""The occurrence lifecycle over gRPC (services.task.service; the table is scheduling.py's docstring): the same
answers a direct call gets as the REST routes (tests/test_lifecycle_rest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from hearth.task.v1 import task_pb2, task_pb2_grpc

from tests.support.fixtures import stack_fixture, stub_fixture
from tests.support.people import Household, household
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

Recurrence = task_pb2.Recurrence
Assignment = task_pb2.Assignment

stack = stack_fixture(["user", "task"])
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def daily(
    chores: task_pb2_grpc.ChoreServiceStub, home: Household, *, due: datetime | None = None, **fields: object
) -> task_pb2.Chore:
    chore = task_pb2.Chore(
        title="Dishes",
        points=10,
        recurrence=Recurrence(interval=Recurrence.Interval(every=1, unit=Recurrence.Interval.DAYS)),
        assignment=fields.pop("assignment", None) or Assignment(strategy=Assignment.UNASSIGNED),
    )
    if due is not None:
        chore.next_due_time.FromDatetime(due)
    return await chores.CreateChore(
        task_pb2.CreateChoreRequest(parent=home.name, chore=chore), metadata=home.owner.metadata
    )


def complete_request(chore: task_pb2.Chore, **fields: str) -> task_pb2.CompleteChoreRequest:
    return task_pb2.CompleteChoreRequest(name=chore.name, **fields)


async def test_a_second_completion_before_the_next_occurrence_opens_is_not_due_yet(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    chore = await daily(chores, home, due=now() + timedelta(hours=2))
    replayed = complete_request(chore, request_id="once")
    first = await chores.CompleteChore(replayed, metadata=home.owner.metadata)
    assert first.completion.on_time
    refusal = await refused(chores.CompleteChore(complete_request(chore), metadata=home.owner.metadata))
    assert (refusal.code, refusal.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NOT_DUE_YET")
    # A retry of the first request is answered as before, not refused: the window is checked after the replay.
    again = await chores.CompleteChore(replayed, metadata=home.owner.metadata)
    assert again.completion == first.completion
    history = await chores.ListCompletions(
        task_pb2.ListCompletionsRequest(parent=chore.name), metadata=home.owner.metadata
    )
    assert [c.name for c in history.completions] == [first.completion.name]
