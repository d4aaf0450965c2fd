"""grpc.aio server interceptors: correlation id, caller identity, errors, RED metrics.

Order in `build_server` (outermost first): OpenTelemetry → correlation → metrics → errors → auth,
so an authentication failure is still a proper `google.rpc.Status` and still counted.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeAlias, cast

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from prometheus_client import Counter, Histogram

from kit import context, outages
from kit.auth import TokenVerifier, bearer_token
from kit.errors import (
    ERROR_DOMAIN,
    FieldViolation,
    HearthError,
    Internal,
    PermissionDenied,
    Timeout,
    Unauthenticated,
    Unavailable,
    error_class,
)

log = logging.getLogger("hearth.grpc")

CORRELATION_HEADER = "x-correlation-id"
# Absolute monotonic deadline of the RPC being served; client calls made while serving it inherit it.
deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)

RPC_REQUESTS = Counter("hearth_grpc_server_requests_total", "gRPC calls served", ["service", "method", "code"])
RPC_LATENCY = Histogram(
    "hearth_grpc_server_duration_seconds",
    "gRPC call latency",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
# A string: grpc-stubs makes RpcMethodHandler generic, grpcio's class is not subscriptable at runtime.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Scope: TypeAlias = Callable[[Any, Context], AbstractAsyncContextManager[None]]

# Likewise for the base class of our server interceptors.
if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.aio.ServerInterceptor


class _StatusAborter(Protocol):
    async def abort_with_status(self, status: grpc.Status) -> NoReturn: ...


async def _abort_with_status(ctx: Context, status: grpc.Status) -> NoReturn:
    """`ctx.abort_with_status(status)`: grpcio's aio ServicerContext has it, grpc-stubs 1.53 does not declare it."""
    await cast(_StatusAborter, ctx).abort_with_status(status)


def _wrap(handler: Handler | None, scope: Scope) -> Handler | None:
    """Return `handler` with its behaviour run inside `scope(request, ctx)`, for unary and streaming responses."""
    if handler is None:
        return None
    if handler.unary_unary or handler.stream_unary:
        field = "unary_unary" if handler.unary_unary else "stream_unary"
        inner = getattr(handler, field)

        async def unary(request: Any, ctx: Context) -> Any:
            async with scope(request, ctx):
                return await inner(request, ctx)

        # At runtime a handler is a namedtuple; grpc-stubs declares a plain class without `_replace`.
        return handler._replace(**{field: unary})  # type: ignore[attr-defined,no-any-return]

    field = "unary_stream" if handler.unary_stream else "stream_stream"
    inner = getattr(handler, field)

    async def streaming(request: Any, ctx: Context) -> AsyncIterator[Any]:
        async with scope(request, ctx):
            async for item in inner(request, ctx):
                yield item

    return handler._replace(**{field: streaming})  # type: ignore[attr-defined,no-any-return]  # as above


def _metadata(ctx: Context, key: str) -> str | None:
    for k, v in ctx.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else v.decode()
    return None


def _split(method: str) -> tuple[str, str]:
    _, service, name = method.split("/", 2) if method.count("/") >= 2 else ("", "", method)
    return service, name


class CorrelationInterceptor(_ServerInterceptor):
    """Takes `x-correlation-id` from the caller (or makes one), and records the call's deadline."""

    def __init__(self, service: str) -> None:
        self.service = service

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        @asynccontextmanager
        async def scope(request: Any, ctx: Context) -> AsyncIterator[None]:
            cid = _metadata(ctx, CORRELATION_HEADER) or uuid.uuid4().hex
            remaining = ctx.time_remaining()
            tokens = (
                context.correlation_id.set(cid),
                context.service_name.set(self.service),
                deadline.set(time.monotonic() + remaining if remaining is not None else None),
            )
            try:
                yield
            finally:
                context.correlation_id.reset(tokens[0])
                context.service_name.reset(tokens[1])
                deadline.reset(tokens[2])

        return _wrap(await continuation(details), scope)


