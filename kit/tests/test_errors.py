"""kit.errors: the classes register themselves, and every gRPC → HTTP answer is derived from them."""

from __future__ import annotations

import grpc
import pytest

from kit import errors
from kit.errors import HearthError, error_class, http_mapping, registered_errors

# (class, gRPC code, HTTP status, problem code, owns its bare gRPC code) — the errors every caller relies on.
CLASSES = [
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, 422, "validation_failed", True),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED, 401, "unauthenticated", True),
    (errors.MfaRequired, grpc.StatusCode.UNAUTHENTICATED, 401, "mfa_required", False),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED, 403, "permission_denied", True),
    (errors.InsufficientScope, grpc.StatusCode.PERMISSION_DENIED, 403, "insufficient_scope", False),
    (errors.ReauthenticationRequired, grpc.StatusCode.PERMISSION_DENIED, 403, "reauthentication_required", False),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND, 404, "not_found", True),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS, 409, "conflict", True),
    (errors.Conflict, grpc.StatusCode.ABORTED, 409, "conflict", True),
    (errors.PreconditionFailed, grpc.StatusCode.FAILED_PRECONDITION, 412, "precondition_failed", False),
    (errors.Gone, grpc.StatusCode.FAILED_PRECONDITION, 410, "gone", False),
    (errors.NotDueYet, grpc.StatusCode.FAILED_PRECONDITION, 409, "not_due_yet", False),
    (errors.PayloadTooLarge, grpc.StatusCode.INVALID_ARGUMENT, 413, "payload_too_large", False),
    (errors.UnsupportedMediaType, grpc.StatusCode.INVALID_ARGUMENT, 415, "unsupported_media_type", False),
    (errors.NotReady, grpc.StatusCode.NOT_FOUND, 404, "not_ready", False),
    (errors.RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "rate_limited", True),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE, 503, "unavailable", True),
    (errors.Timeout, grpc.StatusCode.DEADLINE_EXCEEDED, 504, "timeout", True),
    (errors.Internal, grpc.StatusCode.INTERNAL, 500, "internal", True),
]

# A failed call without our ErrorInfo, by its gRPC code: the HTTP answer the gateway has always given.
BARE = {
    grpc.StatusCode.CANCELLED: (499, "cancelled"),
    grpc.StatusCode.UNKNOWN: (500, "internal"),
    grpc.StatusCode.INVALID_ARGUMENT: (422, "validation_failed"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "timeout"),
    grpc.StatusCode.NOT_FOUND: (404, "not_found"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "conflict"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "permission_denied"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "rate_limited"),
    grpc.StatusCode.FAILED_PRECONDITION: (400, "failed_precondition"),
    grpc.StatusCode.ABORTED: (409, "conflict"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "out_of_range"),
    grpc.StatusCode.UNIMPLEMENTED: (501, "not_implemented"),
    grpc.StatusCode.INTERNAL: (500, "internal"),
    grpc.StatusCode.UNAVAILABLE: (503, "unavailable"),
    grpc.StatusCode.DATA_LOSS: (500, "internal"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "unauthenticated"),
}


def test_every_class_registered_itself_in_definition_order() -> None:
    assert registered_errors() == tuple(cls for cls, *_ in CLASSES)


@pytest.mark.parametrize(("cls", "grpc_code", "http_status", "code", "owns"), CLASSES)
def test_each_class_knows_its_codes(
    cls: type[HearthError], grpc_code: grpc.StatusCode, http_status: int, code: str, owns: bool
) -> None:
    assert (cls.grpc_code, cls.http_status, cls.code, cls.owns_grpc_code) == (grpc_code, http_status, code, owns)
    error = cls("message")
    assert error.reason == code.upper()
    assert str(error) == "message"
    # Read back by (reason, gRPC code): the same class, even where two share a reason.
    assert error_class(error.reason, grpc_code) is cls


def test_the_bare_status_mapping_is_derived_and_unchanged() -> None:
    assert {code: http_mapping(code) for code in grpc.StatusCode if code != grpc.StatusCode.OK} == BARE


def test_a_bare_code_maps_as_the_class_that_owns_it() -> None:
    for cls, grpc_code, http_status, code, owns in CLASSES:
        if owns:
            assert http_mapping(grpc_code) == (http_status, code), cls
    # The classes that only their reason names do not capture the shared code.
    assert http_mapping(grpc.StatusCode.FAILED_PRECONDITION) == (400, "failed_precondition")


def test_a_reason_alone_finds_the_first_class_with_it() -> None:
    # A CONFLICT that arrives with a code neither class uses is still a conflict, not unknown.
    assert error_class("CONFLICT", grpc.StatusCode.UNKNOWN) is errors.AlreadyExists
    assert error_class("GONE", grpc.StatusCode.UNKNOWN) is errors.Gone
    assert error_class("NO_SUCH_REASON", grpc.StatusCode.NOT_FOUND) is None


def _define(**attributes: object) -> type[HearthError]:
    return type("Refused", (HearthError,), dict(attributes))


@pytest.mark.parametrize(
    ("attributes", "complaint"),
    [
        # Would be read back as NotFound (or NotFound as it): ambiguous.
        ({"grpc_code": grpc.StatusCode.NOT_FOUND, "http_status": 404, "code": "not_found"}, "both travel as"),
        # FAILED_PRECONDITION is in the list of codes no class owns; a class must leave it to its reason.
        ({"grpc_code": grpc.StatusCode.FAILED_PRECONDITION, "http_status": 409, "code": "busy"}, "owns_grpc_code"),
        ({"grpc_code": grpc.StatusCode.ABORTED, "http_status": 409, "code": "Not-Due"}, "snake_case"),
        ({"grpc_code": grpc.StatusCode.ABORTED, "http_status": 200, "code": "fine"}, "HTTP error status"),
    ],
)
def test_a_class_that_would_make_errors_ambiguous_is_refused_at_definition(
    attributes: dict[str, object], complaint: str
) -> None:
    before = registered_errors()
    with pytest.raises(TypeError, match=complaint):
        _define(**attributes)
    assert registered_errors() == before
    assert http_mapping(grpc.StatusCode.FAILED_PRECONDITION) == (400, "failed_precondition")


def test_field_violations_and_metadata_travel_with_the_error() -> None:
    error = errors.invalid("page_size", "must not be negative")
    assert error.message == "page_size: must not be negative"
    assert error.violations == [errors.FieldViolation("page_size", "must not be negative")]
    assert errors.Conflict("x", metadata={"balance": "3"}).metadata == {"balance": "3"}
