"""/users/me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from google.protobuf.field_mask_pb2 import FieldMask
from hearth.user.v1 import user_pb2

from gateway import converters, responses, schemas
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.etags import IfMatch, IfNoneMatch, if_match_etag, none_match, not_modified, tagged
from gateway.routes import ClientsDep
from gateway.schemas import PlainText
from gateway.serialize import JSONResponse

router = APIRouter(tags=["users"])

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
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str, Query(max_length=2000), PlainText] = "",
) -> JSONResponse:
    response = await clients.audit.ListAuditEvents(
        user_pb2.ListAuditEventsRequest(parent="users/me", page_size=page_size, page_token=page_token)
    )
    return JSONResponse(converters.audit_page(response))
