"""/users/me."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from google.protobuf.field_mask_pb2 import FieldMask
from hearth.user.v1 import user_pb2

from gateway import converters, schemas
from gateway.auth import CurrentCaller
from gateway.routes import ClientsDep

router = APIRouter(tags=["users"])

_PATHS = {"display_name": "display_name", "timezone": "time_zone", "locale": "locale"}


@router.get("/users/me", summary="The caller's profile")
async def get_me(caller: CurrentCaller, clients: ClientsDep) -> dict[str, Any]:
    return converters.user(await clients.users.GetUser(user_pb2.GetUserRequest(name="users/me")))


@router.patch("/users/me", summary="Update the caller's profile (merge patch)")
async def update_me(body: schemas.UserPatch, caller: CurrentCaller, clients: ClientsDep) -> dict[str, Any]:
    fields = body.model_fields_set
    user = user_pb2.User(
        name="users/me", display_name=body.display_name or "", time_zone=body.timezone or "", locale=body.locale or ""
    )
    mask = FieldMask(paths=[_PATHS[f] for f in sorted(fields)])
    return converters.user(await clients.users.UpdateUser(user_pb2.UpdateUserRequest(user=user, update_mask=mask)))
