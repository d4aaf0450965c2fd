"""/notifications: the caller's in-app inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from hearth.notify.v1 import notify_pb2

from gateway import converters, responses
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.routes import ClientsDep, PageSize, PageToken
from gateway.schemas import PlainText
from gateway.serialize import JSONResponse

router = APIRouter(tags=["notifications"])


@router.get(
    "/notifications",
    summary="The caller's notifications, newest first (?unread=true)",
    responses=doc.documented(
        {200: doc.body(responses.NotificationPage, responses.NOTIFICATION_PAGE, "A page of the caller's inbox")},
        401,
        422,
    ),
)
async def list_notifications(
    caller: CurrentCaller,
    clients: ClientsDep,
    unread: bool = False,
    page_size: PageSize = 50,
    page_token: PageToken = "",
) -> JSONResponse:
    response = await clients.notifications.ListNotifications(
        notify_pb2.ListNotificationsRequest(
            parent="users/me", unread_only=unread, page_size=page_size, page_token=page_token
        )
    )
    return JSONResponse(
        {
            "items": [converters.notification(n) for n in response.notifications],
            "next_page_token": response.next_page_token,
        }
    )


@router.post(
    "/notifications/read-all",
    status_code=204,
    summary="Mark every notification read",
    responses=doc.documented({204: doc.empty("Every notification of the caller is read")}, 401),
)
async def read_all(caller: CurrentCaller, clients: ClientsDep) -> Response:
    await clients.notifications.MarkAllNotificationsRead(notify_pb2.MarkAllNotificationsReadRequest(parent="users/me"))
    return Response(status_code=204)


@router.post(
    "/notifications/{nid}/read",
    summary="Mark one notification read",
    responses=doc.documented(
        {200: doc.body(responses.Notification, responses.NOTIFICATION, "The notification, now read")}, 401, 404, 422
    ),
)
async def read_one(
    nid: Annotated[str, Path(max_length=64), PlainText], caller: CurrentCaller, clients: ClientsDep
) -> JSONResponse:
    notification = await clients.notifications.MarkNotificationRead(
        notify_pb2.MarkNotificationReadRequest(name=f"users/{caller.user_id}/notifications/{nid}")
    )
    return JSONResponse(converters.notification(notification))
