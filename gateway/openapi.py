"""The OpenAPI document that is the REST contract: `/openapi.json`, read by people at `/docs`.

Routes declare every response they can give with `documented(...)`: the 2xx body by its model in
`gateway.responses` with an example, the problem+json errors by status. The models document only: routes
send JSON that `gateway.converters` built, pre-serialized, so no response is validated twice (the hot
paths, GET …/chores and POST …/complete, must not pay for their documentation). What keeps the document
true is `gateway/tests/test_openapi_contract.py`, which checks real responses against it.

`install` completes what FastAPI generates: the `Problem` schema every error response refers to, and the
`X-Correlation-ID` header every response carries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from gateway import problems, responses
from gateway.idempotency import WRITES
from kit.errors import FieldViolation

SCHEMAS = "#/components/schemas/"
_EXAMPLE_TEXT = "x-hearth-example-json"
CORRELATION_ID_HEADER = {
    "description": "The request's correlation id: echoed from the request when given, else generated",
    "required": True,
    "schema": {"type": "string"},
}
ETAG_HEADER = {
    "description": "The resource's entity tag: send it back as If-Match (updates) or If-None-Match (reads)",
    "required": True,
    "schema": {"type": "string"},
}
# gateway.ratelimit's headers on every response under /api/ (left out only while Redis cannot decide).
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {"description": "The caller's request budget", "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Requests left in the budget now", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until the budget is whole again", "schema": {"type": "integer"}},
    "RateLimit-Policy": {"description": "The budget and its period: `1200;w=60`", "schema": {"type": "string"}},
}
RATE_LIMITED_PREFIX = "/api/"
# Statuses every route that calls a service can answer, whatever it does.
UPSTREAM = (500, 503, 504)

_ERRORS: dict[int, tuple[str, str, list[FieldViolation]]] = {
    401: ("Missing, invalid or expired access token", "a bearer access token is required", []),
    403: (
        "Authenticated, but the caller's role — or the API key's scopes (`insufficient_scope`) — does not allow this",
        "a child may not do this",
        [],
    ),
    404: (
        "Not found, or in a household the caller is not a member of (never revealed)",
        "household not found",
        [],
    ),
    409: ("Conflicts with the current state (already exists, concurrent change)", "already a member", []),
    410: ("Existed, but may no longer be used (a spent invite, a done one-off chore)", "this invite has expired", []),
    412: ("If-Match no longer matches: the resource changed since it was read", "the etag does not match", []),
    413: ("The request body is over the limit", "request bodies are limited to 1048576 bytes", []),
    415: ("The content is of a kind this route does not take", "a photo must be a JPEG, PNG or WebP image", []),
    422: (
        "The request is not valid: unknown fields, bad values; `errors` names each field",
        "the request is not valid",
        [FieldViolation("points", "must be at most 1000")],
    ),
    429: (
        "Over the caller's rate limit, or too many failed sign-in attempts: wait `Retry-After` seconds",
        "too many requests",
        [],
    ),
    500: ("Something went wrong on our side", "something went wrong on our side", []),
    503: ("A backend service is unavailable; try again", "a backend service did not answer in time; try again", []),
    504: ("A backend service timed out; try again", "a backend service did not answer in time; try again", []),
}


def example(instance: BaseModel) -> Any:
    """An instance of a response model as the JSON the API sends."""
    return instance.model_dump(mode="json", by_alias=True, exclude_unset=True)


def body(model: type[BaseModel], instance: BaseModel, description: str, *, etag: bool = False) -> dict[str, Any]:
    """A response with a JSON body: its model (for the document only) and an example."""
    response: dict[str, Any] = {
        "model": model,
        "description": description,
        # FastAPI renders the document with exclude_none, which would drop the example's nulls (a chore's
        # `last_completed_at: null`) and so make it contradict its schema; it travels as text instead, and
        # `_complete` puts it in place.
        "content": {"application/json": {_EXAMPLE_TEXT: json.dumps(example(instance))}},
    }
    if etag:
        response["headers"] = {"ETag": ETAG_HEADER}
    return response


def empty(description: str, *, etag: bool = False) -> dict[str, Any]:
    """A response without a body (204, 304)."""
    response: dict[str, Any] = {"description": description}
    if etag:
        response["headers"] = {"ETag": ETAG_HEADER}
    return response


NOT_MODIFIED = empty("If-None-Match matches the current entity tag: unchanged, no body", etag=True)


# On every problem (gateway.problems): its texts are in the language Accept-Language asks for.
PROBLEM_HEADERS = {
    "Content-Language": {
        "description": "The language of the problem's texts (`en`, `de`); `de, en` when some text had no translation"
        " and stayed English. Ask with `Accept-Language` (q-values honoured; anything unknown is `en`).",
        "schema": {"type": "string"},
    },
    "Vary": {"description": "`Accept-Language`: the texts depend on it", "schema": {"type": "string"}},
}


def problem_response(status: int) -> dict[str, Any]:
    """An error response: problem+json whose `status` and `code` are the ones this HTTP status comes with."""
    description, detail, errors = _ERRORS[status]
    codes = problems.codes_for(status)
    return {
        "description": description,
        "headers": dict(PROBLEM_HEADERS),  # a copy: the document adds its own headers to each response
        "content": {
            problems.MEDIA_TYPE: {
                "schema": {
                    "allOf": [{"$ref": SCHEMAS + "Problem"}],
                    "properties": {"status": {"const": status}, "code": {"enum": codes}},
                },
                "example": problems.problem_body(
                    status, codes[0], detail, errors, correlation_id="4bf92f3577b34da6a3ce929d0e0e4736"
                ),
            }
        },
    }


def documented(
    success: Mapping[int, dict[str, Any]], *errors: int, upstream: bool = True
) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route: its successes (`body`, `empty`), then the error statuses it can answer
    (plus 500/503/504 for a route that calls a service)."""
    statuses = sorted({*errors, *(UPSTREAM if upstream else ())})
    return {**success, **{status: problem_response(status) for status in statuses}}


def install(app: FastAPI) -> None:
    """Complete FastAPI's document once, when it is first asked for."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _complete(generate())
        return app.openapi_schema  # type: ignore[return-value]  # set by generate()

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(spec: dict[str, Any]) -> None:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    problem = responses.Problem.model_json_schema(ref_template=SCHEMAS + "{model}", mode="serialization")
    for name, schema in {**problem.pop("$defs", {}), "Problem": problem}.items():
        if schemas.setdefault(name, schema) != schema:
            raise RuntimeError(f"two different schemas are named {name} in the OpenAPI document")
    for path, path_item in spec.get("paths", {}).items():
        limited = path.startswith(RATE_LIMITED_PREFIX)
        for method, operation in path_item.items():
            responses_of = operation.setdefault("responses", {})
            if method.upper() in WRITES:
                # gateway.idempotency answers these on every write that sends an Idempotency-Key.
                for status in problems.IDEMPOTENCY_CODES:
                    responses_of.setdefault(str(status), problem_response(status))
            if limited:
                responses_of.setdefault("429", problem_response(429))
            if "401" in responses_of:
                # Any authenticated route refuses an API key outside its scopes (kit.interceptors).
                responses_of.setdefault("403", problem_response(403))
            for response in responses_of.values():
                headers = response.setdefault("headers", {})
                headers["X-Correlation-ID"] = CORRELATION_ID_HEADER
                if limited:
                    headers.update(RATE_LIMIT_HEADERS)
                for content in response.get("content", {}).values():
                    if _EXAMPLE_TEXT in content:
                        content["example"] = json.loads(content.pop(_EXAMPLE_TEXT))
