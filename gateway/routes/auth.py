"""/auth/*: register, login, refresh, logout, sessions; and the JWKS."""

from __future__ import annotations

import json
import time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from hearth.user.v1 import user_pb2

from gateway import converters, responses, schemas
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.routes import ClientsDep, IdempotencyKey
from gateway.schemas import PlainText
from gateway.serialize import JSONResponse
from kit.revocations import Revocation

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
async def logout(
    request: Request, caller: CurrentCaller, clients: ClientsDep, body: schemas.LogoutBody | None = None
) -> Response:
    refresh_token = body.refresh_token or "" if body else ""
    await clients.auth.Logout(user_pb2.LogoutRequest(refresh_token=refresh_token))
    if not refresh_token:
        _known_revoked(request, caller.session_id)
    return Response(status_code=204)


def _known_revoked(request: Request, *session_ids: str) -> None:
    """This gateway knows at once what it just had revoked (the other processes hear it within a Redis round trip,
    kit.revocations): the next request with the old token is refused here however fast it follows."""
    until = time.time() + KNOWN_REVOKED_SECONDS
    for session_id in session_ids:
        if session_id:
            request.app.state.revocations.add(Revocation(session_id, until))


# For the other routes that end sessions (DELETE /users/me ends all of the caller's).
known_revoked = _known_revoked
# How long the gateway's own note of a revocation lasts: beyond any access token's life (the shared set has it too).
KNOWN_REVOKED_SECONDS = 24 * 3600
SessionId = Annotated[str, Path(max_length=64), PlainText]
PageSize = Annotated[int, Query(ge=1, le=200)]
PageToken = Annotated[str, Query(max_length=2000), PlainText]


@router.get(
    "/auth/sessions",
    summary="The caller's sessions (signed-in devices), newest first",
    responses=doc.documented(
        {200: doc.body(responses.SessionPage, responses.SESSION_PAGE, "A page of the caller's sessions")}, 401, 422
    ),
)
async def list_sessions(
    caller: CurrentCaller, clients: ClientsDep, page_size: PageSize = 50, page_token: PageToken = ""
) -> JSONResponse:
    response = await clients.auth.ListSessions(user_pb2.ListSessionsRequest(page_size=page_size, page_token=page_token))
    return JSONResponse(
        {"items": [converters.session(s) for s in response.sessions], "next_page_token": response.next_page_token}
    )


@router.delete(
    "/auth/sessions/{session_id}",
    status_code=204,
    summary="End one of the caller's sessions: its refresh token and access tokens stop working at once",
    responses=doc.documented({204: doc.empty("The session is over")}, 401, 404, 422),
)
async def revoke_session(
    session_id: SessionId, request: Request, caller: CurrentCaller, clients: ClientsDep
) -> Response:
    await clients.auth.RevokeSession(user_pb2.RevokeSessionRequest(name=f"users/me/sessions/{session_id}"))
    _known_revoked(request, session_id)
    return Response(status_code=204)


@router.delete(
    "/auth/sessions",
    summary="End every session of the caller but the current one",
    responses=doc.documented(
        {200: doc.body(responses.RevokedSessions, responses.REVOKED_SESSIONS, "The sessions ended")}, 401
    ),
)
async def revoke_other_sessions(request: Request, caller: CurrentCaller, clients: ClientsDep) -> JSONResponse:
    response = await clients.auth.RevokeOtherSessions(user_pb2.RevokeOtherSessionsRequest())
    ended = [name.rsplit("/", 1)[-1] for name in response.revoked]
    _known_revoked(request, *ended)
    return JSONResponse({"revoked": ended})


@jwks_router.get(
    "/.well-known/jwks.json",
    summary="Public keys that verify access tokens",
    responses=doc.documented({200: doc.body(responses.Jwks, responses.JWKS, "The JSON Web Key Set (RFC 7517)")}),
)
async def jwks(clients: ClientsDep) -> JSONResponse:
    return JSONResponse(json.loads((await clients.auth.GetJwks(user_pb2.GetJwksRequest())).json))
