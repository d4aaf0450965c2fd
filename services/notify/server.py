"""Wiring of the notify service: runtime, servicer, outbox relay and the event consumer."""

from __future__ import annotations

import os

from hearth.notify.v1 import notify_pb2_grpc

from kit.db import asyncpg_dsn
from kit.events import EventConsumer
from kit.grpc_server import Server, build_server
from kit.outbox import OutboxRelay
from kit.runtime import create_runtime
from kit.settings import ServiceSettings
from kit.telemetry import Telemetry
from services.notify.consumers import HANDLERS
from services.notify.service import NotificationService
from services.notify.servicer import NotificationServicer

SERVICE = "notify"


async def create_server(settings: ServiceSettings, telemetry: Telemetry) -> Server:
    runtime = create_runtime(settings, telemetry=telemetry)
    try:
        service = NotificationService(runtime.sessions)
        server = build_server(
            service=SERVICE,
            registrations=[
                (
                    notify_pb2_grpc.add_NotificationServiceServicer_to_server,
                    NotificationServicer(service),
                    "hearth.notify.v1.NotificationService",
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
        # Nothing writes notify's outbox yet; the relay is here so the first event (notification.created) just works.
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
            handlers=HANDLERS,
            tracer=telemetry.tracer("hearth.events"),
        )
        runtime.spawn("events", consumer.run())
    return runtime.attach(server)
