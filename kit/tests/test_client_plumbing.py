"""kit.grpc_client.make_channel with telemetry, against real servers on port 0: the CLIENT span of each call (as
opentelemetry-instrumentation-grpc's aio client interceptors made it), the trace the server continues, and the
request's plumbing (correlation id, token, deadline) carried alongside — with no client interceptor (issue 13)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hearth.task.v1 import task_pb2, task_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kit import errors
from kit.grpc_client import idempotent_methods, make_channel
from kit.grpc_server import build_server
from kit.interceptors import CORRELATION_HEADER
from kit.telemetry import setup_telemetry
from kit.tests.grpc_helpers import CHORES, Chores, SigningKey, make_verifier, serving_request

CHORE_SERVICE = task_pb2.DESCRIPTOR.services_by_name["ChoreService"]
GET = f"/{CHORES}/GetChore"
CREATE = f"/{CHORES}/CreateChore"
STREAM = "/hearth.test.v1.Echo/Repeat"
KEY = SigningKey("client-plumbing")
SLACK = 0.1


@dataclass
class Rig:
    """A traced client channel (`make_channel`) to a traced server, each exporting to its own memory."""

    channel: grpc.aio.Channel
    stub: task_pb2_grpc.ChoreServiceStub
    servicer: Chores
    client_spans: InMemorySpanExporter
    server_spans: InMemorySpanExporter
    client_tracer: trace.Tracer

    def client(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.client_spans.get_finished_spans() if s.name == name]

    def server(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.server_spans.get_finished_spans() if s.name == name]


def _add_echo(servicer: Any, server: grpc.aio.Server) -> None:
    """A unary-stream method (Hearth's own have none): `Repeat` answers its request `request[0]` times, then fails
    with DATA_LOSS if the request's second byte is 1."""

    async def repeat(request: bytes, ctx: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[bytes]:
        for _ in range(request[0]):
            yield request
        if request[1]:
            await ctx.abort(grpc.StatusCode.DATA_LOSS, "ran out")

    handler = grpc.unary_stream_rpc_method_handler(repeat)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("hearth.test.v1.Echo", {"Repeat": handler}),))


@asynccontextmanager
async def rig(
    servicer: Chores | None = None, *, retries: bool = True, default_timeout: float = 5.0
) -> AsyncIterator[Rig]:
    servicer = servicer or Chores()
    server_spans, client_spans = InMemorySpanExporter(), InMemorySpanExporter()
    server = build_server(
        service="plumbing-server",
        registrations=[
            (task_pb2_grpc.add_ChoreServiceServicer_to_server, servicer, CHORES),  # type: ignore[list-item]
            (_add_echo, None, "hearth.test.v1.Echo"),  # type: ignore[list-item]
        ],
        telemetry=setup_telemetry("plumbing-server", exporter=server_spans),
        verifier=make_verifier(KEY),
        public_methods=[GET, CREATE, STREAM],
        host="127.0.0.1",
        port=0,
    )
    await server.start()
    telemetry = setup_telemetry("plumbing-client", exporter=client_spans)
    channel = make_channel(
        f"127.0.0.1:{server.port}",
        telemetry=telemetry,
        retry_methods=idempotent_methods(CHORE_SERVICE) if retries else (),
        default_timeout=default_timeout,
    )
    try:
        yield Rig(
            channel,
            task_pb2_grpc.ChoreServiceStub(channel),
            servicer,
            client_spans,
            server_spans,
            telemetry.tracer("test"),
        )
    finally:
        await channel.close()
        await server.stop(0)


def get(name: str = "households/h/chores/c") -> task_pb2.GetChoreRequest:
    return task_pb2.GetChoreRequest(name=name)


def _attributes(span: ReadableSpan) -> dict[str, Any]:
    assert span.attributes is not None
    return dict(span.attributes)


# --- the CLIENT span ---------------------------------------------------------------------------------------


