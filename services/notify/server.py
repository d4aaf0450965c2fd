"""Wiring of the notify service: runtime, servicers, outbox relay and the event consumer (its jobs run in the
worker: services.notify.delivery, `python -m services.notify worker`)."""

from __future__ import annotations

import asyncio
import logging
import os
from email.utils import parseaddr

from hearth.events.v1 import events_pb2
from hearth.notify.v1 import notify_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncSession

from kit import redis_client
from kit.events import Event, Handlers, combine, required_id
from kit.grpc_server import Server
from kit.runtime import create_runtime
from kit.settings import ServiceSettings
from kit.telemetry import Telemetry
from services.notify import dispatch
from services.notify.config import Settings
from services.notify.consumers import HANDLERS
from services.notify.emails import EmailService
from services.notify.live import LiveConfig, LiveFeeder, LiveHub, LiveLog
from services.notify.privacy import UserData
from services.notify.push import load_vapid
from services.notify.service import NotificationService, PreferenceService
from services.notify.servicer import (
    EmailServicer,
    LiveServicer,
    NotificationPreferenceServicer,
    NotificationServicer,
    PrivacyServicer,
    PushSubscriptionServicer,
    WebhookServicer,
)
from services.notify.streams import LiveStreams
from services.notify.subscriptions import PushSubscriptionService
from services.notify.webhook_delivery import secret_box
from services.notify.webhooks import WebhookService
from services.user.client import membership_client

# The unsubscribe link works without signing in: its signed token is the credential (services.notify.unsubscribe).
PUBLIC_METHODS = ("/hearth.notify.v1.NotificationPreferenceService/UnsubscribeNotificationEmail",)

log = logging.getLogger("hearth.notify")
# How long one XREAD of a household's live log waits for entries (LiveHub) — its Redis client's socket waits longer.
LIVE_BLOCK_MS = 5000
# Redis connections of the live client (each followed household's reader holds one while it waits).
LIVE_MAX_CONNECTIONS = 2048
STREAM_METHOD = "/hearth.notify.v1.LiveService/StreamHouseholdEvents"


async def create_server(settings: ServiceSettings, telemetry: Telemetry) -> Server:
    runtime = create_runtime(settings, telemetry=telemetry)
    async with runtime.closed_on_error():
        servicer = NotificationServicer(NotificationService(runtime.sessions))
        assert isinstance(settings, Settings), "notify's server takes notify's settings"
        # Message-IDs name the sending domain: the From address's.
        from_domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2]
        emails = EmailService(runtime.sessions, message_id_domain=from_domain)
        subscriptions = PushSubscriptionService(
            runtime.sessions,
            vapid=load_vapid(settings),
            max_subscriptions=settings.push_max_subscriptions,
            allow_private=settings.push_allow_private,
        )
        # The consumer's mails (services.notify.dispatch) are signed and addressed with these settings.
        mailer = dispatch.configure(settings)
        preferences = PreferenceService(runtime.sessions, unsubscribe_secret=mailer.secret)
        membership = membership_client(runtime, ttl=settings.membership_ttl_seconds)
        webhooks = WebhookService(
            runtime.sessions,
            membership,
            secret_box(settings),
            allow_private=settings.webhooks_allow_private,
            per_household=settings.webhooks_per_household,
        )
        # Its own client: a blocking XREAD per followed household holds a connection for seconds.
        live_redis = redis_client.connect(
            settings.redis_url,
            socket_timeout=LIVE_BLOCK_MS / 1000 + 5,
            socket_connect_timeout=2,
            # One blocking XREAD per household followed in this process, besides presence and tickets.
            max_connections=LIVE_MAX_CONNECTIONS,
        )
        live_log = LiveLog(
            live_redis,
            LiveConfig(
                namespace=settings.redis_namespace,
                maxlen=settings.live_maxlen,
                retention_seconds=settings.live_retention_seconds,
                heartbeat_seconds=settings.live_heartbeat_seconds,
                ticket_ttl_seconds=settings.live_ticket_ttl_seconds,
                buffer=settings.live_buffer,
                max_connections_per_user=settings.live_max_connections_per_user,
            ),
        )
        hub = LiveHub(live_redis, buffer=settings.live_buffer, block_ms=LIVE_BLOCK_MS)
        streams = LiveStreams(runtime.sessions, live_log, hub, membership, runtime.verifier)
        server = runtime.build_server(
            [
                (
                    notify_pb2_grpc.add_NotificationServiceServicer_to_server,
                    servicer,
                    "hearth.notify.v1.NotificationService",
                ),
                (
                    notify_pb2_grpc.add_PushSubscriptionServiceServicer_to_server,
                    PushSubscriptionServicer(subscriptions),
                    "hearth.notify.v1.PushSubscriptionService",
                ),
                (
                    notify_pb2_grpc.add_NotificationPreferenceServiceServicer_to_server,
                    NotificationPreferenceServicer(preferences),
                    "hearth.notify.v1.NotificationPreferenceService",
                ),
                (
                    notify_pb2_grpc.add_LiveServiceServicer_to_server,
                    LiveServicer(streams),
                    "hearth.notify.v1.LiveService",
                ),
                (
                    notify_pb2_grpc.add_EmailServiceServicer_to_server,
                    EmailServicer(emails),
                    "hearth.notify.v1.EmailService",
                ),
                (
                    notify_pb2_grpc.add_WebhookServiceServicer_to_server,
                    WebhookServicer(webhooks),
                    "hearth.notify.v1.WebhookService",
                ),
                (
                    notify_pb2_grpc.add_PrivacyServiceServicer_to_server,
                    PrivacyServicer(UserData(runtime.sessions)),
                    "hearth.notify.v1.PrivacyService",
                ),
            ],
            # The unsubscribe link comes with its signed token and a browser's stream with a ticket instead of a
            # token (services.notify.unsubscribe, services.notify.streams decide).
            public_methods=[*PUBLIC_METHODS, STREAM_METHOD],
        )
        runtime.publish_outbox()
        # Membership answers (webhooks' role checks, live streams) are dropped when the user service says they changed.
        runtime.consume(["user", "task"], combine(HANDLERS, membership.invalidation_handlers(), _forget(live_log)))
        if settings.run_consumers:
            # The live logs' own reader, its own stream included: notification.created, once its notification
            # committed, reaches the recipient's streams.
            feeder = LiveFeeder(
                live_redis,
                live_log,
                [runtime.stream(domain) for domain in ("user", "task", "notify")],
                consumer=f"notify-live-{os.getpid()}-{id(live_log)}",
            )
            runtime.spawn("live-feeder", feeder.run())
        runtime.spawn("presence-sweep", _sweep(live_log, settings.live_sweep_seconds))

    async def close_live() -> None:
        await hub.close()
        await live_redis.aclose()

    server = runtime.attach(server)
    server.cleanups.append(close_live)
    return server


def _forget(live_log: LiveLog) -> Handlers:
    async def on_household_deleted(session: AsyncSession, event: Event[events_pb2.HouseholdDeleted]) -> None:
        await live_log.forget_household(required_id(event.payload.household_id, event.household_id))

    return {events_pb2.HouseholdDeleted: on_household_deleted}


async def _sweep(live_log: LiveLog, every: float) -> None:
    """Announce offline, every `every` seconds, the members whose live connections expired without closing."""
    while True:
        await asyncio.sleep(every)
        try:
            await live_log.sweep()
        except Exception as exc:  # Redis away: the next round tries again
            log.warning("presence sweep failed: %s", type(exc).__name__)
