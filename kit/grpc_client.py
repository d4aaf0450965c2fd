"""Channels to other services: long-lived, traced, with deadlines, metadata forwarding and retries.

Every call made while serving a request carries that request's correlation id and the end user's bearer
token (authorization lives in the services, so the callee decides with the end user's identity) and
the smaller of its own timeout and the time left on the incoming deadline. Retries: only
idempotent methods (AIP standard Get*/List*), only on UNAVAILABLE, with exponential backoff,
via gRPC's service config.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Sequence
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from opentelemetry import trace

from kit import context
from kit.interceptors import CORRELATION_HEADER, deadline
from kit.telemetry import ClientMethodSpans, ClientSpans, Telemetry

DEFAULT_TIMEOUT = 5.0
# What `read()` answers at the end of a stream (grpc-stubs does not declare it).
_EOF: Any = getattr(grpc.aio, "EOF")  # noqa: B009


def idempotent_methods(*services: ServiceDescriptor) -> list[tuple[str, str]]:
    """(service, method) pairs of every standard read (Get*/List*) in `services`."""
    return [(svc.full_name, m.name) for svc in services for m in svc.methods if m.name.startswith(("Get", "List"))]


def retry_service_config(methods: Iterable[tuple[str, str]]) -> str:
    names = [{"service": s, "method": m} for s, m in methods]
    if not names:
        return json.dumps({})
    return json.dumps(
        {
            "methodConfig": [
                {
                    "name": names,
                    "retryPolicy": {
                        "maxAttempts": 4,
                        "initialBackoff": "0.05s",
                        "maxBackoff": "1s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ]
        }
    )


def _refusal() -> grpc.aio.AioRpcError:
    # A zero timeout does not reliably stop gRPC from sending the call (with a retry policy it reaches the
    # server and may even succeed), doing work nobody waits for any more: such a call fails here.
    return grpc.aio.AioRpcError(
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(),
        "the deadline of the request being served has passed",
        None,
    )


# Metadata a channel adds to every call (make_channel's `extra_metadata`).
ExtraMetadata = Callable[[], Sequence[tuple[str, str]]]


def _forwarded(
    timeout: float | None, metadata: Any, default_timeout: float
) -> tuple[float | None, list[tuple[str, Any]]]:
    """The timeout and metadata a call goes out with, or (None, []) when the incoming deadline has passed.

    The correlation id of the request being served and its end user's token are added unless the caller gave
    its own; the timeout is the caller's (else the channel's default), cut to the time left on the incoming
    deadline.
    """
    pairs: list[tuple[str, Any]] = list(metadata) if metadata else []
    cid = context.correlation_id.get()
    if cid and not (pairs and any(k == CORRELATION_HEADER for k, _ in pairs)):
        pairs.append((CORRELATION_HEADER, cid))
    caller = context.caller.get()
    # A service caller's token is meant for this service alone (its audience): passing it on would hand the
    # next service a credential it could replay here. Background calls name their own (kit.service_tokens).
    if caller is not None and not caller.is_service and not (pairs and any(k == "authorization" for k, _ in pairs)):
        pairs.append(("authorization", f"Bearer {caller.token}"))
    if timeout is None:
        timeout = default_timeout
    inherited = deadline.get()
    if inherited is not None:
        left = inherited - time.monotonic()
        if left <= 0:
            return None, []
        timeout = min(timeout, left)
    return timeout, pairs


async def _fail(error: grpc.aio.AioRpcError) -> Any:
    raise error


class _TracedUnaryCall:
    """A unary call whose CLIENT span ends when the call is awaited; anything else is the call's own."""

    __slots__ = ("_call", "_span")

    def __init__(self, call: Any, span: trace.Span) -> None:
        self._call = call
        self._span: trace.Span | None = span

    def __await__(self) -> Generator[Any, None, Any]:
        # The first await ends the span; a call awaited again answers as before, its span already told.
        span, self._span = self._span, None
        if span is None:
            return (yield from self._call.__await__())
        try:
            response = yield from self._call.__await__()
        except grpc.aio.AioRpcError as failed:
            ClientMethodSpans.failed(span, failed.code(), failed.details())
            raise
        except asyncio.CancelledError:
            ClientMethodSpans.failed(span, grpc.StatusCode.CANCELLED, "cancelled")
            raise
        finally:
            span.end()
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class _TracedStreamCall:
    """A unary-stream call whose CLIENT span ends with its stream (read to the end, failed or cancelled)."""

    __slots__ = ("_call", "_span")

    def __init__(self, call: Any, span: trace.Span) -> None:
        self._call = call
        self._span: trace.Span | None = span

    def _end(self, code: grpc.StatusCode, details: str | None) -> None:
        span, self._span = self._span, None
        if span is not None:
            if code is not grpc.StatusCode.OK:
                ClientMethodSpans.failed(span, code, details)
            span.end()

    async def _responses(self) -> AsyncIterator[Any]:
        try:
            async for response in self._call:
                yield response
        except grpc.aio.AioRpcError as failed:
            self._end(failed.code(), failed.details())
            raise
        except BaseException:
            self._end(grpc.StatusCode.CANCELLED, "cancelled")
            raise
        self._end(grpc.StatusCode.OK, None)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._responses()

    async def read(self) -> Any:
        try:
            response = await self._call.read()
        except grpc.aio.AioRpcError as failed:
            self._end(failed.code(), failed.details())
            raise
        except asyncio.CancelledError:
            self._end(grpc.StatusCode.CANCELLED, "cancelled")
            raise
        if response is _EOF:
            self._end(grpc.StatusCode.OK, None)
        return response

    def cancel(self) -> bool:
        cancelled: bool = self._call.cancel()
        self._end(grpc.StatusCode.CANCELLED, "cancelled")
        return cancelled

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class _MultiCallable:
    """One method of a `_Channel`: its calls forwarded (`_forwarded`) and traced (`spans`), built once per method."""

    __slots__ = ("_default_timeout", "_extra", "_inner", "_spans", "_traced_call")

    def __init__(
        self,
        inner: Any,
        spans: ClientMethodSpans | None,
        default_timeout: float,
        traced_call: type[Any],
        extra: ExtraMetadata | None = None,
    ) -> None:
        self._inner = inner
        self._spans = spans
        self._default_timeout = default_timeout
        self._traced_call = traced_call
        self._extra = extra

    def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Any = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Any:
        timeout, pairs = _forwarded(timeout, metadata, self._default_timeout)
        if self._extra is not None:
            pairs.extend(self._extra())
        spans = self._spans
        span = spans.start(pairs) if spans is not None else None
        if timeout is None:
            error = _refusal()
            if span is not None:
                ClientMethodSpans.refused(span, error)
                span.end()
            return _fail(error)
        try:
            call = self._inner(
                request,
                timeout=timeout,
                metadata=pairs,
                credentials=credentials,
                wait_for_ready=wait_for_ready,
                compression=compression,
            )
        except BaseException as exc:
            if span is not None:
                span.record_exception(exc)
                span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                span.end()
            raise
        return call if span is None else self._traced_call(call, span)


