"""gRPC NotificationService, LiveService, EmailService and PrivacyService: proto ↔ domain only — resource names are
parsed here (rules live in service.py, streams.py, emails.py and privacy.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import empty_pb2
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc

from kit.errors import invalid
from kit.ids import parse_id
from kit.names import parse_ids, parse_name
from services.notify.converters import notification_to_proto
from services.notify.emails import EmailService, MailRequest
from services.notify.privacy import UserData
from services.notify.service import NotificationService
from services.notify.streams import LiveStreams, online_proto

USER = "users/{user}"
HOUSEHOLD = "households/{household}"
NOTIFICATION = "users/{user}/notifications/{notification}"


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
