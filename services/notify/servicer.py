"""gRPC NotificationService, NotificationPreferenceService, PushSubscriptionService, WebhookService, LiveService,
EmailService and PrivacyService: proto ↔ domain only — resource names are parsed here (rules live in service.py,
preferences.py, subscriptions.py, webhooks.py, streams.py, emails.py and privacy.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC

import grpc
from google.protobuf import empty_pb2
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc

from kit.errors import invalid
from kit.ids import parse_id
from kit.names import parse_ids, parse_name
from services.notify.converters import (
    delivery_to_proto,
    notification_to_proto,
    push_subscription_to_proto,
    webhook_to_proto,
)
from services.notify.emails import EmailService, MailRequest
from services.notify.preferences import hhmm
from services.notify.privacy import UserData
from services.notify.service import NotificationService, PreferenceService, PreferenceView
from services.notify.streams import LiveStreams, online_proto
from services.notify.subscriptions import NewSubscription, PushSubscriptionService
from services.notify.webhooks import Created, WebhookService

USER = "users/{user}"
HOUSEHOLD = "households/{household}"
NOTIFICATION = "users/{user}/notifications/{notification}"
PUSH_SUBSCRIPTION = "users/{user}/pushSubscriptions/{push_subscription}"
HOUSEHOLD = "households/{household}"
WEBHOOK = "households/{household}/webhooks/{webhook}"


class NotificationServicer(notify_pb2_grpc.NotificationServiceServicer):
    def __init__(self, service: NotificationService) -> None:
        self._service = service

    async def ListNotifications(
        self,
        request: notify_pb2.ListNotificationsRequest,
        context: grpc.aio.ServicerContext[notify_pb2.ListNotificationsRequest, notify_pb2.ListNotificationsResponse],
    ) -> notify_pb2.ListNotificationsResponse:
        page = await self._service.list_notifications(
            parse_name(request.parent, USER, field="parent")["user"],
            page_size=request.page_size,
            page_token=request.page_token,
            unread_only=request.unread_only,
        )
        return notify_pb2.ListNotificationsResponse(
            notifications=[notification_to_proto(n) for n in page.items],
            next_page_token=page.next_page_token,
        )

    async def MarkNotificationRead(
        self,
        request: notify_pb2.MarkNotificationReadRequest,
        context: grpc.aio.ServicerContext[notify_pb2.MarkNotificationReadRequest, notify_pb2.Notification],
    ) -> notify_pb2.Notification:
        parts = parse_name(request.name, NOTIFICATION)
        notification_id = parse_id(parts["notification"])
        if notification_id is None:
            raise invalid("name", f"notification id {parts['notification']!r} is not a valid id")
        return notification_to_proto(await self._service.mark_read(parts["user"], notification_id))

    async def MarkAllNotificationsRead(
        self,
        request: notify_pb2.MarkAllNotificationsReadRequest,
        context: grpc.aio.ServicerContext[notify_pb2.MarkAllNotificationsReadRequest, empty_pb2.Empty],
    ) -> empty_pb2.Empty:
        await self._service.mark_all_read(parse_name(request.parent, USER, field="parent")["user"])
        return empty_pb2.Empty()


class PushSubscriptionServicer(notify_pb2_grpc.PushSubscriptionServiceServicer):
    def __init__(self, service: PushSubscriptionService) -> None:
        self._service = service

    async def CreatePushSubscription(
        self,
        request: notify_pb2.CreatePushSubscriptionRequest,
        context: grpc.aio.ServicerContext[notify_pb2.CreatePushSubscriptionRequest, notify_pb2.PushSubscription],
    ) -> notify_pb2.PushSubscription:
        given = request.push_subscription
        new = NewSubscription(
            endpoint=given.endpoint,
            p256dh=given.p256dh,
            auth=given.auth,
            expire_time=given.expire_time.ToDatetime(tzinfo=UTC) if given.HasField("expire_time") else None,
        )
        user = parse_name(request.parent, USER, field="parent")["user"]
        return push_subscription_to_proto(await self._service.create(user, new))

    async def ListPushSubscriptions(
        self,
        request: notify_pb2.ListPushSubscriptionsRequest,
        context: grpc.aio.ServicerContext[
            notify_pb2.ListPushSubscriptionsRequest, notify_pb2.ListPushSubscriptionsResponse
        ],
    ) -> notify_pb2.ListPushSubscriptionsResponse:
        subscriptions = await self._service.list(parse_name(request.parent, USER, field="parent")["user"])
        return notify_pb2.ListPushSubscriptionsResponse(
            push_subscriptions=[push_subscription_to_proto(s) for s in subscriptions]
        )

    async def DeletePushSubscription(
        self,
        request: notify_pb2.DeletePushSubscriptionRequest,
        context: grpc.aio.ServicerContext[notify_pb2.DeletePushSubscriptionRequest, empty_pb2.Empty],
    ) -> empty_pb2.Empty:
        if request.name:
            parts = parse_name(request.name, PUSH_SUBSCRIPTION)
            subscription_id = parse_id(parts["push_subscription"])
            if subscription_id is None:
                raise invalid("name", f"push subscription id {parts['push_subscription']!r} is not a valid id")
            await self._service.delete(parts["user"], subscription_id=subscription_id)
        elif request.endpoint:
            user = parse_name(request.parent, USER, field="parent")["user"]
            await self._service.delete(user, endpoint=request.endpoint)
        else:
            raise invalid("name", "give the subscription's name, or its parent and endpoint")
        return empty_pb2.Empty()

    async def GetPushVapidPublicKey(
        self,
        request: notify_pb2.GetPushVapidPublicKeyRequest,
        context: grpc.aio.ServicerContext[notify_pb2.GetPushVapidPublicKeyRequest, notify_pb2.PushVapidPublicKey],
    ) -> notify_pb2.PushVapidPublicKey:
        return notify_pb2.PushVapidPublicKey(public_key=self._service.vapid_public_key())


class LiveServicer(notify_pb2_grpc.LiveServiceServicer):
    def __init__(self, streams: LiveStreams) -> None:
        self._streams = streams

    async def StreamHouseholdEvents(
        self,
        request: notify_pb2.StreamHouseholdEventsRequest,
        context: grpc.aio.ServicerContext[notify_pb2.StreamHouseholdEventsRequest, notify_pb2.LiveMessage],
    ) -> AsyncIterator[notify_pb2.LiveMessage]:
        household_id = parse_ids(request.parent, HOUSEHOLD, field="parent")["household"]
        async for message in self._streams.stream(household_id, after_id=request.after_id, ticket=request.ticket):
            yield message

    async def CreateStreamTicket(
        self,
        request: notify_pb2.CreateStreamTicketRequest,
        context: grpc.aio.ServicerContext[notify_pb2.CreateStreamTicketRequest, notify_pb2.StreamTicket],
    ) -> notify_pb2.StreamTicket:
        household_id = parse_ids(request.parent, HOUSEHOLD, field="parent")["household"]
        ticket, expires_in = await self._streams.create_ticket(household_id)
        return notify_pb2.StreamTicket(ticket=ticket, expires_in=expires_in)

    async def ListPresence(
        self,
        request: notify_pb2.ListPresenceRequest,
        context: grpc.aio.ServicerContext[notify_pb2.ListPresenceRequest, notify_pb2.ListPresenceResponse],
    ) -> notify_pb2.ListPresenceResponse:
        household_id = parse_ids(request.parent, HOUSEHOLD, field="parent")["household"]
        return notify_pb2.ListPresenceResponse(
            members=[online_proto(m) for m in await self._streams.online(household_id)]
        )


class EmailServicer(notify_pb2_grpc.EmailServiceServicer):
    def __init__(self, service: EmailService) -> None:
        self._service = service

    async def SendEmail(
        self,
        request: notify_pb2.SendEmailRequest,
        context: grpc.aio.ServicerContext[notify_pb2.SendEmailRequest, notify_pb2.SendEmailResponse],
    ) -> notify_pb2.SendEmailResponse:
        delivery_id = await self._service.send(
            MailRequest(
                to=request.to,
                template=request.template,
                locale=request.locale,
                values=dict(request.values),
                request_id=request.request_id,
            )
        )
        return notify_pb2.SendEmailResponse(delivery=str(delivery_id))


class PrivacyServicer(notify_pb2_grpc.PrivacyServiceServicer):
    def __init__(self, user_data: UserData) -> None:
        self._user_data = user_data

    async def ExportUserData(
        self,
        request: notify_pb2.ExportUserDataRequest,
        context: grpc.aio.ServicerContext[notify_pb2.ExportUserDataRequest, notify_pb2.UserDataExport],
    ) -> notify_pb2.UserDataExport:
        user = parse_name(request.user, USER, field="user")["user"]
        user_id = parse_id(user)
        if user_id is None:
            raise invalid("user", f"user id {user!r} is not a valid id")
        return notify_pb2.UserDataExport(json=await self._user_data.export(user_id))


PREFERENCES = "users/{user}/notificationPreferences"


def preferences_to_proto(view: PreferenceView) -> notify_pb2.NotificationPreferences:
    chosen = view.preferences
    message = notify_pb2.NotificationPreferences(
        name=f"users/{view.user_id}/notificationPreferences", etag=view.etag, time_zone=view.time_zone
    )
    for kind, channels in chosen.resolved().items():
        message.events[kind].channels.update(channels)
    if chosen.quiet_hours is not None:
        message.quiet_hours.start = hhmm(chosen.quiet_hours.start)
        message.quiet_hours.end = hhmm(chosen.quiet_hours.end)
    if chosen.reminder_lead_minutes is not None:
        message.reminder_lead_minutes = chosen.reminder_lead_minutes
    return message


class NotificationPreferenceServicer(notify_pb2_grpc.NotificationPreferenceServiceServicer):
    def __init__(self, service: PreferenceService) -> None:
        self._service = service

    async def GetNotificationPreferences(
        self,
        request: notify_pb2.GetNotificationPreferencesRequest,
        context: grpc.aio.ServicerContext[
            notify_pb2.GetNotificationPreferencesRequest, notify_pb2.NotificationPreferences
        ],
    ) -> notify_pb2.NotificationPreferences:
        user = parse_name(request.name, PREFERENCES)["user"]
        return preferences_to_proto(await self._service.get(user))

    async def UpdateNotificationPreferences(
        self,
        request: notify_pb2.UpdateNotificationPreferencesRequest,
        context: grpc.aio.ServicerContext[
            notify_pb2.UpdateNotificationPreferencesRequest, notify_pb2.NotificationPreferences
        ],
    ) -> notify_pb2.NotificationPreferences:
        given = request.preferences
        user = parse_name(given.name, PREFERENCES, field="preferences.name")["user"]
        quiet = (given.quiet_hours.start, given.quiet_hours.end) if given.HasField("quiet_hours") else None
        view = await self._service.update(
            user,
            {kind: dict(switches.channels) for kind, switches in given.events.items()},
            quiet,
            given.reminder_lead_minutes if given.HasField("reminder_lead_minutes") else None,
            etag=given.etag,
        )
        return preferences_to_proto(view)

    async def UnsubscribeNotificationEmail(
        self,
        request: notify_pb2.UnsubscribeNotificationEmailRequest,
        context: grpc.aio.ServicerContext[
            notify_pb2.UnsubscribeNotificationEmailRequest, notify_pb2.UnsubscribeNotificationEmailResponse
        ],
    ) -> notify_pb2.UnsubscribeNotificationEmailResponse:
        category = await self._service.unsubscribe(request.token)
        return notify_pb2.UnsubscribeNotificationEmailResponse(category=category)


def _with_secret(created: Created) -> notify_pb2.WebhookWithSecret:
    return notify_pb2.WebhookWithSecret(webhook=webhook_to_proto(created.webhook), secret=created.secret)


class WebhookServicer(notify_pb2_grpc.WebhookServiceServicer):
    def __init__(self, service: WebhookService) -> None:
        self._service = service

    async def CreateWebhook(
        self,
        request: notify_pb2.CreateWebhookRequest,
        context: grpc.aio.ServicerContext[notify_pb2.CreateWebhookRequest, notify_pb2.WebhookWithSecret],
    ) -> notify_pb2.WebhookWithSecret:
        household_id = parse_ids(request.parent, HOUSEHOLD, field="parent")["household"]
        created = await self._service.create(
            household_id,
            url=request.webhook.url,
            events=list(request.webhook.events),
            description=request.webhook.description,
            request_id=request.request_id,
        )
        return _with_secret(created)

    async def ListWebhooks(
        self,
        request: notify_pb2.ListWebhooksRequest,
        context: grpc.aio.ServicerContext[notify_pb2.ListWebhooksRequest, notify_pb2.ListWebhooksResponse],
    ) -> notify_pb2.ListWebhooksResponse:
        household_id = parse_ids(request.parent, HOUSEHOLD, field="parent")["household"]
        page = await self._service.list(household_id, page_size=request.page_size, page_token=request.page_token)
        return notify_pb2.ListWebhooksResponse(
            webhooks=[webhook_to_proto(w) for w in page.items], next_page_token=page.next_page_token
        )

    async def GetWebhook(
        self,
        request: notify_pb2.GetWebhookRequest,
        context: grpc.aio.ServicerContext[notify_pb2.GetWebhookRequest, notify_pb2.Webhook],
    ) -> notify_pb2.Webhook:
        ids = parse_ids(request.name, WEBHOOK)
        return webhook_to_proto(await self._service.get(ids["household"], ids["webhook"]))

    async def DeleteWebhook(
        self,
        request: notify_pb2.DeleteWebhookRequest,
        context: grpc.aio.ServicerContext[notify_pb2.DeleteWebhookRequest, empty_pb2.Empty],
    ) -> empty_pb2.Empty:
        ids = parse_ids(request.name, WEBHOOK)
        await self._service.delete(ids["household"], ids["webhook"])
        return empty_pb2.Empty()

    async def RotateWebhookSecret(
        self,
        request: notify_pb2.RotateWebhookSecretRequest,
        context: grpc.aio.ServicerContext[notify_pb2.RotateWebhookSecretRequest, notify_pb2.WebhookWithSecret],
    ) -> notify_pb2.WebhookWithSecret:
        ids = parse_ids(request.name, WEBHOOK)
        return _with_secret(await self._service.rotate(ids["household"], ids["webhook"]))

    async def TestWebhook(
        self,
        request: notify_pb2.TestWebhookRequest,
        context: grpc.aio.ServicerContext[notify_pb2.TestWebhookRequest, notify_pb2.WebhookDelivery],
    ) -> notify_pb2.WebhookDelivery:
        ids = parse_ids(request.name, WEBHOOK)
        return delivery_to_proto(await self._service.test(ids["household"], ids["webhook"]))

    async def ListWebhookDeliveries(
        self,
        request: notify_pb2.ListWebhookDeliveriesRequest,
        context: grpc.aio.ServicerContext[
            notify_pb2.ListWebhookDeliveriesRequest, notify_pb2.ListWebhookDeliveriesResponse
        ],
    ) -> notify_pb2.ListWebhookDeliveriesResponse:
        ids = parse_ids(request.parent, WEBHOOK, field="parent")
        page = await self._service.deliveries(
            ids["household"], ids["webhook"], page_size=request.page_size, page_token=request.page_token
        )
        return notify_pb2.ListWebhookDeliveriesResponse(
            deliveries=[delivery_to_proto(d) for d in page.items], next_page_token=page.next_page_token
        )
