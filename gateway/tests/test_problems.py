"""gRPC status (+ ErrorInfo / BadRequest) → problem+json: pure, no server."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from fastapi.exceptions import RequestValidationError
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from pydantic import ValidationError

from gateway import problems, schemas
from kit import context
from kit.errors import (
    ERROR_DOMAIN,
    AlreadyExists,
    Conflict,
    FieldViolation,
    Gone,
    HearthError,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    RateLimited,
    Timeout,
    Unauthenticated,
    Unavailable,
    http_mapping,
    registered_errors,
)
from kit.interceptors import to_grpc_status


def rpc_error(
    code: grpc.StatusCode, details: str = "", trailing: tuple[tuple[str, Any], ...] = ()
) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), details=details)


def from_service(error: HearthError) -> grpc.aio.AioRpcError:
    """What a call fails with when the service raised `error` (the real server-side encoding)."""
    status = to_grpc_status(error)
    return rpc_error(status.code, status.details, tuple(status.trailing_metadata))


def body(response: Any) -> dict[str, Any]:
    return dict(json.loads(response.body))


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidArgument("bad"), 422, "validation_failed"),
        (Unauthenticated("who"), 401, "unauthenticated"),
        (PermissionDenied("no"), 403, "permission_denied"),
        (NotFound("gone missing"), 404, "not_found"),
        (AlreadyExists("dup"), 409, "conflict"),
        (Conflict("race"), 409, "conflict"),
        (PreconditionFailed("stale"), 412, "precondition_failed"),
        (Gone("used"), 410, "gone"),
        (RateLimited("slow down"), 429, "rate_limited"),
        (Unavailable("later"), 503, "unavailable"),
        (Timeout("slow"), 504, "timeout"),
        (Internal("oops"), 500, "internal"),
    ],
)
def test_domain_errors_keep_their_status_and_code(error: HearthError, status: int, code: str) -> None:
    response = problems.from_rpc(from_service(error))
    assert response.status_code == status
    assert response.media_type == "application/problem+json"
    problem = body(response)
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == f"https://hearth.dev/problems/{code}"
    assert problem["detail"] == error.message
    assert problem["title"]
    assert "errors" not in problem


def test_failed_precondition_is_412_or_410_by_reason_not_by_grpc_code() -> None:
    # Both travel as FAILED_PRECONDITION; only the ErrorInfo reason tells them apart.
    assert problems.from_rpc(from_service(PreconditionFailed("etag"))).status_code == 412
    assert problems.from_rpc(from_service(Gone("spent"))).status_code == 410


def test_field_violations_become_errors() -> None:
    error = InvalidArgument(
        "bad chore", [FieldViolation("title", "must not be empty"), FieldViolation("points", "at most 1000")]
    )
    problem = body(problems.from_rpc(from_service(error)))
    assert problem["errors"] == [
        {"field": "title", "message": "must not be empty"},
        {"field": "points", "message": "at most 1000"},
    ]


@pytest.mark.parametrize(
    ("code", "status", "problem_code"),
    [
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504, "timeout"),
        (grpc.StatusCode.UNAVAILABLE, 503, "unavailable"),
        (grpc.StatusCode.INVALID_ARGUMENT, 422, "validation_failed"),
        (grpc.StatusCode.FAILED_PRECONDITION, 400, "failed_precondition"),
        (grpc.StatusCode.UNAUTHENTICATED, 401, "unauthenticated"),
        (grpc.StatusCode.PERMISSION_DENIED, 403, "permission_denied"),
        (grpc.StatusCode.NOT_FOUND, 404, "not_found"),
        (grpc.StatusCode.ALREADY_EXISTS, 409, "conflict"),
        (grpc.StatusCode.ABORTED, 409, "conflict"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "rate_limited"),
        (grpc.StatusCode.UNIMPLEMENTED, 501, "not_implemented"),
        (grpc.StatusCode.UNKNOWN, 500, "internal"),
        (grpc.StatusCode.INTERNAL, 500, "internal"),
        (grpc.StatusCode.DATA_LOSS, 500, "internal"),
    ],
)
def test_bare_statuses_map_by_the_table(code: grpc.StatusCode, status: int, problem_code: str) -> None:
    problem = body(problems.from_rpc(rpc_error(code, "upstream said so")))
    assert (problem["status"], problem["code"]) == (status, problem_code)


def test_upstream_details_of_server_errors_are_not_shown() -> None:
    problem = body(problems.from_rpc(rpc_error(grpc.StatusCode.UNAVAILABLE, "failed to connect to 10.0.0.7:50052")))
    assert "10.0.0.7" not in json.dumps(problem)


def test_every_error_class_has_a_title() -> None:
    for cls in registered_errors():
        assert cls.code in problems.TITLES, cls
    for code in grpc.StatusCode:
        assert http_mapping(code)[1] in problems.TITLES, code


def test_an_error_info_reason_we_do_not_know_maps_by_the_grpc_code() -> None:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="NOT_A_REASON_OF_OURS", domain=ERROR_DOMAIN))
    status = rpc_status.to_status(status_pb2.Status(code=code_pb2.ABORTED, message="not yet", details=[info]))
    problem = body(problems.from_rpc(rpc_error(status.code, status.details, tuple(status.trailing_metadata))))
    assert (problem["status"], problem["code"], problem["detail"]) == (409, "conflict", "not yet")


def test_problem_codes_by_status_come_from_every_place_codes_are_chosen() -> None:
    assert problems.codes_for(404) == ["not_found", "not_ready"]
    # kit.errors, gateway.idempotency
    assert problems.codes_for(409) == ["conflict", "idempotency_key_in_use", "not_due_yet"]
    assert problems.codes_for(400) == ["failed_precondition", "out_of_range"]  # bare statuses only
    assert problems.codes_for(413) == ["payload_too_large"]  # the gateway's own, and kit.errors.PayloadTooLarge
    assert problems.codes_for(415) == ["unsupported_media_type"]
    assert problems.codes_for(422) == ["idempotency_key_reused", "validation_failed"]
    assert problems.codes_for(418) == []


def test_problem_carries_the_correlation_id() -> None:
    token = context.correlation_id.set("cid-123")
    try:
        assert body(problems.problem(404, "not_found"))["correlation_id"] == "cid-123"
    finally:
        context.correlation_id.reset(token)


def test_pydantic_errors_become_field_errors() -> None:
    with pytest.raises(ValidationError) as caught:
        schemas.ChoreBody.model_validate(
            {
                "title": "x",
                "points": 5000,
                "recurrence": {"kind": "once", "nope": 1},
                "assignment": {"strategy": "fixed"},
            }
        )
    validation = RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()])
    problem = body(problems.from_validation(validation))
    assert problem["status"] == 422
    assert problem["code"] == "validation_failed"
    fields = {e["field"]: e["message"] for e in problem["errors"]}
    assert fields["recurrence.nope"] == "unknown field"
    assert "points" in fields


def test_service_field_paths_become_json_field_names() -> None:
    error = InvalidArgument(
        "bad",
        [
            FieldViolation("user.time_zone", "unknown time zone"),
            FieldViolation("household.display_name", "required"),
            FieldViolation("recurrence.months", "1..12"),
            FieldViolation("photo", "required"),
            FieldViolation("start_time", "after end"),
        ],
    )
    fields = [e["field"] for e in body(problems.from_rpc(from_service(error)))["errors"]]
    assert fields == ["timezone", "name", "recurrence.months", "photo_id", "from"]
