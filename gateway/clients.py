"""Long-lived gRPC channels to the four services, with deadlines, forwarding and read retries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from hearth.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc
from hearth.task.v1 import task_pb2, task_pb2_grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc

from gateway.config import GatewaySettings
from kit.grpc_client import ExtraMetadata, idempotent_methods, make_channel
from kit.telemetry import Telemetry


@dataclass
class Clients:
    channels: dict[str, grpc.aio.Channel]
    # The *AsyncStub types exist only for the type checker (mypy-protobuf's .pyi): a stub built on a
    # grpc.aio channel returns awaitables.
    auth: user_pb2_grpc.AuthServiceAsyncStub = field(init=False)
    users: user_pb2_grpc.UserServiceAsyncStub = field(init=False)
    households: user_pb2_grpc.HouseholdServiceAsyncStub = field(init=False)
    audit: user_pb2_grpc.AuditServiceAsyncStub = field(init=False)
    mfa: user_pb2_grpc.MfaServiceAsyncStub = field(init=False)
    api_keys: user_pb2_grpc.ApiKeyServiceAsyncStub = field(init=False)
    chores: task_pb2_grpc.ChoreServiceAsyncStub = field(init=False)
    points: task_pb2_grpc.PointsServiceAsyncStub = field(init=False)
    categories: task_pb2_grpc.CategoryServiceAsyncStub = field(init=False)
    calendar_feeds: task_pb2_grpc.CalendarFeedServiceAsyncStub = field(init=False)
    photos: task_pb2_grpc.PhotoServiceAsyncStub = field(init=False)
    notifications: notify_pb2_grpc.NotificationServiceAsyncStub = field(init=False)
    push_subscriptions: notify_pb2_grpc.PushSubscriptionServiceAsyncStub = field(init=False)
    notification_preferences: notify_pb2_grpc.NotificationPreferenceServiceAsyncStub = field(init=False)
    webhooks: notify_pb2_grpc.WebhookServiceAsyncStub = field(init=False)
    live: notify_pb2_grpc.LiveServiceAsyncStub = field(init=False)
    analytics: analytics_pb2_grpc.AnalyticsServiceAsyncStub = field(init=False)
    # ChoreService/ListChores answering its response bytes, not parsed: the list route renders a page it has
    # seen before from those bytes alone (gateway.rendered). Same channel, so the same deadlines and retries.
    chore_pages: Callable[..., Awaitable[bytes]] = field(init=False)

    def __post_init__(self) -> None:
        self.auth = user_pb2_grpc.AuthServiceStub(self.channels["user"])
        self.users = user_pb2_grpc.UserServiceStub(self.channels["user"])
        self.households = user_pb2_grpc.HouseholdServiceStub(self.channels["user"])
        self.audit = user_pb2_grpc.AuditServiceStub(self.channels["user"])
        self.mfa = user_pb2_grpc.MfaServiceStub(self.channels["user"])
        self.api_keys = user_pb2_grpc.ApiKeyServiceStub(self.channels["user"])
        self.chores = task_pb2_grpc.ChoreServiceStub(self.channels["task"])
        self.points = task_pb2_grpc.PointsServiceStub(self.channels["task"])
        self.categories = task_pb2_grpc.CategoryServiceStub(self.channels["task"])
        self.calendar_feeds = task_pb2_grpc.CalendarFeedServiceStub(self.channels["task"])
        self.photos = task_pb2_grpc.PhotoServiceStub(self.channels["task"])
        raw: Any = self.channels["task"].unary_unary(
            "/hearth.task.v1.ChoreService/ListChores",
            request_serializer=task_pb2.ListChoresRequest.SerializeToString,
            response_deserializer=None,
        )
        self.chore_pages = raw
        self.notifications = notify_pb2_grpc.NotificationServiceStub(self.channels["notify"])
        self.push_subscriptions = notify_pb2_grpc.PushSubscriptionServiceStub(self.channels["notify"])
        self.notification_preferences = notify_pb2_grpc.NotificationPreferenceServiceStub(self.channels["notify"])
        self.webhooks = notify_pb2_grpc.WebhookServiceStub(self.channels["notify"])
        self.live = notify_pb2_grpc.LiveServiceStub(self.channels["notify"])
        self.analytics = analytics_pb2_grpc.AnalyticsServiceStub(self.channels["analytics"])

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close(None)


def connect(
    settings: GatewaySettings, telemetry: Telemetry | None, *, user_metadata: ExtraMetadata | None = None
) -> Clients:
    """`user_metadata`: what every call to the user service adds (gateway.identity: the forwarded client)."""
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
            extra_metadata=user_metadata if name == "user" else None,
        )
        for name, module in modules.items()
    }
    return Clients(channels)


ADDRESSES = ("user", "task", "notify", "analytics")
