"""/notifications: the caller's in-app inbox; /users/me/notification-preferences and the mails' unsubscribe link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from hearth.notify.v1 import notify_pb2

from gateway import converters, responses, schemas
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.etags import IfMatch, IfNoneMatch, if_match_etag, none_match, not_modified, tagged
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


PREFERENCES = doc.body(
    responses.NotificationPreferences,
    responses.NOTIFICATION_PREFERENCES,
    "The caller's notification preferences, every event type and channel resolved (defaults filled in)",
    etag=True,
)
UNSUBSCRIBED = doc.body(responses.Unsubscribed, responses.UNSUBSCRIBED, "That email category is off now")
MY_PREFERENCES = "users/me/notificationPreferences"
UnsubscribeToken = Annotated[str, Query(min_length=1, max_length=512), PlainText]


@router.get(
    "/users/me/notification-preferences",
    summary="The caller's notification preferences (ETag; If-None-Match → 304)",
    description="Per event type and channel (`in_app`, `email`, `push`; `weekly_summary` is email only), "
    "`quiet_hours` and `reminder_lead_minutes`. Webhooks are per household (POST /households/{hid}/webhooks), "
    "not a per-user switch.",
    responses=doc.documented({200: PREFERENCES, 304: doc.NOT_MODIFIED}, 401, 403, 422),
)
async def get_preferences(caller: CurrentCaller, clients: ClientsDep, if_none_match: IfNoneMatch = None) -> Response:
    found = await clients.notification_preferences.GetNotificationPreferences(
        notify_pb2.GetNotificationPreferencesRequest(name=MY_PREFERENCES)
    )
    if none_match(if_none_match, found.etag):
        return not_modified(found.etag)
    return tagged(converters.notification_preferences(found), found.etag)


@router.put(
    "/users/me/notification-preferences",
    summary="Replace the caller's notification preferences (If-Match → 412 when stale)",
    description="The whole document: an event type or channel left out takes its default. An unknown event type "
    "or channel is 422 naming it (`webhook` too: webhooks are per household); times are `HH:MM` (start ≠ end; end "
    "before start wraps midnight); `reminder_lead_minutes` 0..10080 or null.",
    responses=doc.documented({200: PREFERENCES}, 401, 403, 412, 413, 422),
)
async def put_preferences(
    body: schemas.NotificationPreferencesBody, caller: CurrentCaller, clients: ClientsDep, if_match: IfMatch = None
) -> Response:
    wanted = notify_pb2.NotificationPreferences(name=MY_PREFERENCES, etag=if_match_etag(if_match))
    for kind, channels in body.events.items():
        wanted.events[kind].channels.update(channels)
    if body.quiet_hours is not None:
        wanted.quiet_hours.start = body.quiet_hours.start
        wanted.quiet_hours.end = body.quiet_hours.end
    if body.reminder_lead_minutes is not None:
        wanted.reminder_lead_minutes = body.reminder_lead_minutes
    updated = await clients.notification_preferences.UpdateNotificationPreferences(
        notify_pb2.UpdateNotificationPreferencesRequest(preferences=wanted)
    )
    return tagged(converters.notification_preferences(updated), updated.etag)


async def _unsubscribe(clients: ClientsDep, token: str) -> JSONResponse:
    done = await clients.notification_preferences.UnsubscribeNotificationEmail(
        notify_pb2.UnsubscribeNotificationEmailRequest(token=token)
    )
    return JSONResponse({"category": done.category, "email": False})


UNSUBSCRIBE_DESCRIPTION = (
    "No sign-in: the signed token from the mail's link is the credential, and it turns off exactly one email "
    "category (an event type, or weekly_summary) of the person it was made for. A forged, altered or expired token "
    "is 404, whatever was changed. POST is RFC 8058's one-click unsubscribe (the mail's List-Unsubscribe-Post)."
)


@router.get(
    "/notification-preferences/unsubscribe",
    summary="Turn off one email category from a mail's unsubscribe link",
    description=UNSUBSCRIBE_DESCRIPTION,
    responses=doc.documented({200: UNSUBSCRIBED}, 404, 422),
)
async def unsubscribe_link(token: UnsubscribeToken, clients: ClientsDep) -> JSONResponse:
    return await _unsubscribe(clients, token)


@router.post(
    "/notification-preferences/unsubscribe",
    summary="One-click unsubscribe (RFC 8058) from a mail's List-Unsubscribe header",
    description=UNSUBSCRIBE_DESCRIPTION,
    responses=doc.documented({200: UNSUBSCRIBED}, 404, 422),
)
async def unsubscribe_one_click(token: UnsubscribeToken, clients: ClientsDep) -> JSONResponse:
    return await _unsubscribe(clients, token)
