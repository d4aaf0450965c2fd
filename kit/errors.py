"""One family of domain exceptions, each knowing its gRPC code, HTTP status and stable code string.

Services raise these; the error interceptor turns them into `google.rpc.Status` with an `ErrorInfo`
(and `BadRequest` field violations); the gateway turns the status back into problem+json. Nothing
else in the codebase maps errors.

Every class registers itself when it is defined (`HearthError.__init_subclass__`, as
python-api-core's exceptions do with a metaclass), so reading a status back (`error_class`) and
mapping a bare gRPC status to HTTP (`http_mapping`) are derived from these classes, never kept in a
second table beside them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import grpc

ERROR_DOMAIN = "hearth.dev"

# gRPC codes that no class stands for: nothing of ours raises them, but gRPC itself or a proxy may
# answer with them. (HTTP status, problem code) for a call that failed with one and no ErrorInfo of ours.
_CODES_NO_CLASS_OWNS: dict[grpc.StatusCode, tuple[int, str]] = {
    # A state precondition in general (AIP-193); ours are told apart by reason: PreconditionFailed, Gone.
    grpc.StatusCode.FAILED_PRECONDITION: (400, "failed_precondition"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "out_of_range"),
    # The de facto "client closed request" status (nginx); the caller no longer waits for the answer.
    grpc.StatusCode.CANCELLED: (499, "cancelled"),
    grpc.StatusCode.UNIMPLEMENTED: (501, "not_implemented"),
}
# Problem codes are path segments of the problem `type` URL and the lower-case form of ErrorInfo.reason.
_CODE_SHAPE = re.compile(r"^[a-z][a-z0-9_]*$")

# The registry, filled by HearthError.__init_subclass__ (see `_register`).
_BY_REASON_AND_CODE: dict[tuple[str, grpc.StatusCode], type[HearthError]] = {}
_BY_REASON: dict[str, type[HearthError]] = {}
_OWNER_OF_CODE: dict[grpc.StatusCode, type[HearthError]] = {}


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
    # Whether a failed call with `grpc_code` and no ErrorInfo of ours may be taken for this class (see
    # `http_mapping`); the first class defined with a code owns it (a subclass of Conflict with its own
    # reason leaves ABORTED to Conflict). False where the code means more than this error, so only the
    # reason can name the class: FAILED_PRECONDITION is 412 only as PRECONDITION_FAILED.
    owns_grpc_code: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _register(cls)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def reason(self) -> str:
        return self.code.upper()


def _register(cls: type[HearthError]) -> None:
    """Record `cls` for reading statuses back; refuse (TypeError, at import) a class that would make that ambiguous.

    Everything is checked before anything is recorded, so a refused class leaves the registry as it was.
    """
    reason = cls.code.upper()
    if not _CODE_SHAPE.match(cls.code):
        raise TypeError(f"{cls.__qualname__}.code {cls.code!r} is not a lower-case snake_case problem code")
    if not 400 <= cls.http_status <= 599:
        raise TypeError(f"{cls.__qualname__}.http_status {cls.http_status} is not an HTTP error status")
    taken = _BY_REASON_AND_CODE.get((reason, cls.grpc_code))
    if taken is not None:
        raise TypeError(
            f"{cls.__qualname__} and {taken.__qualname__} both travel as {cls.grpc_code.name} with reason {reason}:"
            " a status could not be read back as the one that was raised"
        )
    if cls.owns_grpc_code and cls.grpc_code in _CODES_NO_CLASS_OWNS:
        raise TypeError(
            f"{cls.__qualname__} claims a bare {cls.grpc_code.name}, which is mapped as a code no class owns;"
            " set owns_grpc_code = False and let the reason name it"
        )
    if cls.owns_grpc_code:
        _OWNER_OF_CODE.setdefault(cls.grpc_code, cls)
    _BY_REASON_AND_CODE[(reason, cls.grpc_code)] = cls
    # Two classes may share a reason (AlreadyExists and Conflict are both CONFLICT, told apart by their
    # gRPC code): by reason alone, the first defined answers.
    _BY_REASON.setdefault(reason, cls)


class InvalidArgument(HearthError):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 422
    code = "validation_failed"


class Unauthenticated(HearthError):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401
    code = "unauthenticated"


class MfaRequired(Unauthenticated):
    """The password was right, but the account has a second factor and no valid, unused code came with it."""

    code = "mfa_required"
    owns_grpc_code = False


class PermissionDenied(HearthError):
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403
    code = "permission_denied"


class InsufficientScope(PermissionDenied):
    """An API key's token calling outside the key's scopes (RFC 6750's error name)."""

    code = "insufficient_scope"
    owns_grpc_code = False


class ReauthenticationRequired(PermissionDenied):
    """A change to credentials (password, email, MFA) needs a recent sign-in or the password in the request."""

    code = "reauthentication_required"
    owns_grpc_code = False


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
    owns_grpc_code = False


class Gone(HearthError):
    """A resource that existed but may no longer be used (an expired or spent invite code)."""

    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 410
    code = "gone"
    owns_grpc_code = False


class NotDueYet(HearthError):
    """A recurring chore's next occurrence is not open yet: the schedule cannot be run ahead of (services.task
    scheduling's window), so a chore's points cannot be farmed by completing it again and again."""

    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 409
    code = "not_due_yet"
    owns_grpc_code = False


class PayloadTooLarge(HearthError):
    """More bytes than the method takes (a photo over 10 MiB): a field's value too long, but REST answers 413."""

    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 413
    code = "payload_too_large"
    owns_grpc_code = False


class UnsupportedMediaType(HearthError):
    """Content of a kind the method does not take (an upload that is not a JPEG, PNG or WebP image)."""

    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 415
    code = "unsupported_media_type"
    owns_grpc_code = False


class NotReady(HearthError):
    """A resource that will exist but does not yet (a photo's thumbnail before the worker made it): ask again later."""

    grpc_code = grpc.StatusCode.NOT_FOUND
    http_status = 404
    code = "not_ready"
    owns_grpc_code = False


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


def registered_errors() -> tuple[type[HearthError], ...]:
    """Every error class defined so far, in the order they were defined."""
    return tuple(_BY_REASON_AND_CODE.values())


def error_class(reason: str, code: grpc.StatusCode) -> type[HearthError] | None:
    """The class a status with this ErrorInfo reason and gRPC code came from, so a status read back from a
    call is the same exception again (a Conflict stays a Conflict, not an AlreadyExists); None if unknown."""
    return _BY_REASON_AND_CODE.get((reason, code)) or _BY_REASON.get(reason)


def http_mapping(code: grpc.StatusCode) -> tuple[int, str]:
    """(HTTP status, problem code) of a call that failed with `code` and no ErrorInfo of ours.

    The class that owns the code answers (NOT_FOUND → NotFound → 404 `not_found`); codes no class owns
    have their own small list; anything else (UNKNOWN, DATA_LOSS) is a 500 `internal`. A status that
    does carry our ErrorInfo is rendered from the class its reason names instead (`error_class`), which
    is how FAILED_PRECONDITION becomes 412 or 410.
    """
    owner = _OWNER_OF_CODE.get(code)
    if owner is not None:
        return owner.http_status, owner.code
    return _CODES_NO_CLASS_OWNS.get(code, (Internal.http_status, Internal.code))