class AuthInterceptor(_ServerInterceptor):
    """Verifies the bearer token and sets `context.caller`; methods not in `public` require one.

    Who may call what (DESIGN.md, "Trust between services"): an `internal` method (the proto option
    `hearth.user.v1.internal`, see `kit.auth.internal_methods`) takes only a service token meant for this
    service; every other method — user-facing, public ones included — refuses service tokens. A token of the
    wrong kind is PERMISSION_DENIED (the caller is known, it just may not call this); a missing, malformed,
    expired or foreign token is UNAUTHENTICATED.
    """

    def __init__(self, verifier: TokenVerifier, public: Iterable[str] = (), internal: Iterable[str] = ()) -> None:
        self.verifier = verifier
        self.public = frozenset(public) | {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"}
        self.internal = frozenset(internal)
        if self.public & self.internal:
            raise ValueError(f"methods both public and internal: {sorted(self.public & self.internal)}")

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        method = details.method
        is_public = method in self.public or method.startswith("/grpc.reflection.")
        is_internal = method in self.internal

        @asynccontextmanager
        async def scope(request: Any, ctx: Context) -> AsyncIterator[None]:
            token = bearer_token(_metadata(ctx, "authorization"))
            if token is None:
                if not is_public:
                    raise Unauthenticated("missing bearer token in the authorization metadata")
                yield
                return
            caller = await self.verifier.verify(token)
            if is_internal and not caller.is_service:
                raise PermissionDenied("an internal method: only services may call it, with a service token")
            if caller.is_service and not is_internal:
                raise PermissionDenied("a service token is accepted on internal methods only")
            reset = context.caller.set(caller)
            try:
                yield
            finally:
                context.caller.reset(reset)

        return _wrap(await continuation(details), scope)


class ErrorInterceptor(_ServerInterceptor):
    """Domain exceptions → `google.rpc.Status` with ErrorInfo (+ BadRequest); a database outage → UNAVAILABLE
    (`kit.outages`); others → generic INTERNAL."""

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        method = details.method

        @asynccontextmanager
        async def scope(request: Any, ctx: Context) -> AsyncIterator[None]:
            try:
                yield
            except HearthError as exc:
                await _abort_with_status(ctx, to_grpc_status(exc))
            except (grpc.aio.AbortError, grpc.aio.UsageError):
                raise
            except grpc.aio.AioRpcError as exc:
                # A downstream call failed: pass its error on as ours (its status keeps the details).
                await _abort_with_status(ctx, to_grpc_status(error_from_rpc(exc)))
            except Exception as exc:
                await _abort_with_status(ctx, to_grpc_status(_unexpected(method, exc)))

        return _wrap(await continuation(details), scope)


def _unexpected(method: str, exc: Exception) -> HearthError:
    """What the caller gets for an exception that is not ours: UNAVAILABLE for a database outage, else INTERNAL.

    An outage is expected operations, not a bug: one WARNING line per request, no stack (`kit.outages`).
    Anything else logs its stack trace; the caller sees a generic message either way.
    """
    outage = outages.database_outage(exc)
    if outage is not None:
        log.warning("database unavailable in %s: %s", method, outages.describe(outage))
        return outages.unavailable()
    log.exception("unhandled error in %s", method, exc_info=exc)
    return Internal("internal error")


class MetricsInterceptor(_ServerInterceptor):
    """RED metrics per RPC: requests by status code, latency histogram."""

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        service, name = _split(details.method)

        @asynccontextmanager
        async def scope(request: Any, ctx: Context) -> AsyncIterator[None]:
            start = time.perf_counter()
            code = "OK"
            try:
                yield
            except BaseException:
                code = ctx.code().name if isinstance(ctx.code(), grpc.StatusCode) else "UNKNOWN"
                raise
            finally:
                RPC_REQUESTS.labels(service, name, code).inc()
                RPC_LATENCY.labels(service, name).observe(time.perf_counter() - start)

        return _wrap(await continuation(details), scope)


def to_grpc_status(exc: HearthError) -> grpc.Status:
    info = error_details_pb2.ErrorInfo(reason=exc.reason, domain=ERROR_DOMAIN, metadata=exc.metadata)
    details = [_pack(info)]
    if exc.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.message)
                for v in exc.violations
            ]
        )
        details.append(_pack(bad))
    code = getattr(code_pb2, exc.grpc_code.name)
    return rpc_status.to_status(status_pb2.Status(code=code, message=exc.message, details=details))


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def status_details(exc: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The `google.rpc.Status` a failed call carries in its trailers (`rpc_status.from_call`), or None.

    None too for a trailer that is not a Status, or one whose code or message disagree with the call's
    own (rpc_status refuses those): something between the service and us rewrote the status, so its
    details are not the service's word.
    """
    try:
        # from_call reads only code(), details() and trailing_metadata(), which an aio error has; grpc-stubs
        # declares it for the sync grpc.Call.
        status: status_pb2.Status | None = rpc_status.from_call(cast(grpc.Call, exc))
    except (ValueError, DecodeError) as unusable:
        log.warning("ignoring the status details of a %s call: %s", exc.code().name, unusable)
        return None
    return status


def carried_error(exc: grpc.aio.AioRpcError) -> HearthError | None:
    """The `kit.errors` exception a failed call carries, as the service raised it; None if it carries none.

    The one place where error details are decoded: a service passing a downstream failure on
    (`error_from_rpc`) and the gateway rendering problem+json both read a failed call through it. Only an
    `ErrorInfo` of our domain with a reason we know names an exception; its `BadRequest` field violations
    and metadata come along.
    """
    status = status_details(exc)
    if status is None:
        return None
    reason, violations, metadata = "", [], {}
    for detail in status.details:
        # Unpack returns False when the detail holds another message type.
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            if info.domain == ERROR_DOMAIN:
                reason, metadata = info.reason, dict(info.metadata)
        elif detail.Unpack(bad):
            violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
    cls = error_class(reason, exc.code()) if reason else None
    return cls(status.message, violations, metadata) if cls is not None else None


def error_from_rpc(exc: grpc.aio.AioRpcError) -> HearthError:
    """The domain exception a failed call carried (our ErrorInfo reason), passed on unchanged.

    A failure without an ErrorInfo of our domain was raised by gRPC itself or by something that is not
    ours (a refused connection, a deadline, a proxy): its details name addresses and internals, so they
    go to the log only and the caller gets a generic error — a timeout for DEADLINE_EXCEEDED, unavailable
    for UNAVAILABLE, internal otherwise.
    """
    carried = carried_error(exc)
    if carried is not None:
        return carried
    log.warning("downstream call failed: %s %s", exc.code().name, exc.details())
    generic = _GENERIC.get(exc.code())
    return generic() if generic is not None else Internal("internal error")


_GENERIC: dict[grpc.StatusCode, Callable[[], HearthError]] = {
    grpc.StatusCode.DEADLINE_EXCEEDED: lambda: Timeout("a backend service timed out"),
    grpc.StatusCode.UNAVAILABLE: lambda: Unavailable("a backend service is unavailable"),
}
