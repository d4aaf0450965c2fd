"""Wiring of the notify service: runtime, servicers, outbox relay and the event consumer (its jobs run in the
worker: services.notify.delivery, `python -m services.notify worker`)."""

from __future__ import annotations

from email.utils import parseaddr

from hearth.notify.v1 import notify_pb2_grpc

from kit.events import combine
from kit.grpc_server import Server
from kit.runtime import create_runtime
from kit.settings import ServiceSettings
from kit.telemetry import Telemetry
from services.notify import dispatch
from services.notify.config import Settings
from services.notify.consumers import HANDLERS
from services.notify.emails import EmailService
from services.notify.privacy import UserData
from services.notify.push import load_vapid
from services.notify.service import NotificationService, PreferenceService
from services.notify.servicer import (
    EmailServicer,
    NotificationPreferenceServicer,
    NotificationServicer,
    PrivacyServicer,
    PushSubscriptionServicer,
    WebhookServicer,
)
from services.notify.subscriptions import PushSubscriptionService
from services.notify.webhook_delivery import secret_box
from services.notify.webhooks import WebhookService
from services.user.client import membership_client

# The unsubscribe link works without signing in: its signed token is the credential (services.notify.unsubscribe).
PUBLIC_METHODS = ("/hearth.notify.v1.NotificationPreferenceService/UnsubscribeNotificationEmail",)


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
            public_methods=PUBLIC_METHODS,
        )
        runtime.publish_outbox()
        # Membership answers (webhooks' role checks) are dropped when the user service says they changed.
        runtime.consume(["user", "task"], combine(HANDLERS, membership.invalidation_handlers()))
    return runtime.attach(server)
