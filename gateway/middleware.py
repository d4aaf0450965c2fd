"""Per-request plumbing as plain ASGI middleware: correlation id, body size limit, RED metrics, security headers,
the access log.

Plain ASGI (not BaseHTTPMiddleware) so the correlation id set here is visible, through contextvars,
to the route, the logs and the gRPC client interceptor that forwards it to the services.
"""

from __future__ import annotations

import logging
import random
import re
import time
import uuid
from collections.abc import MutableMapping, Sequence
from typing import Any

from opentelemetry import trace
from prometheus_client import Counter, Gauge, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import deprecation
from gateway.identity import client_of
from gateway.problems import problem
from kit import context
from kit.interceptors import VALID_CORRELATION_ID

log = logging.getLogger("hearth.gateway")
# The access log (`_log_access`): its own logger, so it can be routed or silenced on its own.
access_log = logging.getLogger("hearth.access")

HEADER = "x-correlation-id"

REQUESTS = Counter("hearth_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "hearth_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

IN_FLIGHT = Gauge("hearth_http_requests_in_flight", "HTTP requests being served now")


class BodyTooLarge(Exception):
    pass


# On every response (OWASP secure headers): no MIME sniffing, never framed, no Referer leaks; HSTS for clients
# that reached us over HTTPS through the proxy in front (browsers ignore it on plain HTTP).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
# HTML is served by the API docs (Swagger UI and ReDoc, their scripts from the jsDelivr CDN, an inline bootstrap
# script) and the status page, which sets its own policy ('self' only); everything else gets one that allows nothing.
DOCS_CSP = (
    b"default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; style-src 'unsafe-inline' "
    b"https://cdn.jsdelivr.net https://fonts.googleapis.com; font-src https://fonts.gstatic.com; "
    b"img-src https://fastapi.tiangolo.com https://cdn.redoc.ly data:; connect-src 'self'; worker-src blob:; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
STRICT_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        large_bodies: Sequence[tuple[str, re.Pattern[str], int]] = (),
        hsts_max_age: int = 63_072_000,
        access_sample: float = 1.0,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # (method, path pattern, limit) of the routes whose bodies may be larger (a photo upload: 10 MiB and its
        # multipart framing); everything else gets max_body_bytes.
        self.large_bodies = tuple(large_bodies)
        self._access_sample = access_sample
        self._hsts = (
            ((b"strict-transport-security", f"max-age={hsts_max_age}; includeSubDomains".encode()),)
            if hsts_max_age > 0
            else ()
        )

    def _security_headers(self, headers: MutableHeaders) -> tuple[tuple[bytes, bytes], ...]:
        extra = SECURITY_HEADERS + self._hsts
        if "content-security-policy" in headers:
            pass  # a page with a policy of its own (the status page, gateway.status_page)
        elif headers.get("content-type", "").startswith("text/html"):
            extra += ((b"content-security-policy", DOCS_CSP),)
        else:
            extra += ((b"content-security-policy", STRICT_CSP),)
        return extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = headers.get(HEADER, "")
        cid = given if VALID_CORRELATION_ID.fullmatch(given) else uuid.uuid4().hex
        token = context.correlation_id.set(cid)
        # No caller until this request's own credentials say so. A request task starts from a copy of whatever
        # context created it, and uvicorn starts a request pipelined on a keep-alive connection from inside the
        # previous one's last send (its task, its context): without this, that request would begin as the previous
        # request's caller, and forward its token (an API key's exchange did, in the tests).
        caller_token = context.caller.set(None)
        # Where the request came from (after the trusted proxies' headers), forwarded to the user service.
        client = context.client.set(client_of(scope.get("client"), headers.get("user-agent", "")))
        started = time.perf_counter()
        status = 500
        response_started = False
        too_large = False
        route = ""
        IN_FLIGHT.inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started, route
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[HEADER] = cid
                # Routing is done by now: the template found here is the one the metrics and the log use too.
                route = _route(scope)
                message["headers"] = [
                    *message["headers"],
                    *self._security_headers(headers),
                    *deprecation.headers_for(route),
                ]
            await send(message)

        async def send_from_app(message: Message) -> None:
            # Once the body was cut off, whatever the app makes of the truncated request is replaced by 413.
            if not too_large:
                await send_with_id(message)

        received = 0
        max_body_bytes = self._body_limit(scope)

        async def receive_limited() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body_bytes:
                    too_large = True
                    raise BodyTooLarge
            return message

        try:
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
                await self._too_large(scope, receive, send_with_id, max_body_bytes)
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
                await self._too_large(scope, receive, send_with_id, max_body_bytes)
        finally:
            IN_FLIGHT.dec()
            route = route or _route(scope)  # no response started (a disconnect): look it up now
            elapsed = time.perf_counter() - started
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route, str(status)).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                self._log_access(scope, route, status, elapsed)
            context.caller.reset(caller_token)
            context.client.reset(client)
            context.correlation_id.reset(token)

    def _log_access(self, scope: Scope, route: str, status: int, elapsed: float) -> None:
        """One line per request: who did what with which outcome — never a token, a body or the raw path (ids in
        it are in the route template's place; the query string is left out, it may carry a search or a token).
        Errors (4xx and 5xx) are always logged; successes by `access_sample`."""
        if status < 400 and self._access_sample < 1 and random.random() >= self._access_sample:
            return
        caller = context.caller.get()
        client = scope.get("client")
        access_log.info(
            "%s %s %d",
            scope["method"],
            route,
            status,
            extra={
                "http_method": scope["method"],
                "http_route": route,
                "http_status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "user_id": caller.user_id if caller is not None else None,
                "client_ip": client[0] if client else None,
                # Also in the record itself, so a handler that formats later (a queue, a test) still has it.
                "correlation_id": context.correlation_id.get() or None,
            },
        )

    def _body_limit(self, scope: Scope) -> int:
        for method, path, limit in self.large_bodies:
            if scope["method"] == method and path.fullmatch(scope["path"]):
                return limit
        return self.max_body_bytes

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, max_body_bytes: int) -> None:
        response = problem(413, "payload_too_large", f"request bodies are limited to {max_body_bytes} bytes")
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
