"""Who is calling: the bearer access token, verified locally against the user service's JWKS."""

from __future__ import annotations

from typing import Annotated

import grpc
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import Scope

from gateway.api_keys import KEY_PREFIX, KeyExchange
from kit import context
from kit.auth import TokenVerifier
from kit.context import Caller
from kit.errors import HearthError, Unauthenticated

# Where a request's verdict on its credentials is kept (scope["state"]), so it is reached once per request.
_VERDICT = "hearth.caller"
INVALID_API_KEY_MESSAGE = "invalid API key"

# auto_error=False: a missing header is our 401 problem+json, not FastAPI's 403.
bearer_scheme = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/login")


async def authenticated(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> Caller:
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("a bearer access token is required")
    verdict = await request_caller(request.scope)
    if not isinstance(verdict, Caller):
        raise verdict or Unauthenticated("a bearer access token is required")
    # Every gRPC call this request makes forwards the token (kit.grpc_client), so services authorize.
    context.caller.set(verdict)
    return verdict


async def request_caller(scope: Scope) -> Caller | HearthError | grpc.aio.AioRpcError | None:
    """What this request's credentials prove, worked out once per request whoever asks first (rate limits,
    idempotency, the fast route, the routes' `authenticated`): the Caller of a bearer token that verifies; the
    error of one that does not (Unauthenticated, or the key source's failure — the route's 401 or 503); None
    without an Authorization header. An API key (`hk_…`) is exchanged for its scoped access token
    (gateway.api_keys), which is then verified like any other. A header that holds no bearer token is refused.
    A forged token's signature is checked once, not once per layer."""
    state = scope.setdefault("state", {})
    if _VERDICT in state:
        remembered: Caller | HearthError | grpc.aio.AioRpcError | None = state[_VERDICT]
        return remembered
    authorization = Headers(scope=scope).get("authorization")
    verdict: Caller | HearthError | grpc.aio.AioRpcError | None = None
    if authorization is not None:
        token = presented_token(authorization)
        if token is None:
            verdict = Unauthenticated("a bearer access token is required")
        else:
            verdict = await _verified(scope, token)
    state[_VERDICT] = verdict
    return verdict


async def _verified(scope: Scope, token: str) -> Caller | HearthError | grpc.aio.AioRpcError:
    state = scope["app"].state
    verifier: TokenVerifier = state.verifier
    key = token if token.startswith(KEY_PREFIX) else ""
    try:
        if key:
            exchange: KeyExchange = state.key_exchange
            token = await exchange.access_token(key)
        return await verifier.verify(token)
    except grpc.aio.AioRpcError as exc:
        if key and exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            return Unauthenticated(INVALID_API_KEY_MESSAGE)
        return exc
    except HearthError as exc:
        if key:
            # The remembered token no longer verifies (the key was deleted: its id is revoked): ask again next time.
            state.key_exchange.forget(key)
        return exc


CurrentCaller = Annotated[Caller, Depends(authenticated)]


def presented_token(authorization: str) -> str | None:
    """The bearer token of an Authorization value exactly as `bearer_scheme` (FastAPI's HTTPBearer) reads it —
    scheme case-insensitive, the token stripped — or None when it would not give `authenticated` one. The code
    below FastAPI (gateway.fastlane, gateway.idempotency) must read the header no differently than the routes."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if not scheme or not token or scheme.lower() != "bearer":
        return None
    return token
