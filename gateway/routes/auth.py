"""/auth/*: register, login, refresh, logout, sessions, the second factor (TOTP), the password; and the JWKS."""

from __future__ import annotations

import json
import time
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from hearth.user.v1 import user_pb2

from gateway import converters, responses, schemas
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.routes import ClientsDep, IdempotencyKey, PageSize, PageToken
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
        known_revoked(request, caller.session_id)
    return Response(status_code=204)


def known_revoked(request: Request, *session_ids: str) -> None:
    """This gateway knows at once what it just had revoked (the other processes hear it within a Redis round trip,
    kit.revocations): the next request with the old token is refused here however fast it follows."""
    until = time.time() + KNOWN_REVOKED_SECONDS
    for session_id in session_ids:
        if session_id:
            request.app.state.revocations.add(Revocation(session_id, until))


# How long the gateway's own note of a revocation lasts: beyond any access token's life (the shared set has it too).
KNOWN_REVOKED_SECONDS = 24 * 3600
SessionId = Annotated[str, Path(max_length=64), PlainText]


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
    known_revoked(request, session_id)
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
    known_revoked(request, *ended)
    return JSONResponse({"revoked": ended})


# --- the second factor -------------------------------------------------------------------------------------

MFA_ERRORS = (401, 403, 409, 413, 422, 429)


@router.post(
    "/auth/mfa/totp",
    summary="Start enrolling an authenticator app: a new TOTP secret, not active until activated",
    description="Needs a sign-in within the last ten minutes, or `password`; otherwise 403 `reauthentication_required`."
    " Activate within ten minutes.",
    responses=doc.documented(
        {200: doc.body(responses.TotpEnrollment, responses.TOTP_ENROLLMENT, "The secret and its otpauth:// URI")},
        *MFA_ERRORS,
    ),
)
async def start_totp_enrollment(
    caller: CurrentCaller, clients: ClientsDep, body: schemas.TotpEnrollBody | None = None
) -> JSONResponse:
    password = body.password or "" if body else ""
    enrollment = await clients.mfa.StartTotpEnrollment(user_pb2.StartTotpEnrollmentRequest(password=password))
    return JSONResponse({"secret": enrollment.secret, "otpauth_uri": enrollment.otpauth_uri}, headers=SECRET_BEARING)


@router.post(
    "/auth/mfa/totp/activate",
    summary="Turn TOTP on with a first code from the app; answers ten recovery codes, shown this once",
    description="A wrong or already used code is 401 `mfa_required`.",
    responses=doc.documented(
        {200: doc.body(responses.RecoveryCodes, responses.RECOVERY_CODES, "The recovery codes")}, 410, *MFA_ERRORS
    ),
)
async def activate_totp(body: schemas.TotpActivateBody, caller: CurrentCaller, clients: ClientsDep) -> JSONResponse:
    codes = await clients.mfa.ActivateTotp(user_pb2.ActivateTotpRequest(code=body.code))
    return JSONResponse({"recovery_codes": list(codes.codes)}, headers=SECRET_BEARING)


@router.delete(
    "/auth/mfa/totp",
    status_code=204,
    summary="Turn TOTP off, with a current code or a recovery code",
    description="Needs a sign-in within the last ten minutes, or `password`. A wrong code is 401 `mfa_required`.",
    responses=doc.documented({204: doc.empty("TOTP is off; sign-ins need the password alone")}, 404, *MFA_ERRORS),
)
async def disable_totp(body: schemas.TotpDisableBody, caller: CurrentCaller, clients: ClientsDep) -> Response:
    await clients.mfa.DisableTotp(user_pb2.DisableTotpRequest(code=body.code, password=body.password or ""))
    return Response(status_code=204)


# --- the password --------------------------------------------------------------------------------------------


@router.post(
    "/auth/password/change",
    status_code=204,
    summary="Change the password: every other session ends",
    description="A wrong `current_password` is 403 `reauthentication_required`; with TOTP on, `totp_code` is needed"
    " (401 `mfa_required`).",
    responses=doc.documented({204: doc.empty("Changed; only this session goes on")}, *MFA_ERRORS),
)
async def change_password(body: schemas.ChangePasswordBody, caller: CurrentCaller, clients: ClientsDep) -> Response:
    await clients.auth.ChangePassword(
        user_pb2.ChangePasswordRequest(
            current_password=body.current_password, new_password=body.new_password, totp_code=body.totp_code or ""
        )
    )
    return Response(status_code=204)


@router.post(
    "/auth/password/forgot",
    status_code=202,
    summary="Mail a reset link (valid 30 minutes) if the address has an account",
    description="The same answer, in the same time, for every address.",
    responses=doc.documented(
        {
            202: doc.body(
                responses.Accepted, responses.ACCEPTED, "Accepted: a link is on its way if the address has an account"
            )
        },
        413,
        422,
        429,
    ),
)
async def forgot_password(body: schemas.ForgotPasswordBody, clients: ClientsDep) -> JSONResponse:
    await clients.auth.ForgotPassword(user_pb2.ForgotPasswordRequest(email=body.email))
    return JSONResponse({"status": "accepted"}, status_code=202)


@router.post(
    "/auth/password/reset",
    status_code=204,
    summary="Set a new password with the token from the reset mail: every session ends",
    description="An unknown token is 404, a used or expired one 410. With TOTP on, `totp_code` (a code or a recovery"
    " code) is needed too: 401 `mfa_required` without it, and the token stays good.",
    responses=doc.documented({204: doc.empty("The password is set; sign in with it")}, 401, 404, 410, 413, 422, 429),
)
async def reset_password(body: schemas.ResetPasswordBody, clients: ClientsDep) -> Response:
    await clients.auth.ResetPassword(
        user_pb2.ResetPasswordRequest(token=body.token, new_password=body.new_password, totp_code=body.totp_code or "")
    )
    return Response(status_code=204)


@jwks_router.get(
    "/.well-known/jwks.json",
    summary="Public keys that verify access tokens",
    responses=doc.documented({200: doc.body(responses.Jwks, responses.JWKS, "The JSON Web Key Set (RFC 7517)")}),
)
async def jwks(clients: ClientsDep) -> JSONResponse:
    return JSONResponse(json.loads((await clients.auth.GetJwks(user_pb2.GetJwksRequest())).json))
