"""gRPC NotificationService: proto ↔ domain only (rules live in service.py)."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc

from services.notify.converters import notification_to_proto
from services.notify.service import NotificationService


class NotificationServicer(notify_pb2_grpc.NotificationServiceServicer):
    def __init__(self, service: NotificationService) -> None:
        self._service = service

    async def ListNotifications(
        self,
        request: notify_pb2.ListNotificationsRequest,
        context: grpc.aio.ServicerContext[notify_pb2.ListNotificationsRequest, notify_pb2.ListNotificationsResponse],
    ) -> notify_pb2.ListNotificationsResponse:
        page = await self._service.list_notifications(
            request.parent,
            page_size=request.page_size,
            page_token=request.page_token,
            unread_only=request.unread_only,
        )
        return notify_pb2.ListNotificationsResponse(
            notifications=[notification_to_proto(n) for n in page.notifications],
            next_page_token=page.next_page_token,
        )

    async def MarkNotificationRead(
        self,
        request: notify_pb2.MarkNotificationReadRequest,
        context: grpc.aio.ServicerContext[notify_pb2.MarkNotificationReadRequest, notify_pb2.Notification],
    ) -> notify_pb2.Notification:
        return notification_to_proto(await self._service.mark_read(request.name))

    async def MarkAllNotificationsRead(
        self,
        request: notify_pb2.MarkAllNotificationsReadRequest,
        context: grpc.aio.ServicerContext[notify_pb2.MarkAllNotificationsReadRequest, empty_pb2.Empty],
    ) -> empty_pb2.Empty:
        await self._service.mark_all_read(request.parent)
        return empty_pb2.Empty()
