"""The grpc.aio server interceptor: trace span, correlation id, RED metrics, errors, caller identity.

One interceptor, one handler wrapper per method, whose layers run in this order (outermost first):
OpenTelemetry span → correlation id and deadline → metrics → errors → auth. So an authentication failure is
still a proper `google.rpc.Status` and still counted, and every log line of the call carries its correlation
and trace ids.

Why one (issue 13): grpc.aio runs every interceptor's `intercept_service` on every call, and five of them,
each wrapping the handler anew with an `asynccontextmanager` scope, cost more than the cached ListChores
itself. The wrapper depends on the method only, so it is built once per method and kept; per call there
are the layers' own few statements, in plain try/except/finally.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeAlias, cast

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from prometheus_client import Counter, Histogram

from kit import context, outages
from kit.auth import TokenVerifier, bearer_token, scope_allows
from kit.errors import (
    ERROR_DOMAIN,
    FieldViolation,
    HearthError,
    InsufficientScope,
    Internal,
    InvalidArgument,
    PermissionDenied,
    Timeout,
    Unauthenticated,
    Unavailable,
    error_class,
)
from kit.text import printable

if TYPE_CHECKING:
    from kit.telemetry import MethodSpans, ServerSpans, Started

log = logging.getLogger("hearth.grpc")

CORRELATION_HEADER = "x-correlation-id"
# A correlation id the caller may choose (the gateway's rule): anything else — too long, or with characters
# that would forge log lines — is replaced by one of ours.
VALID_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
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

# Likewise for the base class of our server interceptors.
if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.aio.ServerInterceptor

_HEALTH = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})
# What the gateway forwards of the HTTP client (kit.context.Client), believed only with the gateway's own service
# token beside it: anyone else's call is recorded with its own peer address and user-agent.
GATEWAY_TOKEN_HEADER = "x-hearth-gateway-token"
CLIENT_IP_HEADER = "x-hearth-client-ip"
CLIENT_USER_AGENT_HEADER = "x-hearth-client-user-agent"
GATEWAY_SERVICE = "gateway"
# What is kept of a forwarded or reported User-Agent and address.
USER_AGENT_MAX = 500
IP_ADDRESS_MAX = 64
_PEER = re.compile(r"^ipv4:([0-9.]+):\d+$|^ipv6:\[([0-9A-Fa-f:.%]+)\]:\d+$")


def _reset(var: contextvars.ContextVar[Any], token: contextvars.Token[Any]) -> None:
    """Undo a `var.set` — unless the code ends in another context than it began (a server stream the client
    cancelled is closed by grpc.aio from a task of its own): that context and what it held go with its task."""
    with contextlib.suppress(ValueError):
        var.reset(token)


class _StatusAborter(Protocol):
    async def abort_with_status(self, status: grpc.Status) -> NoReturn: ...


async def _abort_with_status(ctx: Context, status: grpc.Status) -> NoReturn:
    """`ctx.abort_with_status(status)`: grpcio's aio ServicerContext has it, grpc-stubs 1.53 does not declare it."""
    await cast(_StatusAborter, ctx).abort_with_status(status)


def _metadata(metadata: Iterable[tuple[str, str | bytes]], key: str) -> str | None:
    """The first value of `key` in the call's metadata."""
    for k, v in metadata:
        if k == key:
            return v if isinstance(v, str) else v.decode()
    return None


def _split(method: str) -> tuple[str, str]:
    _, service, name = method.split("/", 2) if method.count("/") >= 2 else ("", "", method)
    return service, name


