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
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from hearth.task.v1 import task_pb2, task_pb2_grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit.interceptors import status_details
from tests.support.api import PASSWORD
from tests.support.infra import unique
from tests.support.stack import SERVICES, Stack, running_stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

GRPCURL = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack() -> AsyncIterator[Stack]:
    async with running_stack() as stack:
        yield stack


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def person(stack: Stack, name: str) -> tuple[str, str]:
    """(user id, access token) for a new user, via the user service's own RPCs."""
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        auth = user_pb2_grpc.AuthServiceStub(channel)
        email = f"{unique(name)}@example.com"
        user = await auth.Register(user_pb2.RegisterRequest(email=email, password=PASSWORD, display_name=name))
        tokens = await auth.Login(user_pb2.LoginRequest(email=email, password=PASSWORD))
    return user.name.removeprefix("users/"), tokens.access_token


async def household_with_child(stack: Stack) -> tuple[str, str, str]:
    """(household name, owner token, child token)."""
    _, owner = await person(stack, "owner")
    _, child = await person(stack, "child")
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        households = user_pb2_grpc.HouseholdServiceStub(channel)
        household = await households.CreateHousehold(
            user_pb2.CreateHouseholdRequest(household=user_pb2.Household(display_name="Home", time_zone="UTC")),
            metadata=bearer(owner),
        )
        invite = await households.CreateInvite(
            user_pb2.CreateInviteRequest(parent=household.name, invite=user_pb2.Invite(role=user_pb2.ROLE_CHILD)),
            metadata=bearer(owner),
        )
        await households.AcceptInvite(user_pb2.AcceptInviteRequest(code=invite.code), metadata=bearer(child))
    return household.name, owner, child


def new_chore(title: str = "Dishes") -> task_pb2.Chore:
    return task_pb2.Chore(
        title=title,
        points=5,
        recurrence=task_pb2.Recurrence(once=task_pb2.Recurrence.Once()),
        assignment=task_pb2.Assignment(strategy=task_pb2.Assignment.UNASSIGNED),
    )


async def test_task_enforces_roles_and_membership_itself(stack: Stack) -> None:
    household, owner, child = await household_with_child(stack)
    _, outsider = await person(stack, "outsider")
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        chores = task_pb2_grpc.ChoreServiceStub(channel)
        created = await chores.CreateChore(
            task_pb2.CreateChoreRequest(parent=household, chore=new_chore()), metadata=bearer(owner)
        )
        assert created.name.startswith(f"{household}/chores/")

        cases = [
            (child, grpc.StatusCode.PERMISSION_DENIED, "permission_denied"),
            (outsider, grpc.StatusCode.NOT_FOUND, "not_found"),
        ]
        for token, code, reason in cases:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await chores.CreateChore(
                    task_pb2.CreateChoreRequest(parent=household, chore=new_chore("Sneaky")), metadata=bearer(token)
                )
            assert refused.value.code() == code
            details = status_details(refused.value)
            assert details is not None
            assert reason in str(details).lower()

        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await chores.GetChore(task_pb2.GetChoreRequest(name=created.name), metadata=bearer(outsider))
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND

        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await chores.ListChores(task_pb2.ListChoresRequest(parent=household))
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED

        listed = await chores.ListChores(task_pb2.ListChoresRequest(parent=household), metadata=bearer(child))
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
