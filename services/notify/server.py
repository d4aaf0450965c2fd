"""Wiring of the notify service: runtime, servicer, outbox relay and the event consumer."""

from __future__ import annotations

from hearth.notify.v1 import notify_pb2_grpc

from kit.grpc_server import Server
from kit.runtime import create_runtime
from kit.settings import ServiceSettings
from kit.telemetry import Telemetry
from services.notify.consumers import HANDLERS
from services.notify.service import NotificationService
from services.notify.servicer import NotificationServicer


async def create_server(settings: ServiceSettings, telemetry: Telemetry) -> Server:
    runtime = create_runtime(settings, telemetry=telemetry)
    async with runtime.closed_on_error():
        servicer = NotificationServicer(NotificationService(runtime.sessions))
        server = runtime.build_server(
            [
                (
                    notify_pb2_grpc.add_NotificationServiceServicer_to_server,
                    servicer,
                    "hearth.notify.v1.NotificationService",
                )
            ]
        )
        runtime.publish_outbox()
        runtime.consume(["user", "task"], HANDLERS)
    return runtime.attach(server)
