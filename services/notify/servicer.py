"""gRPC NotificationService, EmailService, PrivacyService and WebhookService: proto ↔ domain only — resource names
are parsed here (rules live in service.py, emails.py, privacy.py and webhooks.py)."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc

from kit.errors import invalid
from kit.ids import parse_id
from kit.names import parse_ids, parse_name
from services.notify.converters import delivery_to_proto, notification_to_proto, webhook_to_proto
from services.notify.emails import EmailService, MailRequest
from services.notify.privacy import UserData
from services.notify.service import NotificationService
from services.notify.webhooks import Created, WebhookService

USER = "users/{user}"
NOTIFICATION = "users/{user}/notifications/{notification}"
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
