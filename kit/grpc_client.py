"""Channels to other services: long-lived, traced, with deadlines, metadata forwarding and retries.

Every call made while serving a request carries that request's correlation id and the end user's bearer
token (authorization lives in the services, so the callee decides with the end user's identity) and
the smaller of its own timeout and the time left on the incoming deadline. Retries: only
idempotent methods (AIP standard Get*/List*), only on UNAVAILABLE, with exponential backoff,
via gRPC's service config.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from kit import context
from kit.interceptors import CORRELATION_HEADER, deadline
from kit.telemetry import Telemetry

DEFAULT_TIMEOUT = 5.0


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


# grpc-stubs makes the client interceptor classes generic; grpcio's are not subscriptable at runtime.
if TYPE_CHECKING:
    _UnaryUnary = grpc.aio.UnaryUnaryClientInterceptor[Any, Any]
    _UnaryStream = grpc.aio.UnaryStreamClientInterceptor[Any, Any]
else:
    _UnaryUnary = grpc.aio.UnaryUnaryClientInterceptor
    _UnaryStream = grpc.aio.UnaryStreamClientInterceptor


class _ForwardingInterceptor(_UnaryUnary, _UnaryStream):
    def __init__(self, default_timeout: float) -> None:
        self.default_timeout = default_timeout

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        cid = context.correlation_id.get()
        if cid and CORRELATION_HEADER not in metadata:
            metadata.add(CORRELATION_HEADER, cid)
        caller = context.caller.get()
        # A service caller's token is meant for this service alone (its audience): passing it on would hand the
        # next service a credential it could replay here. Background calls name their own (kit.service_tokens).
        if caller is not None and not caller.is_service and "authorization" not in metadata:
            metadata.add("authorization", f"Bearer {caller.token}")
        timeout = details.timeout if details.timeout is not None else self.default_timeout
        inherited = deadline.get()
        if inherited is not None:
            left = inherited - time.monotonic()
            if left <= 0:
                # Fail here: a zero timeout does not reliably stop gRPC from sending the call (with a retry
                # policy it reaches the server and may even succeed), doing work nobody waits for any more.
                raise grpc.aio.AioRpcError(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    grpc.aio.Metadata(),
                    grpc.aio.Metadata(),
                    "the deadline of the request being served has passed",
                    None,
                )
            timeout = min(timeout, left)
        return grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=timeout,
            metadata=metadata,
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )

    async def intercept_unary_unary(self, continuation: Any, details: grpc.aio.ClientCallDetails, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_unary_stream(self, continuation: Any, details: grpc.aio.ClientCallDetails, request: Any) -> Any:
        return await continuation(self._details(details), request)


def make_channel(
    target: str,
    *,
    telemetry: Telemetry | None = None,
    retry_methods: Iterable[tuple[str, str]] = (),
    default_timeout: float = DEFAULT_TIMEOUT,
) -> grpc.aio.Channel:
    # grpc-stubs leaves aio.ClientInterceptor an opaque placeholder that it says to cast to.
    interceptors = [cast(grpc.aio.ClientInterceptor, _ForwardingInterceptor(default_timeout))]
    if telemetry is not None:
        interceptors = [*telemetry.client_interceptors(), *interceptors]
    return grpc.aio.insecure_channel(
        target,
        interceptors=interceptors,
        options=[
            ("grpc.service_config", retry_service_config(retry_methods)),
            ("grpc.enable_retries", 1),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.max_receive_message_length", 12 * 1024 * 1024),
        ],
    )
