"""/api-keys: the caller's API keys — create (the key shown once), list, delete (its tokens stop at once)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from hearth.user.v1 import user_pb2

from gateway import converters, responses, schemas
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.routes import ClientsDep, IdempotencyKey, PageSize, PageToken
from gateway.routes.auth import SECRET_BEARING, known_revoked
from gateway.schemas import PlainText
from gateway.serialize import JSONResponse

router = APIRouter(tags=["api keys"])

ApiKeyId = Annotated[str, Path(max_length=64), PlainText]


@router.post(
    "/api-keys",
    status_code=201,
    summary="Create an API key limited to scopes; the key is in this answer only",
    responses=doc.documented(
        {201: doc.body(responses.CreatedApiKey, responses.CREATED_API_KEY, "The new key, shown once")},
        401,
        409,
        413,
        422,
    ),
)
async def create_api_key(
    body: schemas.ApiKeyBody, caller: CurrentCaller, clients: ClientsDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    key = user_pb2.ApiKey(display_name=body.name, scopes=body.scopes)
    if body.expires_at is not None:
        key.expire_time.CopyFrom(converters.time_in(body.expires_at))
    created = await clients.api_keys.CreateApiKey(
        user_pb2.CreateApiKeyRequest(api_key=key, request_id=idempotency_key or "")
    )
    shown = converters.api_key(created)
    # no-store: the key is kept by no cache, nor by gateway.idempotency (a retry is told which key it made).
    return JSONResponse(
        shown, status_code=201, headers={**SECRET_BEARING, "Location": f"/api/v1/api-keys/{shown['id']}"}
    )


@router.get(
    "/api-keys",
    summary="The caller's API keys (never the keys themselves), newest first",
    responses=doc.documented(
        {200: doc.body(responses.ApiKeyPage, responses.API_KEY_PAGE, "A page of the caller's API keys")}, 401, 422
    ),
)
async def list_api_keys(
    caller: CurrentCaller,
    clients: ClientsDep,
    page_size: PageSize = 50,
    page_token: PageToken = "",
) -> JSONResponse:
    response = await clients.api_keys.ListApiKeys(
        user_pb2.ListApiKeysRequest(page_size=page_size, page_token=page_token)
    )
    return JSONResponse(
        {"items": [converters.api_key(k) for k in response.api_keys], "next_page_token": response.next_page_token}
    )


@router.delete(
    "/api-keys/{api_key_id}",
    status_code=204,
    summary="Delete an API key: it no longer works, and the access tokens it was exchanged for stop at once",
    responses=doc.documented({204: doc.empty("The key is revoked")}, 401, 404, 422),
)
async def delete_api_key(
    api_key_id: ApiKeyId, request: Request, caller: CurrentCaller, clients: ClientsDep
) -> Response:
    await clients.api_keys.DeleteApiKey(user_pb2.DeleteApiKeyRequest(name=f"users/me/apiKeys/{api_key_id}"))
    known_revoked(request, api_key_id)
    return Response(status_code=204)
