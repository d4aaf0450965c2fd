"""kit.interceptors.ServerInterceptor and kit.telemetry.ServerSpans through a real server: the layers' order, the
SERVER span of each call (as opentelemetry-instrumentation-grpc made it), sampling from the standard environment
variables, and kit.grpc_server.passing_bytes_through (issue 13)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hearth.task.v1 import task_pb2, task_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from prometheus_client import REGISTRY

from kit import context, errors
from kit.grpc_server import build_server, passing_bytes_through
from kit.interceptors import CORRELATION_HEADER, carried_error
from kit.telemetry import setup_telemetry
from kit.tests.grpc_helpers import CHORES, Chores, SigningKey, bearer, make_verifier
from tests.support.wait import eventually

GET = f"/{CHORES}/GetChore"
LIST = f"/{CHORES}/ListChores"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


def traceparent(sampled: bool) -> tuple[str, str]:
    return ("traceparent", f"00-{TRACE_ID}-{PARENT_SPAN_ID}-{'01' if sampled else '00'}")


@dataclass
class Served:
    stub: task_pb2_grpc.ChoreServiceStub
    channel: grpc.aio.Channel
    servicer: Chores
    spans: InMemorySpanExporter
    key: SigningKey
    provider: trace.TracerProvider

    def finished(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name == name]


@asynccontextmanager
async def served(servicer: Chores, *, service: str = "plumbing-test", add: object = None) -> AsyncIterator[Served]:
    exporter = InMemorySpanExporter()
    telemetry = setup_telemetry(service, exporter=exporter)
    key = SigningKey("k1")
    server = build_server(
        service=service,
        registrations=[(add or task_pb2_grpc.add_ChoreServiceServicer_to_server, servicer, CHORES)],  # type: ignore[list-item]
        telemetry=telemetry,
        verifier=make_verifier(key),
        public_methods=[GET],
        host="127.0.0.1",
        port=0,
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield Served(
                task_pb2_grpc.ChoreServiceStub(channel), channel, servicer, exporter, key, telemetry.tracer_provider
            )
    finally:
        await server.stop(0)


def _count(service: str, method: str, code: str) -> float:
    labels = {"service": service, "method": method, "code": code}
    return REGISTRY.get_sample_value("hearth_grpc_server_requests_total", labels) or 0.0


async def test_each_call_is_one_server_span_continuing_the_callers_trace() -> None:
    seen: list[trace.SpanContext] = []

    async def get(request: task_pb2.GetChoreRequest, ctx: grpc.aio.ServicerContext) -> task_pb2.Chore:
        seen.append(trace.get_current_span().get_span_context())
        return task_pb2.Chore(name=request.name)

    async with served(Chores(GetChore=get)) as rpc:
        for _ in range(2):
            await rpc.stub.GetChore(task_pb2.GetChoreRequest(name="a"), metadata=(traceparent(True),), timeout=5)
        [root_call] = [await rpc.stub.GetChore(task_pb2.GetChoreRequest(name="b"), timeout=5)]
        assert root_call.name == "b"
        spans = rpc.finished(GET)

    assert len(spans) == 3
    continued, again, root = spans
    for span in (continued, again):
        assert span.kind == trace.SpanKind.SERVER
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert span.parent is not None
        assert format(span.parent.span_id, "016x") == PARENT_SPAN_ID
        assert span.parent.is_remote
    assert continued.context.span_id != again.context.span_id
    assert root.parent is None
    assert format(root.context.trace_id, "032x") != TRACE_ID
    # The span is the current one while the servicer runs (its logs, its client calls and its outbox use it).
    assert [s.span_id for s in seen] == [s.context.span_id for s in spans]
    attributes = dict(continued.attributes or {})
    assert attributes["rpc.system"] == "grpc"
    assert attributes["rpc.service"] == CHORES
    assert attributes["rpc.method"] == "GetChore"
    assert attributes["rpc.grpc.status_code"] == 0
    assert attributes["net.peer.ip"] == "127.0.0.1"
    assert attributes["net.peer.name"] == "localhost"
    assert str(attributes["rpc.user_agent"]).startswith("grpc-python")
    assert continued.status.status_code == trace.StatusCode.UNSET
    assert continued.instrumentation_scope is not None
    assert continued.instrumentation_scope.name == "opentelemetry.instrumentation.grpc"


async def test_a_server_fault_marks_its_span_an_error_a_callers_fault_only_its_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(request: object, ctx: grpc.aio.ServicerContext) -> task_pb2.Chore:
        raise RuntimeError("boom")

    async def missing(request: object, ctx: grpc.aio.ServicerContext) -> task_pb2.Chore:
        raise errors.NotFound("no such chore")

    async with served(Chores(GetChore=broken, CreateChore=missing)) as rpc:
        with caplog.at_level(logging.CRITICAL, logger="hearth.grpc"), pytest.raises(grpc.aio.AioRpcError) as failed:
            await rpc.stub.GetChore(task_pb2.GetChoreRequest(name="a"), timeout=5)
        assert failed.value.code() == grpc.StatusCode.INTERNAL
        token = rpc.key.token()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await rpc.stub.CreateChore(task_pb2.CreateChoreRequest(parent="households/h"), metadata=bearer(token))
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
        [internal] = rpc.finished(GET)
        [not_found] = rpc.finished(f"/{CHORES}/CreateChore")

    assert internal.attributes is not None
    assert internal.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INTERNAL.value[0]
    assert internal.status.status_code == trace.StatusCode.ERROR
    assert [e.name for e in internal.events] == ["exception"]
    assert not_found.attributes is not None
    assert not_found.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert not_found.status.status_code == trace.StatusCode.UNSET


async def test_health_checks_are_served_counted_but_not_traced() -> None:
    async with served(Chores()) as rpc:
        before = _count("grpc.health.v1.Health", "Check", "OK")
        health = health_pb2_grpc.HealthStub(rpc.channel)
        answer = await health.Check(health_pb2.HealthCheckRequest(service=CHORES), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        # A streaming method goes through the same layers.
        watch = health.Watch(health_pb2.HealthCheckRequest(service=CHORES), timeout=5)
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
        assert _count("grpc.health.v1.Health", "Check", "OK") == before + 1
        assert rpc.spans.get_finished_spans() == ()


async def test_an_unauthenticated_call_is_counted_traced_and_a_status_with_error_info() -> None:
    async with served(Chores()) as rpc:
        before = _count(CHORES, "ListChores", "UNAUTHENTICATED")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await rpc.stub.ListChores(task_pb2.ListChoresRequest(parent="households/h"), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert isinstance(carried_error(refused.value), errors.Unauthenticated)

        # The server counts and ends the span as the call leaves it, which may be just after the client has its
        # status: wait for that, do not race it.
        async def left() -> bool:
            return _count(CHORES, "ListChores", "UNAUTHENTICATED") == before + 1 and len(rpc.finished(LIST)) == 1

        await eventually(left)
        [span] = rpc.finished(LIST)
        assert span.attributes is not None
        assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]


async def test_the_caller_and_correlation_id_are_the_calls_own_and_do_not_outlive_it() -> None:
    async with served(Chores()) as rpc:
        token = rpc.key.token(sub="user-7")
        calls = [
            rpc.stub.ListChores(
                task_pb2.ListChoresRequest(parent="households/h"),
                metadata=(*bearer(token), (CORRELATION_HEADER, f"corr-{n}")),
                timeout=5,
            )
            for n in range(5)
        ]
        await asyncio.gather(*calls)
        await rpc.stub.GetChore(task_pb2.GetChoreRequest(name="a"), metadata=((CORRELATION_HEADER, "anon"),))
        seen = rpc.servicer.seen

    listed = [s for s in seen if s.method == "ListChores"]
    assert sorted(s.correlation_id for s in listed) == [f"corr-{n}" for n in range(5)]
    assert {s.caller.user_id if s.caller else None for s in listed} == {"user-7"}
    assert all(s.service == "plumbing-test" for s in seen)
    [anonymous] = [s for s in seen if s.method == "GetChore"]
    assert anonymous.caller is None
    assert anonymous.correlation_id == "anon"
    assert context.caller.get() is None
    assert context.correlation_id.get() == ""


@pytest.mark.parametrize("given", ["x" * 129, "spaced out", 'quote"d', "<b>", "a/b?c=d"])
async def test_a_correlation_id_the_gateway_would_refuse_is_replaced(given: str) -> None:
    async with served(Chores()) as rpc:
        await rpc.stub.GetChore(task_pb2.GetChoreRequest(name="a"), metadata=((CORRELATION_HEADER, given),))
        [seen] = rpc.servicer.seen
    assert seen.correlation_id != given
    assert len(seen.correlation_id) == 32
    assert int(seen.correlation_id, 16) >= 0


def test_sampling_is_parent_based_always_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG", raising=False)
    sampler = setup_telemetry("sampling-test").tracer_provider.sampler
    assert isinstance(sampler, ParentBased)
    assert sampler._root is ALWAYS_ON


async def test_a_ratio_sampler_from_the_environment_keeps_or_drops_a_trace_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    async with served(Chores()) as rpc:
        sampler = rpc.provider.sampler  # type: ignore[attr-defined]
        assert isinstance(sampler, ParentBased)
        assert isinstance(sampler._root, TraceIdRatioBased)
        # A new trace: the ratio (0) drops it.
        await rpc.stub.GetChore(task_pb2.GetChoreRequest(name="root"), timeout=5)
        # A trace the caller kept is kept here too, whatever the ratio; one it dropped is dropped.
        await rpc.stub.GetChore(task_pb2.GetChoreRequest(name="kept"), metadata=(traceparent(True),), timeout=5)
        await rpc.stub.GetChore(task_pb2.GetChoreRequest(name="dropped"), metadata=(traceparent(False),), timeout=5)
        spans = rpc.finished(GET)
    assert [format(s.context.trace_id, "032x") for s in spans] == [TRACE_ID]


# --- passing_bytes_through -----------------------------------------------------------------------------------


def _page(*names: str) -> task_pb2.ListChoresResponse:
    return task_pb2.ListChoresResponse(chores=[task_pb2.Chore(name=n) for n in names], next_page_token="next")


async def test_a_method_passing_bytes_through_sends_bytes_as_they_are_and_messages_serialized() -> None:
    answers: list[object] = [_page("a", "b").SerializeToString(), _page("c")]

    async def listing(request: object, ctx: grpc.aio.ServicerContext) -> object:
        return answers.pop(0)

    add = passing_bytes_through(task_pb2_grpc.add_ChoreServiceServicer_to_server, ["ListChores"])
    async with served(Chores(ListChores=listing), add=add) as rpc:
        token = rpc.key.token()
        request = task_pb2.ListChoresRequest(parent="households/h")
        from_bytes = await rpc.stub.ListChores(request, metadata=bearer(token), timeout=5)
        from_message = await rpc.stub.ListChores(request, metadata=bearer(token), timeout=5)
        # The other methods are as generated.
        got = await rpc.stub.GetChore(task_pb2.GetChoreRequest(name="x"), timeout=5)
    assert from_bytes == _page("a", "b")
    assert from_message == _page("c")
    assert got.name == "x"


async def test_passing_bytes_through_an_unknown_method_is_refused() -> None:
    add = passing_bytes_through(task_pb2_grpc.add_ChoreServiceServicer_to_server, ["ListChorez"])
    with pytest.raises(ValueError, match="ListChorez"):
        add(Chores(), grpc.aio.server())