async def test_a_call_has_a_client_span_named_after_its_method() -> None:
    async with rig() as r:
        answer = await r.stub.GetChore(get())
        assert answer.name == "households/h/chores/c"
        [span] = r.client(GET)
    assert span.kind == trace.SpanKind.CLIENT
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "opentelemetry.instrumentation.grpc"
    assert _attributes(span) == {
        "rpc.system": "grpc",
        "rpc.service": CHORES,
        "rpc.method": "GetChore",
        "rpc.grpc.status_code": grpc.StatusCode.OK.value[0],
    }
    assert span.status.status_code == trace.StatusCode.UNSET
    assert span.parent is None
    assert span.resource.attributes["service.name"] == "hearth-plumbing-client"


async def test_the_server_continues_the_trace_of_the_call() -> None:
    async with rig() as r:
        with r.client_tracer.start_as_current_span("handling a request") as outer:
            await r.stub.GetChore(get())
        [client] = r.client(GET)
        [server] = r.server(GET)
    assert client.parent is not None
    assert client.parent.span_id == outer.get_span_context().span_id
    assert client.context is not None
    assert server.context is not None
    assert server.context.trace_id == client.context.trace_id == outer.get_span_context().trace_id
    assert server.parent is not None
    assert server.parent.span_id == client.context.span_id
    assert server.kind == trace.SpanKind.SERVER


