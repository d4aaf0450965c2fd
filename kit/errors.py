"""One family of domain exceptions, each knowing its gRPC code, HTTP status and stable code string.

Services raise these; the error interceptor turns them into `google.rpc.Status` with an `ErrorInfo`
(and `BadRequest` field violations); the gateway turns the status back into problem+json. Nothing
else in the codebase maps errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import grpc

ERROR_DOMAIN = "hearth.dev"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    message: str


@dataclass
class HearthError(Exception):
    """Base of every error a caller may see. `message` is safe to show to the caller."""

    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    # ClassVar: per-class constants, not dataclass fields (a field's default would shadow the subclasses' values).
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN
    http_status: ClassVar[int] = 500
    # Stable machine string, the problem+json `code`; ErrorInfo.reason is its upper-case form.
    code: ClassVar[str] = "internal"

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def reason(self) -> str:
        return self.code.upper()


class InvalidArgument(HearthError):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 422
    code = "validation_failed"


class Unauthenticated(HearthError):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401
    code = "unauthenticated"


class PermissionDenied(HearthError):
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403
    code = "permission_denied"


class NotFound(HearthError):
    grpc_code = grpc.StatusCode.NOT_FOUND
    http_status = 404
    code = "not_found"


class AlreadyExists(HearthError):
    grpc_code = grpc.StatusCode.ALREADY_EXISTS
    http_status = 409
    code = "conflict"


class Conflict(HearthError):
    """A concurrent change or a state that forbids the operation (e.g. a balance below zero)."""

    grpc_code = grpc.StatusCode.ABORTED
    http_status = 409
    code = "conflict"


class PreconditionFailed(HearthError):
    """An `etag` / If-Match that no longer matches."""

    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 412
    code = "precondition_failed"


class Gone(HearthError):
    """A resource that existed but may no longer be used (an expired or spent invite code)."""

    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 410
    code = "gone"


class RateLimited(HearthError):
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429
    code = "rate_limited"


class Unavailable(HearthError):
    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_status = 503
    code = "unavailable"


class Timeout(HearthError):
    """A call (usually to another service) did not finish before its deadline."""

    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED
    http_status = 504
    code = "timeout"


class Internal(HearthError):
    grpc_code = grpc.StatusCode.INTERNAL
    http_status = 500
    code = "internal"


def invalid(field_name: str, message: str) -> InvalidArgument:
    """Shorthand for the common single-field validation error."""
    return InvalidArgument(f"{field_name}: {message}", [FieldViolation(field_name, message)])


# gRPC code → HTTP status, for statuses that carry no ErrorInfo we know (STYLE.md's one table).
GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

# Every concrete error class. Two share a reason (AlreadyExists and Conflict are both "CONFLICT", told
# apart by their gRPC code), so reading an error back goes by (reason, code): see `error_class`.
ALL_ERRORS: tuple[type[HearthError], ...] = (
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    AlreadyExists,
    Conflict,
    PreconditionFailed,
    Gone,
    RateLimited,
    Unavailable,
    Timeout,
    Internal,
)

# ErrorInfo.reason → the error class (the first with that reason), for "is this one of ours?".
ERRORS_BY_REASON: dict[str, type[HearthError]] = {}
for _cls in ALL_ERRORS:
    ERRORS_BY_REASON.setdefault(_cls.code.upper(), _cls)

_ERRORS_BY_REASON_AND_CODE: dict[tuple[str, grpc.StatusCode], type[HearthError]] = {
    (cls.code.upper(), cls.grpc_code): cls for cls in ALL_ERRORS
}


def error_class(reason: str, code: grpc.StatusCode) -> type[HearthError] | None:
    """The class a status with this ErrorInfo reason and gRPC code came from, so a status read back from a
    call is the same exception again (a Conflict stays a Conflict, not an AlreadyExists); None if unknown."""
    return _ERRORS_BY_REASON_AND_CODE.get((reason, code)) or ERRORS_BY_REASON.get(reason)
