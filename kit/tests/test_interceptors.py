"""kit.interceptors: errors → google.rpc.Status, correlation ids, metrics — through a real server and channel."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from hearth.task.v1 import task_pb2, task_pb2_grpc
from prometheus_client import REGISTRY

from kit import context, errors
from kit.errors import ERROR_DOMAIN, FieldViolation, HearthError
from kit.interceptors import CORRELATION_HEADER, USER_AGENT_MAX, carried_error, error_from_rpc, status_details
from kit.tests.grpc_helpers import CHORES, Chores, serving
from kit.text import printable

PUBLIC = [f"/{CHORES}/GetChore", f"/{CHORES}/CreateChore"]


@dataclass
class Client:
    stub: task_pb2_grpc.ChoreServiceStub
    servicer: Chores


def raising(exc: BaseException):  # type: ignore[no-untyped-def]
    async def behaviour(request: object, ctx: grpc.aio.ServicerContext) -> task_pb2.Chore:
        raise exc

    return behaviour


@pytest.fixture
async def chores(request: pytest.FixtureRequest) -> AsyncIterator[Client]:
    servicer: Chores = getattr(request, "param", None) or Chores()
    async with (
        serving(servicer, public_methods=PUBLIC, service="chores-test") as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield Client(task_pb2_grpc.ChoreServiceStub(channel), servicer)


async def failure(client: Client, exc: BaseException) -> grpc.aio.AioRpcError:
    client.servicer.behaviours["GetChore"] = raising(exc)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.GetChore(task_pb2.GetChoreRequest(name="households/h/chores/c"), timeout=5)
    return raised.value


def error_info(exc: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    status = status_details(exc)
    assert status is not None, "no google.rpc.Status in the trailers"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


def bad_request(exc: grpc.aio.AioRpcError) -> error_details_pb2.BadRequest | None:
    status = status_details(exc)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return bad
    return None


@pytest.mark.parametrize(
    ("exc", "code", "reason"),
    [
        (errors.NotFound("chore not found"), grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
        (errors.PermissionDenied("owners only"), grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"),
        (errors.AlreadyExists("taken"), grpc.StatusCode.ALREADY_EXISTS, "CONFLICT"),
        (errors.Conflict("balance would go negative"), grpc.StatusCode.ABORTED, "CONFLICT"),
        (errors.PreconditionFailed("etag mismatch"), grpc.StatusCode.FAILED_PRECONDITION, "PRECONDITION_FAILED"),
        (errors.Gone("invite expired"), grpc.StatusCode.FAILED_PRECONDITION, "GONE"),
        (errors.Unauthenticated("who are you"), grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
        (errors.RateLimited("slow down"), grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED"),
        (errors.Unavailable("try later"), grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE"),
        (errors.Timeout("took too long"), grpc.StatusCode.DEADLINE_EXCEEDED, "TIMEOUT"),
    ],
)
async def test_domain_errors_become_their_status_with_error_info(
    chores: Client, exc: HearthError, code: grpc.StatusCode, reason: str
) -> None:
    failed = await failure(chores, exc)
    assert failed.code() == code
    assert failed.details() == exc.message
    info = error_info(failed)
    assert info is not None
    assert (info.reason, info.domain) == (reason, ERROR_DOMAIN)
    assert bad_request(failed) is None
    # ... and reading the status back gives the same exception (what a calling service re-raises).
    again = error_from_rpc(failed)
    assert type(again) is type(exc)
    assert again.message == exc.message


async def test_invalid_argument_carries_field_violations_and_metadata(chores: Client) -> None:
    exc = errors.InvalidArgument(
        "2 fields are invalid",
        [FieldViolation("chore.title", "must not be empty"), FieldViolation("chore.points", "0..1000")],
        {"limit": "1000"},
    )
    failed = await failure(chores, exc)
    assert failed.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(failed)
    assert info is not None
    assert info.reason == "VALIDATION_FAILED"
    assert dict(info.metadata) == {"limit": "1000"}
    bad = bad_request(failed)
    assert bad is not None
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("chore.title", "must not be empty"),
        ("chore.points", "0..1000"),
    ]
    again = error_from_rpc(failed)
    assert isinstance(again, errors.InvalidArgument)
    assert again.violations == exc.violations
    assert again.metadata == {"limit": "1000"}


async def test_invalid_helper_gives_one_violation(chores: Client) -> None:
    failed = await failure(chores, errors.invalid("page_size", "must not be negative"))
    bad = bad_request(failed)
    assert bad is not None
    assert [(v.field, v.description) for v in bad.field_violations] == [("page_size", "must not be negative")]
    assert failed.details() == "page_size: must not be negative"


async def test_unknown_exception_is_a_generic_internal_error_and_logged(
    chores: Client, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "password=hunter2 at db-7.internal"
    with caplog.at_level(logging.ERROR, logger="hearth.grpc"):
        failed = await failure(chores, RuntimeError(secret))
    assert failed.code() == grpc.StatusCode.INTERNAL
    assert failed.details() == "internal error"
    assert "hunter2" not in str(failed.trailing_metadata())
    assert "hunter2" not in (failed.debug_error_string() or "")
    info = error_info(failed)
    assert info is not None
    assert info.reason == "INTERNAL"
    logged = [r for r in caplog.records if r.name == "hearth.grpc" and r.levelno == logging.ERROR]
    assert len(logged) == 1
    assert f"/{CHORES}/GetChore" in logged[0].getMessage()
    assert logged[0].exc_info is not None
    assert isinstance(logged[0].exc_info[1], RuntimeError)
    assert secret in str(logged[0].exc_info[1])


async def test_a_failed_downstream_call_is_passed_on_with_its_status() -> None:
    """A servicer that lets a downstream AioRpcError escape answers with the downstream error, not INTERNAL."""
    downstream = Chores(
        GetChore=raising(errors.InvalidArgument("bad", [FieldViolation("name", "not a chore name")])),
    )
    async with (
        serving(downstream, public_methods=PUBLIC) as inner,
        grpc.aio.insecure_channel(f"127.0.0.1:{inner.port}") as inner_channel,
    ):
        inner_stub = task_pb2_grpc.ChoreServiceStub(inner_channel)

        async def relay(request: task_pb2.GetChoreRequest, ctx: grpc.aio.ServicerContext) -> task_pb2.Chore:
            return await inner_stub.GetChore(request, timeout=5)

        async with (
            serving(Chores(GetChore=relay), public_methods=PUBLIC) as outer,
            grpc.aio.insecure_channel(f"127.0.0.1:{outer.port}") as channel,
        ):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await task_pb2_grpc.ChoreServiceStub(channel).GetChore(task_pb2.GetChoreRequest(name="x"), timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(raised.value)
    assert info is not None
    assert info.reason == "VALIDATION_FAILED"
    bad = bad_request(raised.value)
    assert bad is not None
    assert [v.field for v in bad.field_violations] == ["name"]


@asynccontextmanager
async def relaying_to(address: str, *, timeout: float = 5) -> AsyncIterator[task_pb2_grpc.ChoreServiceStub]:
    """A stub of a server whose GetChore calls GetChore at `address` and lets a failure escape."""
    async with grpc.aio.insecure_channel(address) as inner_channel:
        inner_stub = task_pb2_grpc.ChoreServiceStub(inner_channel)

        async def relay(request: task_pb2.GetChoreRequest, ctx: grpc.aio.ServicerContext) -> task_pb2.Chore:
            return await inner_stub.GetChore(request, timeout=timeout)

        async with (
            serving(Chores(GetChore=relay), public_methods=PUBLIC) as outer,
            grpc.aio.insecure_channel(f"127.0.0.1:{outer.port}") as channel,
        ):
            yield task_pb2_grpc.ChoreServiceStub(channel)


async def test_an_unreachable_downstream_is_a_generic_unavailable_without_its_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A port that was just served and is now closed: gRPC's own error text names it.
    async with serving(Chores(), public_methods=PUBLIC) as gone:
        port = gone.port
    async with relaying_to(f"127.0.0.1:{port}") as stub:
        with caplog.at_level(logging.WARNING, logger="hearth.grpc"), pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetChore(task_pb2.GetChoreRequest(name="x"), timeout=5)
    failed = raised.value
    assert failed.code() == grpc.StatusCode.UNAVAILABLE
    assert failed.details() == "a backend service is unavailable"
    assert str(port) not in str(failed.trailing_metadata())
    info = error_info(failed)
    assert info is not None
    assert info.reason == "UNAVAILABLE"
    # ... and what the gateway makes of it shows no address either.
    again = error_from_rpc(failed)
    assert isinstance(again, errors.Unavailable)
    assert str(port) not in again.message
    # The raw text is in the log, for operators.
    assert any(str(port) in r.getMessage() for r in caplog.records if r.name == "hearth.grpc")


async def test_a_downstream_deadline_is_a_timeout_not_unavailable() -> None:
    never = asyncio.Event()

    async def hang(request: object, ctx: grpc.aio.ServicerContext) -> task_pb2.Chore:
        await never.wait()
        return task_pb2.Chore()

    async with (
        serving(Chores(GetChore=hang), public_methods=PUBLIC) as inner,
        relaying_to(f"127.0.0.1:{inner.port}", timeout=0.2) as stub,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetChore(task_pb2.GetChoreRequest(name="x"), timeout=5)
    failed = raised.value
    assert failed.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert failed.details() == "a backend service timed out"
    info = error_info(failed)
    assert info is not None
    assert info.reason == "TIMEOUT"
    again = error_from_rpc(failed)
    assert isinstance(again, errors.Timeout)
    assert again.http_status == 504


async def test_error_info_of_another_domain_is_not_taken_for_ours() -> None:
    foreign = error_details_pb2.ErrorInfo(reason="NOT_FOUND", domain="example.com")
    packed = any_pb2.Any()
    packed.Pack(foreign)
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message="db-7.internal:5432 refused", details=[packed])
    grpc_status = rpc_status.to_status(status)
    failed = grpc.aio.AioRpcError(
        grpc_status.code, grpc.aio.Metadata(), grpc.aio.Metadata(*grpc_status.trailing_metadata), details=status.message
    )
    again = error_from_rpc(failed)
    assert isinstance(again, errors.Unavailable)
    assert "db-7" not in again.message


def failed_call(code: grpc.StatusCode, message: str, trailing: tuple[tuple[str, bytes], ...]) -> grpc.aio.AioRpcError:
    """A failed call as a client sees it: its code, message and trailers."""
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), details=message)


def status_trailer(status: status_pb2.Status) -> tuple[tuple[str, bytes], ...]:
    return tuple(rpc_status.to_status(status).trailing_metadata)


async def test_an_error_with_an_empty_message_is_read_back_as_itself(chores: Client) -> None:
    failed = await failure(chores, errors.PermissionDenied(""))
    again = carried_error(failed)
    assert type(again) is errors.PermissionDenied
    assert again.message == ""


def test_a_bare_status_carries_no_error() -> None:
    failed = failed_call(grpc.StatusCode.NOT_FOUND, "no such method", ())
    assert status_details(failed) is None
    assert carried_error(failed) is None
    assert isinstance(error_from_rpc(failed), errors.Internal)


def test_a_status_rewritten_on_the_way_is_not_taken_for_the_services_word(caplog: pytest.LogCaptureFixture) -> None:
    # The trailer says NOT_FOUND with our ErrorInfo; the call itself ended UNAVAILABLE (a proxy answered):
    # rpc_status refuses the mismatch, so nothing of the trailer is believed.
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="NOT_FOUND", domain=ERROR_DOMAIN))
    trailer = status_trailer(status_pb2.Status(code=code_pb2.NOT_FOUND, message="chore not found", details=[info]))
    rewritten = failed_call(grpc.StatusCode.UNAVAILABLE, "upstream connect error", trailer)
    with caplog.at_level(logging.WARNING, logger="hearth.grpc"):
        assert carried_error(rewritten) is None
    assert any("UNAVAILABLE" in r.getMessage() for r in caplog.records if r.name == "hearth.grpc")
    assert isinstance(error_from_rpc(rewritten), errors.Unavailable)
    # The same when only the message differs.
    relabelled = failed_call(grpc.StatusCode.NOT_FOUND, "something else", trailer)
    assert carried_error(relabelled) is None
    # ... while the consistent call is read back.
    assert isinstance(
        carried_error(failed_call(grpc.StatusCode.NOT_FOUND, "chore not found", trailer)), errors.NotFound
    )


def test_undecodable_status_details_are_ignored_not_raised() -> None:
    garbage = failed_call(grpc.StatusCode.DEADLINE_EXCEEDED, "late", (("grpc-status-details-bin", b"\xff\xff\xff"),))
    assert status_details(garbage) is None
    assert carried_error(garbage) is None
    assert isinstance(error_from_rpc(garbage), errors.Timeout)


async def test_correlation_id_from_metadata_is_the_context_correlation_id(chores: Client) -> None:
    await chores.stub.GetChore(
        task_pb2.GetChoreRequest(name="a"), metadata=((CORRELATION_HEADER, "corr-123"),), timeout=5
    )
    seen = chores.servicer.calls("GetChore")[-1]
    assert seen.correlation_id == "corr-123"
    assert seen.service == "chores-test"
    # Scoped to the call: nothing leaks into the test's own context.
    assert context.correlation_id.get() == ""


async def test_correlation_id_is_generated_when_absent_and_differs_per_call(chores: Client) -> None:
    await chores.stub.GetChore(task_pb2.GetChoreRequest(name="a"), timeout=5)
    await chores.stub.GetChore(task_pb2.GetChoreRequest(name="b"), timeout=5)
    first, second = (s.correlation_id for s in chores.servicer.calls("GetChore"))
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert re.fullmatch(r"[0-9a-f]{32}", second)
    assert first != second


def _count(method: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "hearth_grpc_server_requests_total", {"service": CHORES, "method": method, "code": code}
    )
    return value or 0.0


async def test_metrics_count_calls_by_status_code(chores: Client) -> None:
    ok_before, nf_before = _count("CreateChore", "OK"), _count("CreateChore", "NOT_FOUND")
    await chores.stub.CreateChore(task_pb2.CreateChoreRequest(parent="households/h"), timeout=5)
    chores.servicer.behaviours["CreateChore"] = raising(errors.NotFound("no household"))
    with pytest.raises(grpc.aio.AioRpcError):
        await chores.stub.CreateChore(task_pb2.CreateChoreRequest(parent="households/h"), timeout=5)
    assert _count("CreateChore", "OK") == ok_before + 1
    assert _count("CreateChore", "NOT_FOUND") == nf_before + 1


def test_a_reported_client_keeps_only_printable_text() -> None:
    assert printable("curl/8\x00\x1b[31m", 100) == "curl/8[31m"
    assert printable("x" * 600, USER_AGENT_MAX) == "x" * 500
