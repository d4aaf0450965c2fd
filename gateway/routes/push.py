"""/users/me/push-subscriptions and /push/vapid-public-key: Web Push for the caller's browsers (notify's
PushSubscriptionService). A browser subscribes with the VAPID public key and posts what PushSubscription.toJSON()
gives; it unsubscribes by id, or — what it has at hand — by its endpoint."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from hearth.notify.v1 import notify_pb2

from gateway import converters, responses, schemas
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.routes import ClientsDep
from gateway.schemas import PlainText
from gateway.serialize import JSONResponse

router = APIRouter(tags=["push"])

SubscriptionId = Annotated[str, Path(max_length=64), PlainText]


@router.get(
    "/push/vapid-public-key",
    summary="The VAPID public key to subscribe a browser with (PushManager.subscribe's applicationServerKey)",
    responses=doc.documented(
        {200: doc.body(responses.VapidPublicKey, responses.VAPID_PUBLIC_KEY, "The key, base64url")}, 401, 404
    ),
)
async def vapid_public_key(caller: CurrentCaller, clients: ClientsDep) -> JSONResponse:
    key = await clients.push_subscriptions.GetPushVapidPublicKey(notify_pb2.GetPushVapidPublicKeyRequest())
    return JSONResponse({"public_key": key.public_key})


@router.post(
    "/users/me/push-subscriptions",
    status_code=201,
    summary="Subscribe a browser to the caller's notifications; the same endpoint again answers the same subscription",
    responses=doc.documented(
        {201: doc.body(responses.PushSubscription, responses.PUSH_SUBSCRIPTION, "The browser's subscription")},
        401,
        404,
        409,
        413,
        422,
    ),
)
async def create_push_subscription(
    body: schemas.PushSubscriptionBody, caller: CurrentCaller, clients: ClientsDep
) -> JSONResponse:
    given = notify_pb2.PushSubscription(endpoint=body.endpoint, p256dh=body.keys.p256dh, auth=body.keys.auth)
    if body.expiration_time is not None:
        given.expire_time.CopyFrom(converters.time_in(datetime.fromtimestamp(body.expiration_time / 1000, UTC)))
    created = await clients.push_subscriptions.CreatePushSubscription(
        notify_pb2.CreatePushSubscriptionRequest(parent="users/me", push_subscription=given)
    )
    shown = converters.push_subscription(created)
    return JSONResponse(
        shown, status_code=201, headers={"Location": f"/api/v1/users/me/push-subscriptions/{shown['id']}"}
    )


@router.get(
    "/users/me/push-subscriptions",
    summary="The caller's browsers subscribed to Web Push",
    responses=doc.documented(
        {200: doc.body(responses.PushSubscriptionList, responses.PUSH_SUBSCRIPTION_LIST, "Every subscription")}, 401
    ),
)
async def list_push_subscriptions(caller: CurrentCaller, clients: ClientsDep) -> JSONResponse:
    listed = await clients.push_subscriptions.ListPushSubscriptions(
        notify_pb2.ListPushSubscriptionsRequest(parent="users/me")
    )
    return JSONResponse({"items": [converters.push_subscription(s) for s in listed.push_subscriptions]})


@router.delete(
    "/users/me/push-subscriptions",
    status_code=204,
    summary="Unsubscribe the browser with this endpoint (PushSubscription.endpoint)",
    responses=doc.documented({204: doc.empty("The browser gets no more pushes")}, 401, 404, 422),
)
async def delete_push_subscription_by_endpoint(
    endpoint: Annotated[str, Query(min_length=1, max_length=2048), PlainText],
    caller: CurrentCaller,
    clients: ClientsDep,
) -> Response:
    await clients.push_subscriptions.DeletePushSubscription(
        notify_pb2.DeletePushSubscriptionRequest(parent="users/me", endpoint=endpoint)
    )
    return Response(status_code=204)


@router.delete(
    "/users/me/push-subscriptions/{subscription_id}",
    status_code=204,
    summary="Unsubscribe a browser by the subscription's id",
    responses=doc.documented({204: doc.empty("The browser gets no more pushes")}, 401, 404, 422),
)
async def delete_push_subscription(
    subscription_id: SubscriptionId, caller: CurrentCaller, clients: ClientsDep
) -> Response:
    await clients.push_subscriptions.DeletePushSubscription(
        notify_pb2.DeletePushSubscriptionRequest(name=f"users/{caller.user_id}/pushSubscriptions/{subscription_id}")
    )
    return Response(status_code=204)
