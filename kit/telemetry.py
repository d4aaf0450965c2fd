"""OpenTelemetry: one TracerProvider per service, with gRPC, SQLAlchemy, Redis and FastAPI instrumented.

Every service builds its own `Telemetry` (its own `service.name` resource) and hands it to
`build_server`, its channels and its engine, instead of relying on globals created at import time;
that is what lets the tests run all four services in one process and still tell their spans apart.
`set_global=True` (what `python -m services.<name>` does) also installs it as the global provider.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, cast

import grpc
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("hearth.telemetry")

# Health checks and reflection are noise in traces.
_UNTRACED = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _traced(info: Any) -> bool:
    method = getattr(info, "method", "") or getattr(info, "full_method", "")
    if isinstance(method, bytes):
        method = method.decode()
    return not str(method).startswith(_UNTRACED)


@dataclass
class Telemetry:
    service: str
    tracer_provider: TracerProvider
    _engine_tracers: list[EngineTracer] = field(default_factory=list)

    def tracer(self, name: str = "hearth") -> trace.Tracer:
        return self.tracer_provider.get_tracer(name)

    def server_interceptor(self) -> grpc.aio.ServerInterceptor[Any, Any]:
        interceptor = aio_server_interceptor(tracer_provider=self.tracer_provider, filter_=_traced)
        return cast("grpc.aio.ServerInterceptor[Any, Any]", interceptor)

    def client_interceptors(self) -> list[grpc.aio.ClientInterceptor]:
        return list(aio_client_interceptors(tracer_provider=self.tracer_provider, filter_=_traced))

    def instrument_engine(self, engine: AsyncEngine) -> None:
        usage = metrics.get_meter("hearth.db").create_up_down_counter("db.client.connections.usage", unit="connections")
        self._engine_tracers.append(EngineTracer(self.tracer("opentelemetry.sqlalchemy"), engine.sync_engine, usage))

    def instrument_fastapi(self, app: Any) -> None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        # No `http send` / `http receive` child span per ASGI message: two spans per request that say nothing the
        # server span does not (its status, its duration), at a cost the issue-13 profile showed on every list.
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.tracer_provider,
            excluded_urls="/health.*,/metrics",
            exclude_spans=["receive", "send"],
        )

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
