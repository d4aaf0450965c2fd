"""Errors as RFC 9457 problem+json — the one place errors become HTTP responses.

Domain errors arrive from the services as gRPC status + `google.rpc.ErrorInfo` (+ `BadRequest`);
`kit.interceptors.carried_error` turns them back into the same `kit.errors` exception, and this
module renders it. Request validation (FastAPI/pydantic) and routing errors get the same shape.

Every problem is written in the language the request asks for (gateway.i18n): the title per code, the detail and
the field messages through the catalogue — a service's English message by its msgid, a message that lists field
violations part by part, pydantic's errors in our own words by their `type` (FIELD_MESSAGES). What the catalogue
does not hold stays English, and `Content-Language` says so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from google.rpc import status_pb2
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from gateway import i18n
from gateway.converters import json_field
from gateway.i18n import N_, NC_, Message, Rendered, Text
from gateway.serialize import JSONResponse
from kit import context
from kit.errors import FieldViolation, HearthError, http_mapping, registered_errors
from kit.interceptors import carried_error, error_of

log = logging.getLogger("hearth.gateway")

PROBLEM_TYPE = "https://hearth.dev/problems/"
MEDIA_TYPE = "application/problem+json"

TITLES = {
    "validation_failed": NC_("title", "The request is not valid"),
    "unauthenticated": NC_("title", "Authentication required"),
    "permission_denied": NC_("title", "Not allowed"),
    "insufficient_scope": NC_("title", "The API key does not allow this"),
    "reauthentication_required": NC_("title", "Sign in again to do this"),
    "mfa_required": NC_("title", "A second factor is required"),
    "not_found": NC_("title", "Not found"),
    "conflict": NC_("title", "Conflict"),
    "precondition_failed": NC_("title", "Precondition failed"),
    "gone": NC_("title", "Gone"),
    "not_due_yet": NC_("title", "Not due yet"),
    "rate_limited": NC_("title", "Too many requests"),
    "idempotency_key_in_use": NC_("title", "A request with this Idempotency-Key is still running"),
    "idempotency_key_reused": NC_("title", "This Idempotency-Key belongs to another request"),
    "unavailable": NC_("title", "Service unavailable"),
    "timeout": NC_("title", "The request took too long"),
    "payload_too_large": NC_("title", "Request body too large"),
    "unsupported_media_type": NC_("title", "Unsupported media type"),
    "not_ready": NC_("title", "Not ready yet"),
    "method_not_allowed": NC_("title", "Method not allowed"),
    "not_modified": NC_("title", "Not modified"),
    "internal": NC_("title", "Internal error"),
    "failed_precondition": NC_("title", "The resource is not in a state that allows this"),
    "out_of_range": NC_("title", "Out of range"),
    "cancelled": NC_("title", "The request was cancelled"),
    "not_implemented": NC_("title", "Not implemented"),
}
MALFORMED = N_("malformed JSON")
UNKNOWN_FIELD = N_("unknown field")
INVALID_REQUEST = N_("the request is not valid")
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 401: "unauthenticated"}
# What gateway.idempotency answers on any write.
IDEMPOTENCY_CODES = {409: "idempotency_key_in_use", 422: "idempotency_key_reused"}

# Request validation (pydantic) in our words, by pydantic's error `type`: the same texts the services use for the
# same rule ("is required", "must be at most 100 characters"), each a msgid of the catalogue whose placeholders
# are the error's `ctx` values. A type not listed keeps pydantic's English `msg` (and the answer says so in its
# Content-Language).
FIELD_MESSAGES: dict[str, str] = {
    "missing": N_("is required"),
    "extra_forbidden": UNKNOWN_FIELD,
    "json_invalid": MALFORMED,
    "json_type": MALFORMED,
    "string_type": N_("must be a string"),
    "int_type": N_("must be an integer"),
    "int_parsing": N_("must be an integer"),
    "int_from_float": N_("must be an integer"),
    "float_type": N_("must be a number"),
    "float_parsing": N_("must be a number"),
    "finite_number": N_("must be a finite number"),
    "bool_type": N_("must be true or false"),
    "bool_parsing": N_("must be true or false"),
    "list_type": N_("must be a list"),
    "dict_type": N_("must be an object"),
    "model_type": N_("must be an object"),
    "model_attributes_type": N_("must be an object"),
    "string_too_short": N_("must be at least %(min_length)s characters"),
    "string_too_long": N_("must be at most %(max_length)s characters"),
    "too_short": N_("must have at least %(min_length)s items"),
    "too_long": N_("must have at most %(max_length)s items"),
    "greater_than_equal": N_("must be at least %(ge)s"),
    "less_than_equal": N_("must be at most %(le)s"),
    "greater_than": N_("must be greater than %(gt)s"),
    "less_than": N_("must be less than %(lt)s"),
    "multiple_of": N_("must be a multiple of %(multiple_of)s"),
    "literal_error": N_("must be one of %(allowed)s"),
    "enum": N_("must be one of %(allowed)s"),
    "string_pattern_mismatch": N_("must match the pattern %(pattern)s"),
    "datetime_type": N_("must be an RFC 3339 date-time"),
    "datetime_parsing": N_("must be an RFC 3339 date-time"),
    "datetime_from_date_parsing": N_("must be an RFC 3339 date-time"),
    "timezone_aware": N_("must include a time zone offset (Z or +01:00)"),
    "date_type": N_("must be a date (YYYY-MM-DD)"),
    "date_parsing": N_("must be a date (YYYY-MM-DD)"),
    "uuid_type": N_("must be a UUID"),
    "uuid_parsing": N_("must be a UUID"),
}
# Texts a library writes that reach clients as they are: email_validator's most frequent refusals (services.user
# passes them on as the email field's message). Its rarer ones stay English (and say so in Content-Language).
LIBRARY_TEXTS = (
    N_("An email address must have an @-sign."),
    N_("There must be something after the @-sign."),
    N_("There must be something before the @-sign."),
    N_("The part after the @-sign is not valid. It should have a period."),
    N_("The part after the @-sign is not valid. It is not within a valid top-level domain."),
    N_("The part after the @-sign is a special-use or reserved name that cannot be used with email."),
    N_("The email address contains invalid characters before the @-sign: %(characters)s."),
    N_("The email address contains an invalid character."),
)
# A string of at least one character is one that must not be empty ("must be at least 1 characters" reads badly).
NOT_EMPTY = N_("must not be empty")
# pydantic's list of allowed values ("'once', 'interval' or 'weekly'"): the quoted values, listed with commas.
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")

Errors = Sequence[FieldViolation | tuple[str, Text]]


@dataclass(frozen=True)
class Problem:
    """What a problem+json document says, in no language yet: `render` writes it in one."""

    status: int
    code: str
    # None: the title says it all (the detail repeats it).
    detail: Text | None = None
    errors: tuple[tuple[str, Text], ...] = ()

    def render(self, language: str, correlation_id: str) -> tuple[dict[str, Any], list[Rendered]]:
        """The document in `language`, and every text in it (to tell which stayed English)."""
        english_title = TITLES.get(self.code)
        title = (
            Message(english_title, context=i18n.TITLE).render(language)
            if english_title is not None
            else Rendered(self.code.replace("_", " ").capitalize(), language == i18n.DEFAULT)
        )
        detail = self.detail.render(language) if self.detail is not None else title
        texts = [title, detail]
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE + self.code,
            "title": title.text,
            "status": self.status,
            "detail": detail.text,
            "code": self.code,
            "correlation_id": correlation_id,
        }
        if self.errors:
            messages = [(field, text.render(language)) for field, text in self.errors]
            texts.extend(rendered for _, rendered in messages)
            body["errors"] = [{"field": field, "message": rendered.text} for field, rendered in messages]
        return body, texts


def _problem(status: int, code: str, detail: str | Text = "", errors: Errors | None = None) -> Problem:
    text: Text | None = i18n.English(detail) if isinstance(detail, str) else detail
    if isinstance(detail, str) and not detail:
        text = None
    items = tuple((e.field, i18n.English(e.message)) if isinstance(e, FieldViolation) else e for e in (errors or ()))
    return Problem(status, code, text, items)


def problem_body(
    status: int,
    code: str,
    detail: str | Text = "",
    errors: Errors | None = None,
    correlation_id: str | None = None,
    language: str = i18n.DEFAULT,
) -> dict[str, Any]:
    """The problem+json document; `correlation_id` defaults to the request's."""
    cid = context.correlation_id.get() if correlation_id is None else correlation_id
    return _problem(status, code, detail, errors).render(language, cid)[0]


