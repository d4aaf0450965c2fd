"""kit.grpc_client.make_channel: metadata forwarding, deadlines and retries, against real servers on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from hearth.task.v1 import task_pb2, task_pb2_grpc

from kit import errors
from kit.grpc_client import idempotent_methods, make_channel
from kit.interceptors import CORRELATION_HEADER
from kit.tests.grpc_helpers import CHORES, Chores, SigningKey, make_verifier, serving, serving_request

CHORE_SERVICE = task_pb2.DESCRIPTOR.services_by_name["ChoreService"]
KEY = SigningKey("client-test")
PUBLIC = [f"/{CHORES}/GetChore", f"/{CHORES}/ListChores", f"/{CHORES}/CreateChore"]
# The server's view of a deadline is a little longer than the client's timeout (the grpc-timeout header is
# rounded up to its unit); the values compared below differ by far more than this.
SLACK = 0.1


@asynccontextmanager
async def chores_channel(
    servicer: Chores, *, retries: bool = True, default_timeout: float = 5.0
) -> AsyncIterator[task_pb2_grpc.ChoreServiceStub]:
    """A ChoreService stub over `make_channel` to a real server running `servicer`."""
    async with serving(servicer, verifier=make_verifier(KEY), public_methods=PUBLIC) as server:
        channel = make_channel(
            f"127.0.0.1:{server.port}",
            retry_methods=idempotent_methods(CHORE_SERVICE) if retries else (),
            default_timeout=default_timeout,
        )
        try:
            yield task_pb2_grpc.ChoreServiceStub(channel)
        finally:
            await channel.close()


def get(name: str = "households/h/chores/c") -> task_pb2.GetChoreRequest:
    return task_pb2.GetChoreRequest(name=name)


def test_idempotent_methods_are_the_standard_reads_only() -> None:
    methods = idempotent_methods(CHORE_SERVICE)
    names = {name for _, name in methods}
    assert {"GetChore", "ListChores"} <= names
    assert all(service == CHORES for service, _ in methods)
    assert names == {m.name for m in CHORE_SERVICE.methods if m.name.startswith(("Get", "List"))}
    assert not names & {"CreateChore", "UpdateChore", "DeleteChore"}


# --- metadata forwarding ---------------------------------------------------------------------------------


async def test_correlation_id_and_bearer_token_of_the_request_are_forwarded() -> None:
    servicer = Chores()
    token = KEY.token(sub="user-7")
    async with chores_channel(servicer) as stub:
        with serving_request(correlation_id="corr-42", token=token):
            await stub.GetChore(get())
    seen = servicer.calls("GetChore")[0]
    assert seen.correlation_id == "corr-42"
    assert seen.metadata["authorization"] == f"Bearer {token}"
    assert seen.caller is not None
    assert seen.caller.user_id == "user-7"


async def test_nothing_is_invented_outside_a_request() -> None:
    servicer = Chores()
    async with chores_channel(servicer) as stub:
        await stub.GetChore(get())
    seen = servicer.calls("GetChore")[0]
    assert "authorization" not in seen.metadata
    assert seen.caller is None
    assert seen.correlation_id  # the server made its own


async def test_metadata_given_by_the_caller_is_not_overwritten() -> None:
    servicer = Chores()
    mine, theirs = KEY.token(sub="user-7"), KEY.token(sub="service-account")
    async with chores_channel(servicer) as stub:
        with serving_request(correlation_id="corr-42", token=mine):
            await stub.GetChore(
                get(), metadata=((CORRELATION_HEADER, "explicit"), ("authorization", f"Bearer {theirs}"))
            )
    seen = servicer.calls("GetChore")[0]
    assert seen.correlation_id == "explicit"
    assert seen.metadata["authorization"] == f"Bearer {theirs}"


# --- deadlines -------------------------------------------------------------------------------------------


async def test_default_timeout_applies_when_nothing_else_is_set() -> None:
    servicer = Chores()
    async with chores_channel(servicer, default_timeout=3.0) as stub:
        await stub.GetChore(get())
    remaining = servicer.calls("GetChore")[0].time_remaining
    assert remaining is not None
    assert 1.0 < remaining <= 3.0 + SLACK


async def test_a_shorter_incoming_deadline_wins_over_the_default() -> None:
    servicer = Chores()
    async with chores_channel(servicer, default_timeout=30.0) as stub:
        with serving_request(remaining=2.0):
            await stub.GetChore(get())
    remaining = servicer.calls("GetChore")[0].time_remaining
    assert remaining is not None
    assert 0.0 < remaining <= 2.0 + SLACK


async def test_a_shorter_default_wins_over_a_longer_incoming_deadline() -> None:
    servicer = Chores()
    async with chores_channel(servicer, default_timeout=2.0) as stub:
        with serving_request(remaining=60.0):
            await stub.GetChore(get())
    remaining = servicer.calls("GetChore")[0].time_remaining
    assert remaining is not None
    assert 0.0 < remaining <= 2.0 + SLACK


@pytest.mark.parametrize("retries", [True, False])
async def test_an_incoming_deadline_already_past_fails_fast_without_calling(retries: bool) -> None:
    servicer = Chores()
    async with chores_channel(servicer, retries=retries) as stub:
        with serving_request(remaining=-0.5):
            with pytest.raises(grpc.aio.AioRpcError) as read:
                await stub.GetChore(get())
            with pytest.raises(grpc.aio.AioRpcError) as write:
                await stub.CreateChore(task_pb2.CreateChoreRequest(parent="households/h"))
    assert read.value.code() == write.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert servicer.seen == []  # neither call was sent: the work would be for nobody


async def test_a_call_made_while_serving_inherits_deadline_correlation_and_caller() -> None:
    """End to end: client → outer server (kit interceptors) → make_channel → inner server."""
    inner = Chores()
    token = KEY.token(sub="user-7")
    async with chores_channel(inner, default_timeout=30.0) as inner_stub:

        async def relay(request: task_pb2.GetChoreRequest, ctx: Any) -> task_pb2.Chore:
            return await inner_stub.GetChore(request)

        outer = Chores(GetChore=relay)
        async with (
            serving(outer, verifier=make_verifier(KEY)) as server,
            grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
        ):
            await task_pb2_grpc.ChoreServiceStub(channel).GetChore(
                get(), timeout=2.0, metadata=((CORRELATION_HEADER, "corr-e2e"), ("authorization", f"Bearer {token}"))
            )
    seen = inner.calls("GetChore")[0]
    assert seen.correlation_id == "corr-e2e"
    assert seen.metadata["authorization"] == f"Bearer {token}"
    assert seen.time_remaining is not None
    assert 0.0 < seen.time_remaining <= 2.0 + SLACK  # not the 30 s default


# --- retries ---------------------------------------------------------------------------------------------


def failing(servicer: Chores, method: str, exc: Exception, times: int) -> None:
    """Make `method` raise `exc` on its first `times` attempts (every attempt reaches the servicer)."""

    async def behaviour(request: Any, ctx: Any) -> Any:
        if len(servicer.calls(method)) <= times:
            raise exc
        return task_pb2.Chore(name="households/h/chores/c") if method != "ListChores" else task_pb2.ListChoresResponse()

    servicer.behaviours[method] = behaviour


@pytest.mark.parametrize(
    ("method", "request_"),
    [("GetChore", get()), ("ListChores", task_pb2.ListChoresRequest(parent="households/h"))],
)
async def test_reads_are_retried_on_unavailable(method: str, request_: Any) -> None:
    servicer = Chores()
    failing(servicer, method, errors.Unavailable("warming up"), times=2)
    async with chores_channel(servicer) as stub:
        await getattr(stub, method)(request_)
    assert len(servicer.calls(method)) == 3


async def test_retries_stop_after_four_attempts() -> None:
    servicer = Chores()
    failing(servicer, "GetChore", errors.Unavailable("down"), times=100)
    async with chores_channel(servicer) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetChore(get())
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(servicer.calls("GetChore")) == 4


async def test_a_non_idempotent_method_is_not_retried() -> None:
    servicer = Chores()
    failing(servicer, "CreateChore", errors.Unavailable("warming up"), times=2)
    async with chores_channel(servicer) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.CreateChore(task_pb2.CreateChoreRequest(parent="households/h"))
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(servicer.calls("CreateChore")) == 1


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (RuntimeError("bug"), grpc.StatusCode.INTERNAL),
        (errors.NotFound("no chore"), grpc.StatusCode.NOT_FOUND),
        (errors.Conflict("changed meanwhile"), grpc.StatusCode.ABORTED),
    ],
)
async def test_other_codes_are_not_retried(exc: Exception, code: grpc.StatusCode) -> None:
    servicer = Chores()
    failing(servicer, "GetChore", exc, times=2)
    async with chores_channel(servicer) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetChore(get())
    assert raised.value.code() == code
    assert len(servicer.calls("GetChore")) == 1


async def test_no_retries_without_retry_methods() -> None:
    servicer = Chores()
    failing(servicer, "GetChore", errors.Unavailable("warming up"), times=2)
    async with chores_channel(servicer, retries=False) as stub:
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetChore(get())
    assert len(servicer.calls("GetChore")) == 1
