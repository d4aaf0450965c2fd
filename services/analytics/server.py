"""Wiring of the analytics service: runtime, membership client, servicer, outbox relay and the event consumer."""

from __future__ import annotations

import os

from hearth.analytics.v1 import analytics_pb2_grpc

from kit.db import asyncpg_dsn
from kit.events import EventConsumer
from kit.grpc_server import Server, build_server
from kit.membership import MembershipClient
from kit.outbox import OutboxRelay
from kit.runtime import create_runtime
from kit.settings import ServiceSettings
from kit.telemetry import Telemetry
from services.analytics.consumers import handlers
from services.analytics.service import AnalyticsService
from services.analytics.servicer import AnalyticsServicer

SERVICE = "analytics"


async def create_server(settings: ServiceSettings, telemetry: Telemetry) -> Server:
    runtime = create_runtime(settings, telemetry=telemetry)
    try:
        membership = MembershipClient(
            runtime.channels["user"], runtime.redis, namespace=settings.redis_namespace, service=SERVICE
        )
        service = AnalyticsService(runtime.sessions, membership)
        server = build_server(
            service=SERVICE,
            registrations=[
                (
                    analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server,
                    AnalyticsServicer(service),
                    "hearth.analytics.v1.AnalyticsService",
                )
            ],
            telemetry=telemetry,
            verifier=runtime.verifier,
            host=settings.grpc_host,
            port=settings.grpc_port,
        )
    except BaseException:
        await runtime.close()
        raise
    if settings.run_relay:
        # Analytics publishes nothing yet; the relay keeps its (empty) outbox drained like every service's.
        relay = OutboxRelay(
            sessions=runtime.sessions,
            redis=runtime.redis,
            stream=runtime.stream(SERVICE),
            dsn=asyncpg_dsn(settings.sqlalchemy_url),
        )
        runtime.spawn("outbox-relay", relay.run())
    if settings.run_consumers:
        consumer = EventConsumer(
            sessions=runtime.sessions,
            redis=runtime.redis,
            streams=[runtime.stream("user"), runtime.stream("task")],
            group=SERVICE,
            consumer=f"{SERVICE}-{os.getpid()}-{id(runtime)}",
            handlers=handlers(membership),
            tracer=telemetry.tracer("hearth.events"),
        )
        runtime.spawn("events", consumer.run())
    return runtime.attach(server)
