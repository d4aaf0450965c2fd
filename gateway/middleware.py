"""Per-request plumbing as plain ASGI middleware: correlation id, body size limit, RED metrics.

Plain ASGI (not BaseHTTPMiddleware) so the correlation id set here is visible, through contextvars,
to the route, the logs and the gRPC client interceptor that forwards it to the services.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

from opentelemetry import trace
from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.problems import problem
from kit import context
from kit.interceptors import VALID_CORRELATION_ID

log = logging.getLogger("hearth.gateway")

HEADER = "x-correlation-id"

REQUESTS = Counter("hearth_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "hearth_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class BodyTooLarge(Exception):
    pass


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = headers.get(HEADER, "")
        cid = given if VALID_CORRELATION_ID.fullmatch(given) else uuid.uuid4().hex
        token = context.correlation_id.set(cid)
        started = time.perf_counter()
        status = 500
        response_started = False
        too_large = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = cid
            await send(message)

        async def send_from_app(message: Message) -> None:
            # Once the body was cut off, whatever the app makes of the truncated request is replaced by 413.
            if not too_large:
                await send_with_id(message)

        received = 0

        async def receive_limited() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    raise BodyTooLarge
            return message

        try:
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                await self._too_large(scope, receive, send_with_id)
                return
            try:
                await self.app(scope, receive_limited, send_from_app)
            except Exception as exc:
                if response_started:
                    raise
                if not too_large:
                    span = trace.get_current_span()
                    span.record_exception(exc)
                    span.set_status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
                    # Rendered here, inside the correlation scope, so even a 500 carries the id.
                    log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                    await problem(500, "internal", "something went wrong on our side")(scope, receive, send_with_id)
            if too_large and not response_started:
                await self._too_large(scope, receive, send_with_id)
        finally:
            route = _route(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route, str(status)).observe(time.perf_counter() - started)
            context.correlation_id.reset(token)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "payload_too_large", f"request bodies are limited to {self.max_body_bytes} bytes")
        await response(scope, receive, send)


def _route(scope: MutableMapping[str, Any]) -> str:
    """The route template (`/api/v1/households/{hid}`), never the raw path: bounded label values.

    FastAPI 0.16x resolves included routers lazily and records the matched route, prefix included,
    as its "effective route context" in `scope["fastapi"]`; `scope["route"]` then holds the router's
    own route without the prefix. Routes on the app itself (docs, openapi) only set `scope["route"]`.
    """
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    template = getattr(effective, "path_format", None)
    if not template:
        route = scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template or "unmatched")
