"""Who is calling: the bearer access token, verified locally against the user service's JWKS."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kit import context
from kit.auth import TokenVerifier
from kit.context import Caller
from kit.errors import Unauthenticated

# auto_error=False: a missing header is our 401 problem+json, not FastAPI's 403.
bearer_scheme = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/login")


async def authenticated(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> Caller:
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("a bearer access token is required")
    token = credentials.credentials
    if token.startswith("hk_"):
        raise Unauthenticated("API keys are not supported yet")
    verifier: TokenVerifier = request.app.state.verifier
    caller = await verifier.verify(token)
    # Every gRPC call this request makes forwards the token (kit.grpc_client), so services authorize.
    context.caller.set(caller)
    return caller


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
