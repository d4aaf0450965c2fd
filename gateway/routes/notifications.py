"""/notifications: the caller's in-app inbox."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from hearth.notify.v1 import notify_pb2

from gateway import converters
from gateway.auth import CurrentCaller
from gateway.routes import ClientsDep
from gateway.schemas import PlainText

router = APIRouter(tags=["notifications"])


@router.get("/notifications", summary="The caller's notifications, newest first (?unread=true)")
async def list_notifications(
    caller: CurrentCaller,
    clients: ClientsDep,
    unread: bool = False,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str, Query(max_length=2000), PlainText] = "",
) -> dict[str, Any]:
    response = await clients.notifications.ListNotifications(
        notify_pb2.ListNotificationsRequest(
            parent="users/me", unread_only=unread, page_size=page_size, page_token=page_token
        )
    )
    return {
        "items": [converters.notification(n) for n in response.notifications],
        "next_page_token": response.next_page_token,
    }


@router.post("/notifications/read-all", status_code=204, summary="Mark every notification read")
async def read_all(caller: CurrentCaller, clients: ClientsDep) -> Response:
    await clients.notifications.MarkAllNotificationsRead(notify_pb2.MarkAllNotificationsReadRequest(parent="users/me"))
    return Response(status_code=204)


@router.post("/notifications/{nid}/read", summary="Mark one notification read")
async def read_one(
    nid: Annotated[str, Path(max_length=64), PlainText], caller: CurrentCaller, clients: ClientsDep
) -> dict[str, Any]:
    notification = await clients.notifications.MarkNotificationRead(
        notify_pb2.MarkNotificationReadRequest(name=f"users/{caller.user_id}/notifications/{nid}")
    )
    return converters.notification(notification)
