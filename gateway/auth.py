"""Who is calling: the bearer access token, verified locally against the user service's JWKS."""

from __future__ import annotations

from typing import Annotated

import grpc
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import Scope

from kit import context
from kit.auth import TokenVerifier
from kit.context import Caller
from kit.errors import HearthError, Unauthenticated

# Where a request's verdict on its credentials is kept (scope["state"]), so it is reached once per request.
_VERDICT = "hearth.caller"
API_KEYS_MESSAGE = "API keys are not supported yet"

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
    without an Authorization header. An API key is refused until keys exist (issue 15), a header that holds no
    bearer token likewise. A forged token's signature is checked once, not once per layer."""
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
        elif token.startswith("hk_"):
            verdict = Unauthenticated(API_KEYS_MESSAGE)
        else:
            verifier: TokenVerifier = scope["app"].state.verifier
            try:
                verdict = await verifier.verify(token)
            except (HearthError, grpc.aio.AioRpcError) as exc:
                verdict = exc
    state[_VERDICT] = verdict
    return verdict


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