class ServerInterceptor(_ServerInterceptor):
    """Every RPC's plumbing, in the order of the module's docstring:

    - tracing: the call's SERVER span (`kit.telemetry.ServerSpans`; health and reflection untraced);
    - correlation: `x-correlation-id` from the caller when it is a valid one (else a new one) in
      `context.correlation_id`, the service's name in `context.service_name`, the call's absolute deadline in
      `deadline` (client calls made while serving it inherit it);
    - metrics: RED — requests by status code, latency histogram;
    - errors: domain exceptions → `google.rpc.Status` with ErrorInfo (+ BadRequest); a downstream call's
      failure → its error, passed on; a database outage → UNAVAILABLE (`kit.outages`); others → generic INTERNAL;
    - auth: verifies the bearer token and sets `context.caller`; methods not in `public` require one; a token
      exchanged for an API key calls only the methods whose scope (`option (hearth.options.v1.scope)`, see
      `kit.auth.method_scopes`) its key holds — any other is PERMISSION_DENIED, reason INSUFFICIENT_SCOPE;
    - client (`record_clients`): `context.client`, the device behind the call — the forwarded one when the gateway
      proves itself with its service token, the call's own peer and user-agent otherwise.

    Who may call what (DESIGN.md, "Trust between services"): an `internal` method (the proto option
    `hearth.user.v1.internal`, see `kit.auth.internal_methods`) takes only a service token meant for this
    service; every other method — user-facing, public ones included — refuses service tokens. A token of the
    wrong kind is PERMISSION_DENIED (the caller is known, it just may not call this); a missing, malformed,
    expired or foreign token is UNAUTHENTICATED.
    """

    def __init__(
        self,
        service: str,
        verifier: TokenVerifier,
        *,
        public: Iterable[str] = (),
        internal: Iterable[str] = (),
        scopes: dict[str, str] | None = None,
        spans: ServerSpans | None = None,
        record_clients: bool = False,
    ) -> None:
        self.service = service
        self.verifier = verifier
        self.public = frozenset(public) | _HEALTH
        self.internal = frozenset(internal)
        self.scopes = dict(scopes or {})
        self.record_clients = record_clients
        if self.public & self.internal:
            raise ValueError(f"methods both public and internal: {sorted(self.public & self.internal)}")
        self.spans = spans
        # method → (the handler as found, our wrapper of it): grpc.aio asks for the handler on every call.
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler: Handler | None = await continuation(details)
        if handler is None:
            return None
        method = details.method
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = _MethodPlumbing(self, method).wrap(handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped


@dataclass(slots=True)
class _Call:
    """What a call's outer layers (span, correlation, metrics) undo when it ends."""

    metadata: Iterable[tuple[str, str | bytes]]
    span: Started | None
    correlation: contextvars.Token[str]
    service: contextvars.Token[str]
    deadline: contextvars.Token[float | None]
    started: float


class _MethodPlumbing:
    """The layers of `ServerInterceptor` for one method, with all that depends on the method alone worked out
    once: its span settings, its metric series, whether it is public or internal."""

    def __init__(self, interceptor: ServerInterceptor, method: str) -> None:
        self.method = method
        self.service = interceptor.service
        self.verifier = interceptor.verifier
        self.is_public = method in interceptor.public or method.startswith("/grpc.reflection.")
        self.is_internal = method in interceptor.internal
        self.scope = interceptor.scopes.get(method, "")
        self.record_clients = interceptor.record_clients
        self.spans: MethodSpans | None = interceptor.spans.for_method(method) if interceptor.spans else None
        self.rpc_service, self.rpc_name = _split(method)
        self.ok = RPC_REQUESTS.labels(self.rpc_service, self.rpc_name, "OK")
        self.latency = RPC_LATENCY.labels(self.rpc_service, self.rpc_name)

    def wrap(self, handler: Handler) -> Handler:
        """`handler` with its behaviour run inside the layers, for unary and streaming responses."""
        handler = self._tolerant(handler)
        if handler.unary_unary or handler.stream_unary:
            field = "unary_unary" if handler.unary_unary else "stream_unary"
            inner = getattr(handler, field)

            async def unary(request: Any, ctx: Context) -> Any:
                call = self.enter(ctx)
                try:
                    response = await self.answer(inner, request, ctx, call.metadata)
                except BaseException as exc:
                    self.leave(call, ctx, exc)
                    raise
                self.leave(call, ctx, None)
                return response

            # At runtime a handler is a namedtuple; grpc-stubs declares a plain class without `_replace`.
            return handler._replace(**{field: unary})  # type: ignore[attr-defined,no-any-return]

        field = "unary_stream" if handler.unary_stream else "stream_stream"
        inner = getattr(handler, field)

        async def streaming(request: Any, ctx: Context) -> AsyncIterator[Any]:
            call = self.enter(ctx)
            try:
                async for item in self.answer_stream(inner, request, ctx, call.metadata):
                    yield item
            except BaseException as exc:
                self.leave(call, ctx, exc)
                raise
            self.leave(call, ctx, None)

        return handler._replace(**{field: streaming})  # type: ignore[attr-defined,no-any-return]  # as above

    @staticmethod
    def _tolerant(handler: Handler) -> Handler:
        """A unary request that does not decode reaches the behaviour as `UNDECODABLE` (answered INVALID_ARGUMENT
        by `answer`) instead of failing in grpc's own code, which answers UNKNOWN naming a Python exception."""
        decode = handler.request_deserializer
        if decode is None or handler.request_streaming:
            return handler

        def tolerant(data: bytes) -> Any:
            try:
                return decode(data)
            except Exception:
                return UNDECODABLE

        return handler._replace(request_deserializer=tolerant)  # type: ignore[attr-defined,no-any-return]

    # --- span, correlation, metrics: set up on the way in, undone on the way out ------------------------

    def enter(self, ctx: Context) -> _Call:
        metadata = ctx.invocation_metadata() or ()
        span = self.spans.start(ctx, metadata) if self.spans is not None else None
        given = _metadata(metadata, CORRELATION_HEADER)
        cid = given if given and VALID_CORRELATION_ID.fullmatch(given) else secrets.token_hex(16)
        remaining = ctx.time_remaining()
        return _Call(
            metadata,
            span,
            context.correlation_id.set(cid),
            context.service_name.set(self.service),
            deadline.set(time.monotonic() + remaining if remaining is not None else None),
            time.perf_counter(),
        )

    def leave(self, call: _Call, ctx: Context, error: BaseException | None) -> None:
        try:
            if error is None:
                self.ok.inc()
            else:
                code = ctx.code()
                name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
                RPC_REQUESTS.labels(self.rpc_service, self.rpc_name, name).inc()
            self.latency.observe(time.perf_counter() - call.started)
        finally:
            _reset(deadline, call.deadline)
            _reset(context.service_name, call.service)
            _reset(context.correlation_id, call.correlation)
            if call.span is not None:
                assert self.spans is not None
                # A stream closed by GeneratorExit is closed from another context (see _reset).
                self.spans.end(call.span, ctx, error, detach=not isinstance(error, GeneratorExit))

    # --- errors and auth: around the behaviour itself ------------------------------------------------------

    async def answer(self, behaviour: Any, request: Any, ctx: Context, metadata: Any) -> Any:
        try:
            caller = await self.admit(request, metadata)
            client = context.client.set(await self.client(ctx, metadata)) if self.record_clients else None
            try:
                return await behaviour(request, ctx)
            finally:
                if client is not None:
                    context.client.reset(client)
                if caller is not None:
                    context.caller.reset(caller)
        except (grpc.aio.AbortError, grpc.aio.UsageError):
            raise
        except Exception as exc:
            await self.fail(ctx, exc)

    async def answer_stream(self, behaviour: Any, request: Any, ctx: Context, metadata: Any) -> AsyncIterator[Any]:
        try:
            caller = await self.admit(request, metadata)
            try:
                responses = behaviour(request, ctx)
                if inspect.isasyncgen(responses):
                    async for item in responses:
                        yield item
                else:
                    # A handler that writes its responses itself (`ctx.write`, as grpc_health's Watch does).
                    await responses
            finally:
                if caller is not None:
                    _reset(context.caller, caller)
        except (grpc.aio.AbortError, grpc.aio.UsageError):
            raise
        except Exception as exc:
            await self.fail(ctx, exc)

    async def admit(self, request: Any, metadata: Any) -> contextvars.Token[context.Caller | None] | None:
        """Authenticate the call, then refuse a request that did not decode (so an anonymous caller learns nothing
        of it). The caller's token to reset, as `authenticate`."""
        caller = await self.authenticate(metadata)
        if request is UNDECODABLE:
            if caller is not None:
                context.caller.reset(caller)
            raise _undecodable(self.rpc_name)
        return caller

    async def authenticate(self, metadata: Any) -> contextvars.Token[context.Caller | None] | None:
        """Verify the call's bearer token and make its caller current (the token to reset); None without a token."""
        token = bearer_token(_metadata(metadata, "authorization"))
        if token is None:
            if not self.is_public:
                raise Unauthenticated("missing bearer token in the authorization metadata")
            return None
        caller = await self.verifier.verify(token)
        if self.is_internal and not caller.is_service:
            raise PermissionDenied("an internal method: only services may call it, with a service token")
        if caller.is_service and not self.is_internal:
            raise PermissionDenied("a service token is accepted on internal methods only")
        if caller.is_api_key and not scope_allows(caller.scopes, self.scope):
            raise InsufficientScope(
                f"this API key may not call {self.rpc_name}"
                + (f": it needs the scope {self.scope}" if self.scope else "; API keys cannot")
            )
        return context.caller.set(caller)

    async def client(self, ctx: Context, metadata: Any) -> context.Client:
        """The device behind the call: forwarded by the gateway (believed only with its valid service token), else
        the call's own peer address and user-agent."""
        forwarded_by = _metadata(metadata, GATEWAY_TOKEN_HEADER)
        if forwarded_by:
            try:
                proxy = await self.verifier.verify(forwarded_by)
            except Unauthenticated:
                proxy = None
            if proxy is not None and proxy.service == GATEWAY_SERVICE:
                return context.Client(
                    printable(_metadata(metadata, CLIENT_IP_HEADER) or "", IP_ADDRESS_MAX),
                    printable(_metadata(metadata, CLIENT_USER_AGENT_HEADER) or "", USER_AGENT_MAX),
                )
            log.warning("ignored a forwarded client: %s did not prove it is the gateway", self.rpc_name)
        peer = _PEER.match(ctx.peer() or "")
        address = (peer.group(1) or peer.group(2)) if peer else ""
        return context.Client(address, printable(_metadata(metadata, "user-agent") or "", USER_AGENT_MAX))

    async def fail(self, ctx: Context, exc: Exception) -> NoReturn:
        """Abort the call with the status `exc` stands for."""
        if isinstance(exc, HearthError):
            error = exc
        elif isinstance(exc, grpc.aio.AioRpcError):
            # A downstream call failed: pass its error on as ours (its status keeps the details).
            error = error_from_rpc(exc)
        else:
            error = _unexpected(self.method, exc)
        await _abort_with_status(ctx, to_grpc_status(error))


# A request message that did not decode (see `_MethodPlumbing._tolerant`).
UNDECODABLE = object()


def _undecodable(method: str) -> InvalidArgument:
    return InvalidArgument(f"the request is not a valid {method} request message")


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


# The status travels in trailers, which gRPC bounds (8 KiB by default): a request with a thousand bad fields must
# still get its error, not a RESOURCE_EXHAUSTED about metadata. So at most this many violations, and texts cut.
MAX_VIOLATIONS = 20
MAX_ERROR_TEXT = 500
# And the violations' texts together stay within this (base64 on the wire makes it ~1.4x): well inside 8 KiB.
MAX_DETAIL_BYTES = 4096


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


def to_grpc_status(exc: HearthError) -> grpc.Status:
    return rpc_status.to_status(to_rpc_status(exc))


def to_rpc_status(exc: HearthError) -> status_pb2.Status:
    """`exc` as a `google.rpc.Status`: ErrorInfo (our domain and reason) and BadRequest (its field violations, within
    MAX_VIOLATIONS and MAX_DETAIL_BYTES). What a failed call carries in its trailers, and what a batch RPC puts in
    the result of each item that failed (`error_of` reads it back)."""
    info = error_details_pb2.ErrorInfo(reason=exc.reason, domain=ERROR_DOMAIN, metadata=exc.metadata)
    details = [_pack(info)]
    if exc.violations:
        violations: list[error_details_pb2.BadRequest.FieldViolation] = []
        budget = MAX_DETAIL_BYTES
        for v in exc.violations[:MAX_VIOLATIONS]:
            field, message = _cut(v.field), _cut(v.message)
            budget -= len(field.encode()) + len(message.encode())
            if budget < 0 and violations:
                break
            violations.append(error_details_pb2.BadRequest.FieldViolation(field=field, description=message))
        if len(exc.violations) > len(violations):
            more = len(exc.violations) - len(violations)
            violations.append(
                error_details_pb2.BadRequest.FieldViolation(field="", description=f"and {more} more like these")
            )
        details.append(_pack(error_details_pb2.BadRequest(field_violations=violations)))
    code = getattr(code_pb2, exc.grpc_code.name)
    return status_pb2.Status(code=code, message=_cut(exc.message), details=details)


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
    return error_of(status, exc.code())


_CODES = {code.value[0]: code for code in grpc.StatusCode}


def error_of(status: status_pb2.Status, code: grpc.StatusCode | None = None) -> HearthError | None:
    """The `kit.errors` exception a `google.rpc.Status` names (`to_rpc_status`), or None; `code` (the failed call's)
    defaults to the status's own."""
    code = code if code is not None else _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
    reason, violations, metadata = "", [], {}
    for detail in status.details:
        # Unpack returns False when the detail holds another message type.
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            if info.domain == ERROR_DOMAIN:
                reason, metadata = info.reason, dict(info.metadata)
        elif detail.Unpack(bad):
            violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
    cls = error_class(reason, code) if reason else None
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
