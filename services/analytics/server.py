"""Wiring of the analytics service: runtime, membership client, servicer, outbox relay and the event consumer."""

from __future__ import annotations

from hearth.analytics.v1 import analytics_pb2_grpc

from kit.grpc_server import Server
from kit.runtime import create_runtime
from kit.settings import ServiceSettings
from kit.telemetry import Telemetry
from services.analytics.config import Settings
from services.analytics.consumers import handlers
from services.analytics.privacy import UserData
from services.analytics.service import AnalyticsService
from services.analytics.servicer import AnalyticsServicer, PrivacyServicer
from services.user.client import membership_client


async def create_server(settings: ServiceSettings, telemetry: Telemetry) -> Server:
    assert isinstance(settings, Settings)  # kit.cli and the tests pass this service's own settings
    runtime = create_runtime(settings, telemetry=telemetry)
    async with runtime.closed_on_error():
        membership = membership_client(runtime, ttl=settings.membership_ttl_seconds)
        servicer = AnalyticsServicer(AnalyticsService(runtime.sessions, membership))
        server = runtime.build_server(
            [
                (
                    analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server,
                    servicer,
                    "hearth.analytics.v1.AnalyticsService",
                ),
                (
                    analytics_pb2_grpc.add_PrivacyServiceServicer_to_server,
                    PrivacyServicer(UserData(runtime.sessions)),
                    "hearth.analytics.v1.PrivacyService",
                ),
            ]
        )
        runtime.publish_outbox()
        runtime.consume(["user", "task"], handlers(membership))
    return runtime.attach(server)