class ProblemResponse(JSONResponse):
    """A problem+json answer, written in English when made and in the request's language when sent.

    Problems are made in many places (exception handlers, the idempotency and body-limit middleware, the fast
    route) that all send them with the request's ASGI scope: the language is negotiated there, from the
    Accept-Language header, only for the (rare) request that fails — a successful one pays nothing for it.
    `Content-Language` names the document's language (`de, en` when some text in it had no translation) and
    `Vary: Accept-Language` tells caches the answer depends on it."""

    media_type = MEDIA_TYPE

    def __init__(self, problem: Problem, headers: Mapping[str, str] | None = None) -> None:
        self.problem = problem
        self.correlation_id = context.correlation_id.get()
        body, _ = problem.render(i18n.DEFAULT, self.correlation_id)
        super().__init__(
            body,
            status_code=problem.status,
            media_type=MEDIA_TYPE,
            headers={**(headers or {}), "Content-Language": i18n.DEFAULT, "Vary": "Accept-Language"},
        )

    def in_language(self, language: str) -> None:
        """Write the body in `language` (headers follow)."""
        body, texts = self.problem.render(language, self.correlation_id)
        self.body = self.render(body)
        self.headers["content-length"] = str(len(self.body))
        self.headers["content-language"] = i18n.content_language(language, texts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        language = i18n.language_of(scope)
        if language != i18n.DEFAULT:
            self.in_language(language)
        await super().__call__(scope, receive, send)


def problem(
    status: int, code: str, detail: str | Text = "", errors: Errors | None = None, headers: Any = None
) -> ProblemResponse:
    """The problem+json answer; `detail` (English, or a Text) defaults to the title, `errors` are field problems."""
    if status == 401:
        # RFC 6750 §3: a 401 names the scheme that would have worked.
        headers = {"WWW-Authenticate": 'Bearer realm="hearth"', **(headers or {})}
    return ProblemResponse(_problem(status, code, detail, errors), headers=headers)


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


def from_error(exc: HearthError) -> ProblemResponse:
    """A domain error as problem+json; field paths renamed to the JSON fields the client sent
    (`converters.json_field`), in `errors` and in a detail that lists them."""
    errors = [(json_field(v.field), i18n.English(v.message)) for v in exc.violations]
    return problem(exc.http_status, exc.code, _detail(exc.message, exc.violations), errors)


def item_problem(status: status_pb2.Status, language: str) -> dict[str, Any]:
    """The problem document of one failed item of a batch (a `google.rpc.Status` in the item's result), in
    `language`: what the same request alone would have answered."""
    error = error_of(status)
    if error is None:  # not one of ours: its internals are logged, never shown
        log.warning("a batch item failed without an error of ours: %s %s", status.code, status.message)
        found = _problem(500, "internal", "something went wrong on our side")
    else:
        errors = [(json_field(v.field), i18n.English(v.message)) for v in error.violations]
        found = _problem(error.http_status, error.code, _detail(error.message, error.violations), errors)
    return found.render(language, context.correlation_id.get())[0]


def _detail(message: str, violations: list[FieldViolation]) -> Text:
    """The detail of a domain error: a message that lists its field violations the way kit writes it
    (`invalid request: title: is required; points: ...`, `invalid(field, message)`, an update mask's
    `update_mask: cannot update 'a'; cannot update 'b'`) is rebuilt from them, so each part is translated and
    fields carry their JSON names; any other message is looked up whole."""
    if violations:
        items = tuple((json_field(v.field), i18n.English(v.message)) for v in violations)
        summary = "; ".join(f"{v.field}: {v.message}" for v in violations)
        if message == summary:
            return i18n.Joined(None, items)
        if message.endswith(": " + summary) and len(message) > len(summary) + 2:
            return i18n.Joined(i18n.English(message[: -len(summary) - 2]), items)
        fields = {v.field for v in violations}
        if len(fields) == 1:
            (field,) = fields
            if message == f"{field}: " + "; ".join(v.message for v in violations):
                listed = i18n.Joined(None, tuple((None, text) for _, text in items))
                return i18n.Joined(None, ((json_field(field), listed),))
    return i18n.English(message)


def from_rpc(exc: grpc.aio.AioRpcError) -> ProblemResponse:
    """A failed service call as problem+json.

    A domain error raised by a service comes back as the same kit.errors exception (`carried_error`) and
    is rendered as such; its field violations are renamed from proto paths to the JSON fields the client
    sent. Any other failure (a deadline, a service that is down, a status raised by gRPC itself) maps by
    its gRPC code (`kit.errors.http_mapping`, derived from the error classes).
    """
    error = carried_error(exc)
    if error is not None:
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
    """pydantic's location as the JSON path the client sent: `items[0].title`, `recurrence.days[2]` (the way the
    services name fields too)."""
    field = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not field:
            continue
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field += f".{part}" if field else str(part)
    return field or "body"


def from_validation(exc: RequestValidationError) -> ProblemResponse:
    errors: list[tuple[str, Text]] = [
        (_field(tuple(error.get("loc", ()))), _field_message(error)) for error in exc.errors()
    ]
    return problem(422, "validation_failed", INVALID_REQUEST, errors)


def _field_message(error: Mapping[str, Any]) -> Text:
    """A pydantic error in our words (FIELD_MESSAGES), its `ctx` values in the placeholders; pydantic's own
    English `msg` for a type we have no words for; our own PydanticCustomError texts as written."""
    kind = str(error.get("type", ""))
    ctx = dict(error.get("ctx") or {})
    msgid = FIELD_MESSAGES.get(kind)
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        msgid = NOT_EMPTY
    if msgid is None:
        return i18n.English(str(error.get("msg", "invalid")))
    if "allowed" in i18n.placeholders(msgid):
        expected = str(ctx.get("expected", ""))
        values = _QUOTED.findall(expected)
        ctx["allowed"] = ", ".join(values) if values else expected
    params = {name: ctx.get(name, "") for name in i18n.placeholders(msgid)}
    return i18n.Message(msgid, params if params else None)


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


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
            return problem(422, "validation_failed", INVALID_REQUEST, [FieldViolation("body", MALFORMED)])
        code = HTTP_CODES.get(exc.status_code, "internal" if exc.status_code >= 500 else "validation_failed")
        # Starlette's bare reason phrase ("Not Found") says no more than the title, which is translated.
        detail = "" if str(exc.detail) == _reason_phrase(exc.status_code) else str(exc.detail)
        return problem(exc.status_code, code, detail, headers=exc.headers)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal", "something went wrong on our side")

    app.add_exception_handler(HearthError, hearth_error)
    app.add_exception_handler(grpc.aio.AioRpcError, rpc_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
