"""/auth/*: register, login, refresh, logout; and the JWKS."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from hearth.user.v1 import user_pb2

from gateway import converters, schemas
from gateway.auth import CurrentCaller
from gateway.routes import ClientsDep, IdempotencyKey

router = APIRouter(tags=["auth"])
jwks_router = APIRouter(tags=["auth"])


@router.post("/auth/register", status_code=201, summary="Create an account")
async def register(
    body: schemas.RegisterBody, clients: ClientsDep, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    user = await clients.auth.Register(
        user_pb2.RegisterRequest(
            email=body.email,
            password=body.password,
            display_name=body.display_name,
            time_zone=body.timezone or "",
            locale=body.locale or "",
            request_id=idempotency_key or "",
        )
    )
    return converters.user(user)


@router.post("/auth/login", summary="Exchange email + password for an access and a refresh token")
async def login(body: schemas.LoginBody, request: Request, clients: ClientsDep) -> dict[str, Any]:
    pair = await clients.auth.Login(
        user_pb2.LoginRequest(
            email=body.email,
            password=body.password,
            totp_code=body.totp_code or "",
            user_agent=request.headers.get("user-agent", "")[:500],
            ip_address=request.client.host if request.client else "",
        )
    )
    return converters.tokens(pair)


@router.post("/auth/refresh", summary="Rotate the refresh token; the old one is spent")
async def refresh(body: schemas.RefreshBody, clients: ClientsDep) -> dict[str, Any]:
    return converters.tokens(
        await clients.auth.RefreshToken(user_pb2.RefreshTokenRequest(refresh_token=body.refresh_token))
    )


@router.post("/auth/logout", status_code=204, summary="End this session")
async def logout(caller: CurrentCaller, clients: ClientsDep, body: schemas.LogoutBody | None = None) -> Response:
    await clients.auth.Logout(user_pb2.LogoutRequest(refresh_token=body.refresh_token or "" if body else ""))
    return Response(status_code=204)


@jwks_router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(clients: ClientsDep) -> dict[str, Any]:
    return dict(json.loads((await clients.auth.GetJwks(user_pb2.GetJwksRequest())).json))
