"""/auth/*: register, login, refresh, logout; and the JWKS."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from hearth.user.v1 import user_pb2

from gateway import converters, responses, schemas
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.routes import ClientsDep, IdempotencyKey
from gateway.serialize import JSONResponse

router = APIRouter(tags=["auth"])
jwks_router = APIRouter(tags=["auth"])

TOKENS = doc.body(responses.Tokens, responses.TOKENS, "An access token and the refresh token that renews it")


@router.post(
    "/auth/register",
    status_code=201,
    summary="Create an account",
    responses=doc.documented({201: doc.body(responses.User, responses.USER, "The new account")}, 409, 413, 422),
)
async def register(
    body: schemas.RegisterBody, clients: ClientsDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
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
    return JSONResponse(converters.user(user), status_code=201)


# Tokens: kept by no cache between here and the client (RFC 9111 no-store), nor by gateway.idempotency.
SECRET_BEARING = {"Cache-Control": "no-store"}


@router.post(
    "/auth/login",
    summary="Exchange email + password for an access and a refresh token",
    responses=doc.documented({200: TOKENS}, 401, 413, 422),
)
async def login(body: schemas.LoginBody, request: Request, clients: ClientsDep) -> JSONResponse:
    pair = await clients.auth.Login(
        user_pb2.LoginRequest(
            email=body.email,
            password=body.password,
            totp_code=body.totp_code or "",
        )
    )
    return JSONResponse(converters.tokens(pair), headers=SECRET_BEARING)


@router.post(
    "/auth/refresh",
    summary="Rotate the refresh token; the old one is spent",
    responses=doc.documented({200: TOKENS}, 401, 413, 422),
)
async def refresh(body: schemas.RefreshBody, clients: ClientsDep) -> JSONResponse:
    return JSONResponse(
        converters.tokens(
            await clients.auth.RefreshToken(user_pb2.RefreshTokenRequest(refresh_token=body.refresh_token))
        ),
        headers=SECRET_BEARING,
    )


@router.post(
    "/auth/logout",
    status_code=204,
    summary="End this session",
    responses=doc.documented({204: doc.empty("The session is over; its refresh token no longer works")}, 401, 413, 422),
)
async def logout(caller: CurrentCaller, clients: ClientsDep, body: schemas.LogoutBody | None = None) -> Response:
    await clients.auth.Logout(user_pb2.LogoutRequest(refresh_token=body.refresh_token or "" if body else ""))
    return Response(status_code=204)


@jwks_router.get(
    "/.well-known/jwks.json",
    summary="Public keys that verify access tokens",
    responses=doc.documented({200: doc.body(responses.Jwks, responses.JWKS, "The JSON Web Key Set (RFC 7517)")}),
)
async def jwks(clients: ClientsDep) -> JSONResponse:
    return JSONResponse(json.loads((await clients.auth.GetJwks(user_pb2.GetJwksRequest())).json))
