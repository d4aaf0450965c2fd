"""/users/me."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import StreamingResponse
from google.protobuf.field_mask_pb2 import FieldMask
from hearth.user.v1 import user_pb2

from gateway import converters, responses, schemas
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.etags import IfMatch, IfNoneMatch, if_match_etag, none_match, not_modified, tagged
from gateway.routes import ClientsDep, IdempotencyKey, PageSize, PageToken
from gateway.routes.auth import known_revoked
from gateway.schemas import PlainText
from gateway.serialize import JSONResponse
from kit.errors import Internal

router = APIRouter(tags=["users"])

API_PREFIX = "/api/v1"
ZIP = "application/zip"
# The whole download is one streamed call: longer than a request's usual deadline, for a slow client.
DOWNLOAD_TIMEOUT_SECONDS = 120.0
# What a stream's `read()` answers at its end (grpc-stubs does not declare it).
EOF: Any = getattr(grpc.aio, "EOF")  # noqa: B009

PROFILE = doc.body(responses.User, responses.USER, "The caller's profile", etag=True)

_PATHS = {"display_name": "display_name", "timezone": "time_zone", "locale": "locale", "email": "email"}


@router.get(
    "/users/me",
    summary="The caller's profile (ETag; If-None-Match → 304)",
    responses=doc.documented({200: PROFILE, 304: doc.NOT_MODIFIED}, 401, 422),
)
async def get_me(caller: CurrentCaller, clients: ClientsDep, if_none_match: IfNoneMatch = None) -> Response:
    user = await clients.users.GetUser(user_pb2.GetUserRequest(name="users/me"))
    if none_match(if_none_match, user.etag):
        return not_modified(user.etag)
    return tagged(converters.user(user), user.etag)


@router.patch(
    "/users/me",
    summary="Update the caller's profile (merge patch; If-Match → 412 when stale; a new email needs a recent sign-in)",
    responses=doc.documented({200: PROFILE}, 401, 403, 409, 412, 413, 422),
)
async def update_me(
    body: schemas.UserPatch, caller: CurrentCaller, clients: ClientsDep, if_match: IfMatch = None
) -> Response:
    fields = body.model_fields_set
    user = user_pb2.User(
        name="users/me",
        display_name=body.display_name or "",
        time_zone=body.timezone or "",
        locale=body.locale or "",
        email=body.email or "",
        etag=if_match_etag(if_match),
    )
    mask = FieldMask(paths=[_PATHS[f] for f in sorted(fields)])
    updated = await clients.users.UpdateUser(user_pb2.UpdateUserRequest(user=user, update_mask=mask))
    return tagged(converters.user(updated), updated.etag)


@router.get(
    "/users/me/audit",
    summary="The caller's security events (logins, MFA, password, sessions, API keys), newest first",
    responses=doc.documented(
        {200: doc.body(responses.AuditPage, responses.AUDIT_PAGE, "A page of the caller's security events")}, 401, 422
    ),
)
async def my_audit(
    caller: CurrentCaller,
    clients: ClientsDep,
    page_size: PageSize = 50,
    page_token: PageToken = "",
) -> JSONResponse:
    response = await clients.audit.ListAuditEvents(
        user_pb2.ListAuditEventsRequest(parent="users/me", page_size=page_size, page_token=page_token)
    )
    return JSONResponse(converters.audit_page(response))


# --- erasure and exports (GDPR) ---------------------------------------------------------------------------

EXPORTS = f"{API_PREFIX}/users/me/exports"
ExportId = Annotated[str, Path(max_length=64), PlainText]
EXPORT = doc.body(responses.Export, responses.EXPORT_DONE, "The export: its status and, once done, its archive")
# The account's password travels in the body: the answer is kept by nothing, the gateway's Idempotency-Key memory
# included (a retry after the account is gone is 401: its tokens ended with it).
NOT_KEPT = {"Cache-Control": "no-store"}


def _download_url(export_id: str) -> str:
    return f"{EXPORTS}/{export_id}/archive"


@router.delete(
    "/users/me",
    status_code=202,
    summary="Delete the caller's account and erase their data in every service (GDPR); needs the password",
    responses=doc.documented(
        {
            202: doc.body(
                responses.AccountDeleted,
                responses.ACCOUNT_DELETED,
                "The account is gone (its sessions and API keys with it); every service erases the rest of the"
                " person's data as it hears of it",
            )
        },
        401,
        409,
        413,
        422,
    ),
)
async def delete_me(
    body: schemas.DeleteUserBody, request: Request, caller: CurrentCaller, clients: ClientsDep
) -> JSONResponse:
    await clients.users.DeleteUser(
        user_pb2.DeleteUserRequest(name="users/me", password=body.password, totp_code=body.totp_code or "")
    )
    known_revoked(request, caller.session_id)
    return JSONResponse({"id": caller.user_id, "status": "deleted"}, status_code=202, headers=NOT_KEPT)


@router.post(
    "/users/me/export",
    status_code=202,
    summary="Export everything every service holds about the caller: one zip, made in the background",
    responses=doc.documented(
        {202: doc.body(responses.Export, responses.EXPORT_PENDING, "The export (the pending one, if one is)")},
        401,
        422,
    ),
)
async def create_export(caller: CurrentCaller, clients: ClientsDep, idempotency_key: IdempotencyKey = None) -> Response:
    made = await clients.users.CreateExport(user_pb2.CreateExportRequest(request_id=idempotency_key or ""))
    export_id = converters.last_id(made.name)
    return JSONResponse(
        converters.export(made, download_url=_download_url(export_id)),
        status_code=202,
        headers={"Location": f"{EXPORTS}/{export_id}"},
    )


@router.get(
    "/users/me/exports/{export_id}",
    summary="One of the caller's exports: pending, done (with its download URL) or failed",
    responses=doc.documented({200: EXPORT}, 401, 404, 410, 422),
)
async def get_export(export_id: ExportId, caller: CurrentCaller, clients: ClientsDep) -> JSONResponse:
    export = await clients.users.GetExport(user_pb2.GetExportRequest(name=f"users/me/exports/{export_id}"))
    return JSONResponse(converters.export(export, download_url=_download_url(export_id)))


@router.get(
    "/users/me/exports/{export_id}/archive",
    summary="The finished export's zip (one JSON file per service); its owner only, until it expires",
    response_class=StreamingResponse,
    responses=doc.documented(
        {
            200: {
                "description": "The archive",
                "content": {ZIP: {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        401,
        404,
        409,
        410,
        422,
    ),
)
async def download_export(export_id: ExportId, caller: CurrentCaller, clients: ClientsDep) -> StreamingResponse:
    call = clients.users.DownloadExport(
        user_pb2.DownloadExportRequest(name=f"users/me/exports/{export_id}"), timeout=DOWNLOAD_TIMEOUT_SECONDS
    )
    # The first chunk before the answer starts: a refusal (not found, gone, not finished) is still a problem+json.
    first: Any = await call.read()
    if first is EOF:
        raise Internal("the export's archive is empty")

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield first.data
            chunk: Any
            while (chunk := await call.read()) is not EOF:
                yield chunk.data
        finally:
            call.cancel()

    filename = f"hearth-export-{export_id}.zip"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', **NOT_KEPT}
    return StreamingResponse(chunks(), media_type=ZIP, headers=headers)
