"""What a hostile or broken gRPC client gets (issue 14, point 11): bytes that are no request message are
INVALID_ARGUMENT with a generic message, and an error with a thousand violations still fits its trailers."""

from __future__ import annotations

import grpc
import pytest
from hearth.task.v1 import task_pb2, task_pb2_grpc

from kit.interceptors import MAX_VIOLATIONS
from tests.support.fixtures import stack_fixture
from tests.support.people import household
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"])

GARBAGE = b"\xff\xff\xff\xff\x0f not a protobuf"


async def test_an_undecodable_request_is_invalid_argument_naming_no_python(stack: Stack) -> None:
    home = await household(stack, time_zone="UTC")
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        raw = channel.unary_unary("/hearth.task.v1.ChoreService/ListChores", request_serializer=None)
        answer = await refused(raw(GARBAGE, metadata=home.owner.metadata))
        assert answer.code == grpc.StatusCode.INVALID_ARGUMENT
        assert answer.message == "the request is not a valid ListChores request message"
        assert answer.reason == "VALIDATION_FAILED"
        # Without a token the caller learns nothing about the request: authentication comes first.
        anonymous = await refused(raw(GARBAGE))
        assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED
        # A valid request on the same channel still works.
        chores = task_pb2_grpc.ChoreServiceStub(channel)
        listed = await chores.ListChores(task_pb2.ListChoresRequest(parent=home.name), metadata=home.owner.metadata)
        assert list(listed.chores) == []


async def test_a_thousand_violations_still_make_one_bounded_error(stack: Stack) -> None:
    home = await household(stack, time_zone="UTC")
    duplicates = [home.owner.name] * 1000
    chore = task_pb2.Chore(
        title="Many hands",
        recurrence=task_pb2.Recurrence(once=task_pb2.Recurrence.Once()),
        assignment=task_pb2.Assignment(strategy=task_pb2.Assignment.FIXED, assignees=duplicates),
    )
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        chores = task_pb2_grpc.ChoreServiceStub(channel)
        answer = await refused(
            chores.CreateChore(task_pb2.CreateChoreRequest(parent=home.name, chore=chore), metadata=home.owner.metadata)
        )
    assert answer.code == grpc.StatusCode.INVALID_ARGUMENT
    assert len(answer.violations) <= MAX_VIOLATIONS + 1
    assert "is listed twice" in answer.violations.values()
    assert any(text.startswith("and ") and text.endswith(" more like these") for text in answer.violations.values())
    assert len(answer.message) <= 500
