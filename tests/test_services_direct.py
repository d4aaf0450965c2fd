"""The services answer operators and other services directly over gRPC, with the same rules as via REST.

Authorization lives in the services: a child, an outsider and an anonymous caller are refused by the
task service itself. And a real `grpcurl` binary lists every service through reflection and gets
`SERVING` from `grpc.health.v1`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import grpc
import pytest
from hearth.task.v1 import task_pb2, task_pb2_grpc

from kit.interceptors import status_details
from tests.support.fixtures import stack_fixture
from tests.support.people import household, register
from tests.support.stack import SERVICES, Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

GRPCURL = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")


stack = stack_fixture()


def new_chore(title: str = "Dishes") -> task_pb2.Chore:
    return task_pb2.Chore(
        title=title,
        points=5,
        recurrence=task_pb2.Recurrence(once=task_pb2.Recurrence.Once()),
        assignment=task_pb2.Assignment(strategy=task_pb2.Assignment.UNASSIGNED),
    )


async def test_task_enforces_roles_and_membership_itself(stack: Stack) -> None:
    home = await household(stack, time_zone="UTC", child="child")
    owner, child = home.owner, home["child"]
    outsider = await register(stack, "Outsider")
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        chores = task_pb2_grpc.ChoreServiceStub(channel)
        created = await chores.CreateChore(
            task_pb2.CreateChoreRequest(parent=home.name, chore=new_chore()), metadata=owner.metadata
        )
        assert created.name.startswith(f"{home.name}/chores/")

        cases = [
            (child, grpc.StatusCode.PERMISSION_DENIED, "permission_denied"),
            (outsider, grpc.StatusCode.NOT_FOUND, "not_found"),
        ]
        for who, code, reason in cases:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await chores.CreateChore(
                    task_pb2.CreateChoreRequest(parent=home.name, chore=new_chore("Sneaky")), metadata=who.metadata
                )
            assert refused.value.code() == code
            details = status_details(refused.value)
            assert details is not None
            assert reason in str(details).lower()

        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await chores.GetChore(task_pb2.GetChoreRequest(name=created.name), metadata=outsider.metadata)
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND

        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await chores.ListChores(task_pb2.ListChoresRequest(parent=home.name))
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED

        listed = await chores.ListChores(task_pb2.ListChoresRequest(parent=home.name), metadata=child.metadata)
        assert [chore.title for chore in listed.chores] == ["Dishes"]


async def grpcurl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        GRPCURL, "-plaintext", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_grpcurl_lists_every_service_and_health_is_serving(stack: Stack) -> None:
    for service in SERVICES:
        listed = set((await grpcurl(stack.addr(service), "list")).split())
        assert "grpc.health.v1.Health" in listed
        assert any(name.startswith(f"hearth.{service}.v1.") for name in listed), listed
        health = json.loads(await grpcurl(stack.addr(service), "grpc.health.v1.Health/Check"))
        assert health == {"status": "SERVING"}
        # The detailed status beside it (kit.status, the same servicer on every service), without a token.
        assert "hearth.status.v1.StatusService" in listed
        status = json.loads(await grpcurl(stack.addr(service), "hearth.status.v1.StatusService/GetServiceStatus"))
        assert (status["service"], status["serving"]) == (service, True)
        assert (status["database"]["state"], status["database"]["detail"]) == ("OK", "SELECT 1")
        assert (status["redis"]["state"], status["redis"]["detail"]) == ("OK", "PONG")
        assert status["outbox"]["known"] is True
        assert int(status["rss_bytes"]) > 10 * 2**20
