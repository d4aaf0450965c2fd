"""ListChores answers with the page as the service keeps it (serialized, issue 13): what a client gets is still a
valid ListChoresResponse, whether it reads the bytes raw (the gateway) or through the generated stub (grpcurl,
the bench, other services), on the call that fills the cache and on the one that hits it."""

from __future__ import annotations

import grpc
import pytest
from hearth.task.v1 import task_pb2, task_pb2_grpc

from tests.support.fixtures import stack_fixture
from tests.support.people import household
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIST_CHORES = "/hearth.task.v1.ChoreService/ListChores"

stack = stack_fixture(["user", "task"])


async def test_listed_pages_are_valid_responses_raw_and_through_the_stub(stack: Stack) -> None:
    home = await household(stack)
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        chores = task_pb2_grpc.ChoreServiceStub(channel)
        for title in ("Dishes", "Bins"):
            await chores.CreateChore(
                task_pb2.CreateChoreRequest(
                    parent=home.name,
                    chore=task_pb2.Chore(
                        title=title,
                        points=5,
                        recurrence=task_pb2.Recurrence(once=task_pb2.Recurrence.Once()),
                        assignment=task_pb2.Assignment(strategy=task_pb2.Assignment.UNASSIGNED),
                    ),
                ),
                metadata=home.owner.metadata,
            )
        request = task_pb2.ListChoresRequest(parent=home.name, order_by="title")
        raw = channel.unary_unary(
            LIST_CHORES, request_serializer=task_pb2.ListChoresRequest.SerializeToString, response_deserializer=None
        )
        filled: bytes = await raw(request, metadata=home.owner.metadata)
        hit: bytes = await raw(request, metadata=home.owner.metadata)
        parsed = await chores.ListChores(request, metadata=home.owner.metadata)

    assert isinstance(filled, bytes)
    first = task_pb2.ListChoresResponse.FromString(filled)
    assert [c.title for c in first.chores] == ["Bins", "Dishes"]
    assert all(c.name.startswith(f"{home.name}/chores/") for c in first.chores)
    assert hit == filled
    assert parsed == first