class _Channel(grpc.aio.Channel):
    """A grpc.aio channel whose unary-unary, unary-stream and stream-stream calls carry the request's plumbing and a
    span.

    Not interceptors (issue 13): grpc.aio runs every call of an intercepted channel as a chain of tasks
    (`InterceptedUnaryUnaryCall`), which cost the gateway more per request than the rest of a call. Here a
    method's callable is a plain wrapper of the channel's own, built once when a stub is; per call there are
    the forwarding's few statements and the span, and the call itself is gRPC's — retries (the service
    config), cancellation on `close`, and the call's API (`code()`, `trailing_metadata()`...) unchanged.
    Client-streaming (stream-unary) methods, which Hearth does not have, go out as they are.
    """

    def __init__(
        self,
        inner: grpc.aio.Channel,
        spans: ClientSpans | None,
        default_timeout: float,
        extra: ExtraMetadata | None = None,
    ) -> None:
        self._inner = inner
        self._spans = spans
        self._default_timeout = default_timeout
        self._extra = extra

    def _method_spans(self, method: str) -> ClientMethodSpans | None:
        return self._spans.for_method(method) if self._spans is not None else None

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        inner = self._inner.unary_unary(method, *args, **kwargs)
        return _MultiCallable(inner, self._method_spans(method), self._default_timeout, _TracedUnaryCall, self._extra)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        inner = self._inner.unary_stream(method, *args, **kwargs)
        return _MultiCallable(inner, self._method_spans(method), self._default_timeout, _TracedStreamCall, self._extra)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._inner.stream_unary(method, *args, **kwargs)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        # Read as a unary-stream call is (the photo upload's ready, then its photo); written through the call itself.
        inner = self._inner.stream_stream(method, *args, **kwargs)
        return _MultiCallable(inner, self._method_spans(method), self._default_timeout, _TracedStreamCall, self._extra)

    async def close(self, grace: float | None = None) -> None:
        await self._inner.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._inner.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._inner.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._inner.channel_ready()

    async def __aenter__(self) -> _Channel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._inner.close(None)


def make_channel(
    target: str,
    *,
    telemetry: Telemetry | None = None,
    retry_methods: Iterable[tuple[str, str]] = (),
    default_timeout: float = DEFAULT_TIMEOUT,
    extra_metadata: ExtraMetadata | None = None,
) -> grpc.aio.Channel:
    """`extra_metadata`: called on every call, its pairs added to the call's (the gateway forwards the HTTP
    client's address and User-Agent to the user service this way)."""
    inner = grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.service_config", retry_service_config(retry_methods)),
            ("grpc.enable_retries", 1),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.max_receive_message_length", 12 * 1024 * 1024),
        ],
    )
    return _Channel(inner, telemetry.client_spans() if telemetry is not None else None, default_timeout, extra_metadata)