async def test_a_failed_call_is_an_error_span_with_its_code_and_the_error_reaches_the_caller() -> None:
    async def missing(request: Any, ctx: Any) -> Any:
        raise errors.NotFound("no such chore")

    async with rig(Chores(GetChore=missing)) as r:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await r.stub.GetChore(get())
        [span] = r.client(GET)
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    assert _attributes(span)["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert span.status.status_code == trace.StatusCode.ERROR
    assert span.status.description == "no such chore"


async def test_the_call_object_is_grpcs_own_call() -> None:
    async with rig() as r:
        call = r.stub.GetChore(get())
        answer = await call
        assert answer.name == "households/h/chores/c"
        assert await call.code() == grpc.StatusCode.OK
        assert call.done()
        assert isinstance(await call.trailing_metadata(), grpc.aio.Metadata)
        assert await call == answer  # awaited again: the same answer, still one span
        assert len(r.client(GET)) == 1


async def test_a_retried_read_is_one_span_and_succeeds() -> None:
    servicer = Chores()

    async def flaky(request: Any, ctx: Any) -> Any:
        if len(servicer.calls("GetChore")) <= 2:
            raise errors.Unavailable("try again")
        return task_pb2.Chore(name=request.name)

    servicer.behaviours["GetChore"] = flaky
    async with rig(servicer) as r:
        answer = await r.stub.GetChore(get())
        [span] = r.client(GET)
    assert answer.name == "households/h/chores/c"
    assert len(servicer.calls("GetChore")) == 3
    assert span.status.status_code == trace.StatusCode.UNSET
    assert _attributes(span)["rpc.grpc.status_code"] == grpc.StatusCode.OK.value[0]


async def test_health_checks_are_untraced_and_still_answered() -> None:
    async with rig() as r:
        health = health_pb2_grpc.HealthStub(r.channel)
        answer = await health.Check(health_pb2.HealthCheckRequest(service=CHORES))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        watch = health.Watch(health_pb2.HealthCheckRequest(service=CHORES))
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
        assert r.client_spans.get_finished_spans() == ()
        assert r.server_spans.get_finished_spans() == ()


async def test_a_streamed_call_has_a_span_ended_with_its_stream() -> None:
    async with rig() as r:
        repeat = r.channel.unary_stream(STREAM)
        assert [item async for item in repeat(bytes([3, 0]))] == [bytes([3, 0])] * 3
        [ok] = r.client(STREAM)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            async for _ in repeat(bytes([1, 1])):
                pass
        [_, broken] = r.client(STREAM)
        [served, _] = r.server(STREAM)
    assert ok.kind == trace.SpanKind.CLIENT
    assert _attributes(ok)["rpc.method"] == "Repeat"
    assert ok.status.status_code == trace.StatusCode.UNSET
    assert ok.context is not None
    assert served.parent is not None
    assert served.parent.span_id == ok.context.span_id
    assert failed.value.code() == grpc.StatusCode.DATA_LOSS
    assert _attributes(broken)["rpc.grpc.status_code"] == grpc.StatusCode.DATA_LOSS.value[0]
    assert broken.status.status_code == trace.StatusCode.ERROR


async def test_a_stream_read_with_read_ends_its_span_at_the_end() -> None:
    async with rig() as r:
        call = r.channel.unary_stream(STREAM)(bytes([1, 0]))
        assert await call.read() == bytes([1, 0])
        assert r.client(STREAM) == []  # still open
        assert await call.read() is grpc.aio.EOF  # type: ignore[attr-defined]
        [span] = r.client(STREAM)
    assert span.status.status_code == trace.StatusCode.UNSET


# --- the request's plumbing, alongside ---------------------------------------------------------------------


async def test_correlation_id_token_and_trace_context_go_together() -> None:
    token = KEY.token(sub="user-7")
    async with rig() as r:
        with serving_request(correlation_id="corr-99", token=token):
            await r.stub.GetChore(get())
        [span] = r.client(GET)
    seen = r.servicer.calls("GetChore")[0]
    assert seen.correlation_id == "corr-99"
    assert seen.metadata["authorization"] == f"Bearer {token}"
    assert seen.caller is not None
    assert seen.caller.user_id == "user-7"
    assert span.context is not None
    ids = span.context
    assert seen.metadata["traceparent"] == f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{int(ids.trace_flags):02x}"


async def test_the_callers_own_metadata_wins_and_is_sent() -> None:
    mine, theirs = KEY.token(sub="user-7"), KEY.token(sub="user-8")
    async with rig() as r:
        with serving_request(correlation_id="corr-99", token=mine):
            await r.stub.GetChore(
                get(),
                metadata=grpc.aio.Metadata(
                    (CORRELATION_HEADER, "explicit"), ("authorization", f"Bearer {theirs}"), ("x-extra", "1")
                ),
            )
    seen = r.servicer.calls("GetChore")[0]
    assert seen.correlation_id == "explicit"
    assert seen.metadata["authorization"] == f"Bearer {theirs}"
    assert seen.metadata["x-extra"] == "1"


async def test_a_call_inherits_the_incoming_deadline() -> None:
    async with rig(default_timeout=30.0) as r:
        with serving_request(remaining=2.0):
            await r.stub.GetChore(get())
        await r.stub.GetChore(get(), timeout=1.0)
    inherited, explicit = (s.time_remaining for s in r.servicer.calls("GetChore"))
    assert inherited is not None
    assert 0.0 < inherited <= 2.0 + SLACK
    assert explicit is not None
    assert 0.0 < explicit <= 1.0 + SLACK


@pytest.mark.parametrize("retries", [True, False])
async def test_a_passed_deadline_fails_on_await_without_sending_and_its_span_says_so(retries: bool) -> None:
    async with rig(retries=retries) as r:
        with serving_request(remaining=-0.5):
            call = r.stub.GetChore(get())
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await call
        [span] = r.client(GET)
    assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert r.servicer.seen == []
    assert _attributes(span)["rpc.grpc.status_code"] == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    assert span.status.status_code == trace.StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


async def test_a_channel_without_telemetry_forwards_and_makes_no_span() -> None:
    servicer = Chores()
    token = KEY.token(sub="user-7")
    server_spans = InMemorySpanExporter()
    server = build_server(
        service="plain-server",
        registrations=[(task_pb2_grpc.add_ChoreServiceServicer_to_server, servicer, CHORES)],  # type: ignore[list-item]
        telemetry=setup_telemetry("plain-server", exporter=server_spans),
        verifier=make_verifier(KEY),
        public_methods=[GET],
        host="127.0.0.1",
        port=0,
    )
    await server.start()
    try:
        async with make_channel(f"127.0.0.1:{server.port}") as channel:
            with serving_request(correlation_id="corr-1", token=token):
                await task_pb2_grpc.ChoreServiceStub(channel).GetChore(get())
    finally:
        await server.stop(0)
    seen = servicer.calls("GetChore")[-1]
    assert seen.correlation_id == "corr-1"
    assert seen.metadata["authorization"] == f"Bearer {token}"
    assert "traceparent" not in seen.metadata
    [served] = server_spans.get_finished_spans()
    assert served.parent is None
