"""Long-lived gRPC channels to the four services, with deadlines, forwarding and read retries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
from hearth.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc
from hearth.task.v1 import task_pb2, task_pb2_grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc

from gateway.config import GatewaySettings
from kit.grpc_client import idempotent_methods, make_channel
from kit.telemetry import Telemetry

T = TypeVar("T")


def _stub(factory: Callable[[grpc.aio.Channel], T], channel: grpc.aio.Channel) -> T:
    """`factory(channel)`, typed: the generated stub classes carry no annotations."""
    return factory(channel)


@dataclass
class Clients:
    channels: dict[str, grpc.aio.Channel]
    auth: user_pb2_grpc.AuthServiceStub = field(init=False)
    users: user_pb2_grpc.UserServiceStub = field(init=False)
    households: user_pb2_grpc.HouseholdServiceStub = field(init=False)
    chores: task_pb2_grpc.ChoreServiceStub = field(init=False)
    notifications: notify_pb2_grpc.NotificationServiceStub = field(init=False)
    analytics: analytics_pb2_grpc.AnalyticsServiceStub = field(init=False)

    def __post_init__(self) -> None:
        self.auth = _stub(user_pb2_grpc.AuthServiceStub, self.channels["user"])
        self.users = _stub(user_pb2_grpc.UserServiceStub, self.channels["user"])
        self.households = _stub(user_pb2_grpc.HouseholdServiceStub, self.channels["user"])
        self.chores = _stub(task_pb2_grpc.ChoreServiceStub, self.channels["task"])
        self.notifications = _stub(notify_pb2_grpc.NotificationServiceStub, self.channels["notify"])
        self.analytics = _stub(analytics_pb2_grpc.AnalyticsServiceStub, self.channels["analytics"])

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close(None)


def connect(settings: GatewaySettings, telemetry: Telemetry | None) -> Clients:
    modules = {"user": user_pb2, "task": task_pb2, "notify": notify_pb2, "analytics": analytics_pb2}
    addresses = {
        "user": settings.user_addr,
        "task": settings.task_addr,
        "notify": settings.notify_addr,
        "analytics": settings.analytics_addr,
    }
    channels = {
        name: make_channel(
            addresses[name],
            telemetry=telemetry,
            retry_methods=idempotent_methods(*module.DESCRIPTOR.services_by_name.values()),
            default_timeout=settings.grpc_timeout_seconds,
        )
        for name, module in modules.items()
    }
    return Clients(channels)


ADDRESSES = ("user", "task", "notify", "analytics")
