"""Wiring of the task service: runtime, membership client, servicer, outbox relay and the event consumer."""

from __future__ import annotations

import os

from hearth.task.v1 import task_pb2_grpc

from kit.db import asyncpg_dsn
from kit.events import EventConsumer
from kit.grpc_server import Server, build_server
from kit.membership import MembershipClient
from kit.outbox import OutboxRelay
from kit.runtime import create_runtime
from kit.settings import ServiceSettings
from kit.telemetry import Telemetry
from services.task.consumers import handlers
from services.task.service import ChoreService
from services.task.servicer import ChoreServicer

SERVICE = "task"


async def create_server(settings: ServiceSettings, telemetry: Telemetry) -> Server:
    runtime = create_runtime(settings, telemetry=telemetry)
    try:
        membership = MembershipClient(
            runtime.channels["user"],
            runtime.redis,
            namespace=settings.redis_namespace,
            service=SERVICE,
            ttl=int(getattr(settings, "membership_ttl_seconds", 60)),
        )
        service = ChoreService(runtime.sessions, membership)
        server = build_server(
            service=SERVICE,
            registrations=[
                (
                    task_pb2_grpc.add_ChoreServiceServicer_to_server,
                    ChoreServicer(service),
                    "hearth.task.v1.ChoreService",
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
            streams=[runtime.stream("user")],
            group=SERVICE,
            consumer=f"{SERVICE}-{os.getpid()}-{id(runtime)}",
            handlers=handlers(membership),
            tracer=telemetry.tracer("hearth.events"),
        )
        runtime.spawn("events", consumer.run())
    return runtime.attach(server)
