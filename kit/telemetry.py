"""OpenTelemetry: one TracerProvider per service, with gRPC, SQLAlchemy, Redis and FastAPI instrumented.

Every service builds its own `Telemetry` (its own `service.name` resource) and hands it to
`build_server`, its channels and its engine, instead of relying on globals created at import time;
that is what lets the tests run all four services in one process and still tell their spans apart.
`set_global=True` (what `python -m services.<name>` does) also installs it as the global provider.

Sampling follows the standard `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (the SDK reads them when no
sampler is given; the default is `parentbased_always_on`). Use a parent-based sampler
(`parentbased_traceidratio`): a service then keeps or drops a span as its caller did, so a trace is kept or
dropped whole, never in pieces.
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import grpc
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.instrumentation.grpc.version import __version__ as _GRPC_INSTRUMENTATION_VERSION
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("hearth.telemetry")

# Health checks and reflection are noise in traces.
_UNTRACED = ("/grpc.health.v1.Health/", "/grpc.reflection.", "/hearth.status.v1.StatusService/")


def _traced_method(method: str) -> bool:
    return not method.startswith(_UNTRACED)


# What opentelemetry-instrumentation-grpc names its tracer, so our server spans carry the same scope.
_GRPC_SCOPE = "opentelemetry.instrumentation.grpc"
_GRPC_SCHEMA = "https://opentelemetry.io/schemas/1.11.0"
# The codes that are the server's fault: a SERVER span with one of them is an error (as the instrumentation's
# `_server_status` decides); INVALID_ARGUMENT, NOT_FOUND and the like are the caller's, the span's status stays unset.
_SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


# A started server span and the token that made it current.
Started = tuple[trace.Span, contextvars.Token[otel_context.Context]]


class ServerSpans:
    """The span of each RPC served, as opentelemetry-instrumentation-grpc's aio server interceptor makes it.

    The same span (name: the full method, kind SERVER, the instrumentation's scope; attributes `rpc.system`,
    `rpc.service`, `rpc.method`, `rpc.grpc.status_code`, `rpc.user_agent`, `net.peer.*`), continuing the
    caller's context (W3C `traceparent`, baggage: the global propagator) and current while the RPC runs — at
    a fraction of the cost (issue 13): no interceptor of its own, no context proxy, no context managers, the
    per-method attributes computed once. It also reads the status the call ended with from the servicer
    context (`code()`, which `abort_with_status` sets too, unlike the instrumentation's context proxy), so an
    error's `rpc.grpc.status_code` is its code and a server fault marks the span ERROR.
    """

    def __init__(self, tracer_provider: trace.TracerProvider) -> None:
        self._tracer = tracer_provider.get_tracer(_GRPC_SCOPE, _GRPC_INSTRUMENTATION_VERSION, schema_url=_GRPC_SCHEMA)

    def for_method(self, method: str) -> MethodSpans | None:
        """How to trace `method` ("/package.Service/Method"); None for health checks and reflection."""
        return MethodSpans(self._tracer, method) if _traced_method(method) else None


def _rpc_attributes(method: str) -> dict[str, Any]:
    """The attributes every span of `method` starts with (server and client alike), as the instrumentation sets
    them. Shared by every span of the method: the SDK copies a span's attributes, it never keeps this dict."""
    service, _, name = method.lstrip("/").partition("/")
    return {
        "rpc.system": "grpc",
        "rpc.grpc.status_code": grpc.StatusCode.OK.value[0],
        "rpc.method": name,
        "rpc.service": service,
    }


class MethodSpans:
    """Starts and ends the spans of one method's calls."""

    __slots__ = ("_attributes", "_name", "_tracer")

    def __init__(self, tracer: trace.Tracer, method: str) -> None:
        self._tracer = tracer
        self._name = method
        self._attributes = _rpc_attributes(method)

    def start(self, ctx: grpc.aio.ServicerContext[Any, Any], metadata: Any) -> Started | None:
        """Start the call's span and make it current; what `end` takes, or None when instrumentation is suppressed."""
        if not is_instrumentation_enabled():
            return None
        carrier = dict(metadata) if metadata else None
        parent = propagate.extract(carrier) if carrier else None
        attributes = dict(self._attributes)
        if carrier is not None and "user-agent" in carrier:
            attributes["rpc.user_agent"] = carrier["user-agent"]
        _peer_attributes(ctx.peer(), attributes)
        span = self._tracer.start_span(self._name, context=parent, kind=trace.SpanKind.SERVER, attributes=attributes)
        return span, otel_context.attach(trace.set_span_in_context(span, parent))

    @staticmethod
    def end(
        started: Started, ctx: grpc.aio.ServicerContext[Any, Any], error: BaseException | None, *, detach: bool = True
    ) -> None:
        """`detach=False`: the call ends in another context than it began (a server stream closed from a task of
        grpc.aio's own), where the span's context was never attached and that context goes with its task."""
        span, token = started
        try:
            code = ctx.code()
            if isinstance(code, grpc.StatusCode) and code is not grpc.StatusCode.OK:
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code in _SERVER_FAULTS:
                    span.set_status(trace.Status(trace.StatusCode.ERROR, f"{code}:{ctx.details()}"))
            # Exceptions, not BaseExceptions (a cancelled call): what the instrumentation records.
            if isinstance(error, Exception):
                span.record_exception(error)
        finally:
            if detach:
                otel_context.detach(token)
            span.end()


class ClientSpans:
    """The span of each call made, as opentelemetry-instrumentation-grpc's aio client interceptors make it.

    The same span (name: the full method, kind CLIENT, the instrumentation's scope; attributes `rpc.system`,
    `rpc.service`, `rpc.method`, `rpc.grpc.status_code`; ERROR with the call's details when it fails) and the
    same W3C trace context (and baggage: the global propagator) injected into the call's metadata, so the
    server continues the trace — without an interceptor (issue 13): grpc.aio runs each call of an intercepted
    channel in a task of its own; kit.grpc_client's channel starts the span where the call is made and ends
    it where the call is awaited, with the per-method attributes computed once.
    """

    def __init__(self, tracer_provider: trace.TracerProvider) -> None:
        self._tracer = tracer_provider.get_tracer(_GRPC_SCOPE, _GRPC_INSTRUMENTATION_VERSION, schema_url=_GRPC_SCHEMA)

    def for_method(self, method: str) -> ClientMethodSpans | None:
        """How to trace calls of `method` ("/package.Service/Method"); None for health checks and reflection."""
        return ClientMethodSpans(self._tracer, method) if _traced_method(method) else None


def _set_pair(carrier: list[tuple[str, str]], key: str, value: str) -> None:
    """The propagator's setter: `key` (lower-cased, as gRPC wants it) set to `value` in a list of metadata pairs."""
    key = key.lower()
    for k, _ in carrier:
        if k == key:
            carrier[:] = [(k, v) for k, v in carrier if k != key]
            break
    carrier.append((key, value))


class _PairSetter:
    set = staticmethod(_set_pair)


_PAIRS = _PairSetter()


class ClientMethodSpans:
    """Starts and ends the spans of one method's calls."""

    __slots__ = ("_attributes", "_name", "_tracer")

    def __init__(self, tracer: trace.Tracer, method: str) -> None:
        self._tracer = tracer
        self._name = method
        self._attributes = _rpc_attributes(method)

    def start(self, metadata: list[tuple[str, str]]) -> trace.Span | None:
        """Start a call's span and inject its context into `metadata`; None when instrumentation is suppressed."""
        if not is_instrumentation_enabled():
            return None
        span = self._tracer.start_span(self._name, kind=trace.SpanKind.CLIENT, attributes=self._attributes)
        propagate.inject(metadata, context=trace.set_span_in_context(span), setter=_PAIRS)  # type: ignore[arg-type]
        return span

    @staticmethod
    def failed(span: trace.Span, code: grpc.StatusCode, details: str | None) -> None:
        """The call ended with `code` (not OK): what the instrumentation's done callback records."""
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        span.set_status(trace.Status(trace.StatusCode.ERROR, details))

    @staticmethod
    def refused(span: trace.Span, error: grpc.aio.AioRpcError) -> None:
        """The call failed before it was sent (kit.grpc_client's passed deadline): as the instrumentation records
        an error raised by the interceptors after it."""
        span.set_attribute("rpc.grpc.status_code", error.code().value[0])
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.record_exception(error)


def _peer_attributes(peer: str, attributes: dict[str, Any]) -> None:
    """`net.peer.ip` / `net.peer.port` (and `net.peer.name` for loopback) of ipv4:1.2.3.4:5 or ipv6:[::1]:5."""
    if peer.startswith("unix:"):
        return
    try:
        ip, port = peer.split(",")[0].split(":", 1)[1].rsplit(":", 1)
    except (IndexError, ValueError):
        log.warning("Failed to parse peer address '%s'", peer)
        return
    ip = unquote(ip)
    attributes["net.peer.ip"] = ip
    attributes["net.peer.port"] = port
    if ip in ("[::1]", "127.0.0.1"):
        attributes["net.peer.name"] = "localhost"


@dataclass
class Telemetry:
    service: str
    tracer_provider: TracerProvider
    _engine_tracers: list[EngineTracer] = field(default_factory=list)

    def tracer(self, name: str = "hearth") -> trace.Tracer:
        return self.tracer_provider.get_tracer(name)

    def server_spans(self) -> ServerSpans:
        """The SERVER span of every RPC this service serves (kit.interceptors starts and ends them)."""
        return ServerSpans(self.tracer_provider)

    def client_spans(self) -> ClientSpans:
        """The CLIENT span of every call this service makes (kit.grpc_client starts and ends them)."""
        return ClientSpans(self.tracer_provider)

    def instrument_engine(self, engine: AsyncEngine) -> None:
        usage = metrics.get_meter("hearth.db").create_up_down_counter("db.client.connections.usage", unit="connections")
        self._engine_tracers.append(EngineTracer(self.tracer("opentelemetry.sqlalchemy"), engine.sync_engine, usage))

    def shutdown(self) -> None:
        self.tracer_provider.force_flush()
        self.tracer_provider.shutdown()


def setup_telemetry(
    service: str,
    *,
    otlp_endpoint: str | None = None,
    exporter: SpanExporter | None = None,
    set_global: bool = False,
) -> Telemetry:
    """`exporter` (tests: an InMemorySpanExporter) is exported to synchronously; OTLP is batched."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"hearth-{service}", "service.namespace": "hearth"})
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
        log.info("exporting traces over OTLP", extra={"endpoint": otlp_endpoint})
    if set_global:
        trace.set_tracer_provider(provider)
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor().instrument(tracer_provider=provider)
    return Telemetry(service, provider)
