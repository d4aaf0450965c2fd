"""Errors as RFC 9457 problem+json — the one place errors become HTTP responses.

Domain errors arrive from the services as gRPC status + `google.rpc.ErrorInfo` (+ `BadRequest`);
`kit.interceptors.carried_error` turns them back into the same `kit.errors` exception, and this
module renders it. Request validation (FastAPI/pydantic) and routing errors get the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.converters import json_field
from gateway.serialize import JSONResponse
from kit import context
from kit.errors import FieldViolation, HearthError, http_mapping, registered_errors
from kit.interceptors import carried_error

log = logging.getLogger("hearth.gateway")

PROBLEM_TYPE = "https://hearth.dev/problems/"
MEDIA_TYPE = "application/problem+json"

TITLES = {
    "validation_failed": "The request is not valid",
    "unauthenticated": "Authentication required",
    "permission_denied": "Not allowed",
    "not_found": "Not found",
    "conflict": "Conflict",
    "precondition_failed": "Precondition failed",
    "gone": "Gone",
    "rate_limited": "Too many requests",
    "idempotency_key_in_use": "A request with this Idempotency-Key is still running",
    "idempotency_key_reused": "This Idempotency-Key belongs to another request",
    "unavailable": "Service unavailable",
    "timeout": "The request took too long",
    "payload_too_large": "Request body too large",
    "method_not_allowed": "Method not allowed",
    "not_modified": "Not modified",
    "internal": "Internal error",
    "failed_precondition": "The resource is not in a state that allows this",
    "out_of_range": "Out of range",
    "cancelled": "The request was cancelled",
    "not_implemented": "Not implemented",
}
MALFORMED = "malformed JSON"
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 401: "unauthenticated"}
# What gateway.idempotency answers on any write.
IDEMPOTENCY_CODES = {409: "idempotency_key_in_use", 422: "idempotency_key_reused"}


def problem_body(
    status: int,
    code: str,
    detail: str = "",
    errors: list[FieldViolation] | None = None,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """The problem+json document; `correlation_id` defaults to the request's."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": TITLES.get(code, code.replace("_", " ").capitalize()),
        "status": status,
        "detail": detail or TITLES.get(code, ""),
        "code": code,
        "correlation_id": context.correlation_id.get() if correlation_id is None else correlation_id,
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return body


def problem(
    status: int, code: str, detail: str = "", errors: list[FieldViolation] | None = None, headers: Any = None
) -> JSONResponse:
    if status == 401:
        # RFC 6750 §3: a 401 names the scheme that would have worked.
        headers = {"WWW-Authenticate": 'Bearer realm="hearth"', **(headers or {})}
    return JSONResponse(
        problem_body(status, code, detail, errors), status_code=status, media_type=MEDIA_TYPE, headers=headers
    )


def codes_for(status: int) -> list[str]:
    """Every problem `code` a response with this HTTP status can carry, derived from where codes are chosen:
    the kit.errors classes, the bare gRPC status mapping, and the HTTP errors rendered here."""
    codes = {cls.code for cls in registered_errors() if cls.http_status == status}
    codes |= {code for http, code in map(http_mapping, grpc.StatusCode) if http == status}
    codes |= {code for http, code in HTTP_CODES.items() if http == status}
    codes |= {code for http, code in IDEMPOTENCY_CODES.items() if http == status}
    if status == 422:
        codes.add("validation_failed")  # request validation (from_validation)
    return sorted(codes)


def from_error(exc: HearthError) -> JSONResponse:
    return problem(exc.http_status, exc.code, exc.message, exc.violations)


def from_rpc(exc: grpc.aio.AioRpcError) -> JSONResponse:
    """A failed service call as problem+json.

    A domain error raised by a service comes back as the same kit.errors exception (`carried_error`) and
    is rendered as such; its field violations are renamed from proto paths to the JSON fields the client
    sent. Any other failure (a deadline, a service that is down, a status raised by gRPC itself) maps by
    its gRPC code (`kit.errors.http_mapping`, derived from the error classes).
    """
    error = carried_error(exc)
    if error is not None:
        error.violations = [FieldViolation(json_field(v.field), v.message) for v in error.violations]
        return from_error(error)
    status, code = http_mapping(exc.code())
    if status >= 500:
        # Upstream internals (addresses, stack traces) are logged, never shown.
        log.warning("upstream call failed: %s %s", exc.code().name, exc.details())
        return problem(
            status,
            code,
            "a backend service did not answer in time; try again"
            if status in (503, 504)
            else "something went wrong on our side",
        )
    return problem(status, code, exc.details() or "")


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def from_validation(exc: RequestValidationError) -> JSONResponse:
    errors = []
    for error in exc.errors():
        kind = error.get("type", "")
        field = _field(tuple(error.get("loc", ())))
        if kind == "json_invalid":
            message = MALFORMED
        elif kind == "extra_forbidden":
            message = "unknown field"
        else:
            message = str(error.get("msg", "invalid"))
        errors.append(FieldViolation(field, message))
    return problem(422, "validation_failed", "the request is not valid", errors)


def install(app: FastAPI) -> None:
    async def hearth_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HearthError)
        return from_error(exc)

    async def rpc_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, grpc.aio.AioRpcError)
        return from_rpc(exc)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return from_validation(exc)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:
            # FastAPI's answer to a body it could not parse at all (JSON nested past the parser's depth, say);
            # malformed JSON it can name is already 422 (from_validation).
            return problem(422, "validation_failed", "the request is not valid", [FieldViolation("body", MALFORMED)])
        code = HTTP_CODES.get(exc.status_code, "internal" if exc.status_code >= 500 else "validation_failed")
        return problem(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal", "something went wrong on our side")

    app.add_exception_handler(HearthError, hearth_error)
    app.add_exception_handler(grpc.aio.AioRpcError, rpc_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
