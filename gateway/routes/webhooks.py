"""/households/{hid}/webhooks: the household's signed webhook endpoints (owner and admins only) — create (the secret
is in that answer only), list, get, delete, rotate the secret, send a test, and each endpoint's delivery log.

The answers that hold a secret are `Cache-Control: no-store`, so gateway.idempotency never keeps them in Redis; a
create's Idempotency-Key goes to notify as its request id instead, and notify answers a replay with the same
webhook (and secret) to the same caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from hearth.notify.v1 import notify_pb2

from gateway import converters, responses, schemas
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.routes import ClientsDep, IdempotencyKey, PageSize, PageToken
from gateway.schemas import PlainText
from gateway.serialize import JSONResponse

router = APIRouter(tags=["webhooks"])

HouseholdId = Annotated[str, Path(max_length=64), PlainText]
WebhookId = Annotated[str, Path(max_length=64), PlainText]
WEBHOOK = doc.body(responses.Webhook, responses.WEBHOOK, "The webhook")
WITH_SECRET = doc.body(
    responses.WebhookWithSecret, responses.WEBHOOK_WITH_SECRET, "The webhook and its signing secret, shown this once"
)
NO_STORE = {"Cache-Control": "no-store"}


def _name(hid: str, wid: str) -> str:
    return f"households/{hid}/webhooks/{wid}"


@router.post(
    "/households/{hid}/webhooks",
    status_code=201,
    summary="Register a webhook (owner and admins): the household's events of `events`, signed, POSTed to `url`",
    description="Refused with 422 when the URL is not https, holds a user or password, or its host is or resolves "
    "to a loopback, private, link-local, CGNAT, reserved or metadata address (unless the deployment allows private "
    "targets). At most 10 per household (409 beyond). The `secret` is in this answer only.",
    responses=doc.documented({201: WITH_SECRET}, 401, 403, 404, 409, 413, 422),
)
async def create_webhook(
    hid: HouseholdId,
    body: schemas.WebhookBody,
    caller: CurrentCaller,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    created = await clients.webhooks.CreateWebhook(
        notify_pb2.CreateWebhookRequest(
            parent=f"households/{hid}",
            webhook=notify_pb2.Webhook(url=body.url, events=body.events, description=body.description or ""),
            request_id=idempotency_key or "",
        )
    )
    return JSONResponse(converters.webhook_with_secret(created), status_code=201, headers=NO_STORE)


@router.get(
    "/households/{hid}/webhooks",
    summary="The household's webhooks, oldest first (owner and admins)",
    responses=doc.documented(
        {200: doc.body(responses.WebhookPage, responses.WEBHOOK_PAGE, "A page of webhooks")}, 401, 403, 404, 422
    ),
)
async def list_webhooks(
    hid: HouseholdId,
    caller: CurrentCaller,
    clients: ClientsDep,
    page_size: PageSize = 50,
    page_token: PageToken = "",
) -> JSONResponse:
    reply = await clients.webhooks.ListWebhooks(
        notify_pb2.ListWebhooksRequest(parent=f"households/{hid}", page_size=page_size, page_token=page_token)
    )
    return JSONResponse(
        {"items": [converters.webhook(w) for w in reply.webhooks], "next_page_token": reply.next_page_token}
    )


@router.get(
    "/households/{hid}/webhooks/{wid}",
    summary="One webhook (owner and admins; never its secret)",
    responses=doc.documented({200: WEBHOOK}, 401, 403, 404, 422),
)
async def get_webhook(hid: HouseholdId, wid: WebhookId, caller: CurrentCaller, clients: ClientsDep) -> JSONResponse:
    found = await clients.webhooks.GetWebhook(notify_pb2.GetWebhookRequest(name=_name(hid, wid)))
    return JSONResponse(converters.webhook(found))


@router.delete(
    "/households/{hid}/webhooks/{wid}",
    status_code=204,
    summary="Delete a webhook and its delivery log; nothing more is sent to it",
    responses=doc.documented({204: doc.empty("Deleted")}, 401, 403, 404, 422),
)
async def delete_webhook(hid: HouseholdId, wid: WebhookId, caller: CurrentCaller, clients: ClientsDep) -> Response:
    await clients.webhooks.DeleteWebhook(notify_pb2.DeleteWebhookRequest(name=_name(hid, wid)))
    return Response(status_code=204)


@router.post(
    "/households/{hid}/webhooks/{wid}/rotate-secret",
    summary="A new signing secret, shown once; for 24 h the previous one signs too (two signatures)",
    responses=doc.documented({200: WITH_SECRET}, 401, 403, 404, 422),
)
async def rotate_webhook_secret(
    hid: HouseholdId, wid: WebhookId, caller: CurrentCaller, clients: ClientsDep
) -> JSONResponse:
    rotated = await clients.webhooks.RotateWebhookSecret(notify_pb2.RotateWebhookSecretRequest(name=_name(hid, wid)))
    return JSONResponse(converters.webhook_with_secret(rotated), headers=NO_STORE)


@router.post(
    "/households/{hid}/webhooks/{wid}/test",
    status_code=202,
    summary="Queue a `webhook.test` delivery to the endpoint (tried once); follow it in the delivery log",
    description="One at a time: while a test delivery is on its way, another is 409.",
    responses=doc.documented(
        {202: doc.body(responses.WebhookDelivery, responses.WEBHOOK_DELIVERY, "The queued delivery")},
        401,
        403,
        404,
        409,
        422,
    ),
)
async def send_test_delivery(
    hid: HouseholdId, wid: WebhookId, caller: CurrentCaller, clients: ClientsDep
) -> JSONResponse:
    delivery = await clients.webhooks.TestWebhook(notify_pb2.TestWebhookRequest(name=_name(hid, wid)))
    return JSONResponse(converters.webhook_delivery(delivery), status_code=202)


@router.get(
    "/households/{hid}/webhooks/{wid}/deliveries",
    summary="The webhook's deliveries, newest first: status, attempts, response code, latency, next attempt",
    responses=doc.documented(
        {200: doc.body(responses.WebhookDeliveryPage, responses.WEBHOOK_DELIVERY_PAGE, "A page of the delivery log")},
        401,
        403,
        404,
        422,
    ),
)
async def list_webhook_deliveries(
    hid: HouseholdId,
    wid: WebhookId,
    caller: CurrentCaller,
    clients: ClientsDep,
    page_size: PageSize = 50,
    page_token: PageToken = "",
) -> JSONResponse:
    reply = await clients.webhooks.ListWebhookDeliveries(
        notify_pb2.ListWebhookDeliveriesRequest(parent=_name(hid, wid), page_size=page_size, page_token=page_token)
    )
    return JSONResponse(
        {
            "items": [converters.webhook_delivery(d) for d in reply.deliveries],
            "next_page_token": reply.next_page_token,
        }
    )
