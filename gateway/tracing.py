"""The gateway's server span per request: OpenTelemetry's ASGI middleware, named by a route table built once.

FastAPIInstrumentor names each span by matching the request against every route of the app in turn, on every
request (`_get_route_details`: ~5 % of the gateway's CPU on GET chores in the issue-13 profile, more as routes
are added). The same names come from `RouteNames`: the app's routes bucketed by their number of path segments
once, then matched in declaration order within one bucket — the same rule (the first route whose path and
method match; else the last whose path matches), so the same span names and `http.route` attributes.

The span is outermost among the gateway's middleware, as FastAPIInstrumentor placed it, so the request-context
middleware (correlation id, metrics, the 500 for an unhandled error) and the fast routes run inside it; an
unhandled error is recorded on the span by gateway.middleware, where it is turned into that 500.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.util.http import sanitize_method
from starlette.routing import WebSocketRoute
from starlette.types import Scope

from kit.telemetry import Telemetry

UNTRACED = "/health.*,/metrics"


class RouteNames:
    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._buckets: dict[int, list[tuple[Any, frozenset[str] | None, str]]] | None = None
        self._whole = False

    def _build(self) -> dict[int, list[tuple[Any, frozenset[str] | None, str]]]:
        routes = []
        for route in iter_route_contexts(self._app.routes):
            path = getattr(route, "path", None)
            regex = getattr(route, "path_regex", None)
            if path is not None and regex is not None:
                if isinstance(getattr(route, "original_route", route), WebSocketRoute):
                    # Never an HTTP request's route (as Starlette matches them); a WebSocket's span keeps its path.
                    continue
                methods = getattr(route, "methods", None)
                routes.append((regex, frozenset(methods) if methods else None, path))
        if any(":path}" in path for _, _, path in routes):
            # A parameter that spans segments: no buckets, every route in declaration order.
            self._whole = True
            return {0: routes}
        buckets: dict[int, list[tuple[Any, frozenset[str] | None, str]]] = defaultdict(list)
        for entry in routes:
            buckets[entry[2].count("/")].append(entry)
        return dict(buckets)

    def route(self, scope: Scope) -> str | None:
        if self._buckets is None:  # built on the first request, once every route is included
            self._buckets = self._build()
        path: str = scope.get("path", "")
        method: str = scope.get("method", "")
        partial = None
        for regex, methods, template in self._buckets.get(0 if self._whole else path.count("/"), ()):
            if regex.match(path):
                if methods is None or method in methods:
                    return template
                partial = template
        return partial

    def span_details(self, scope: Scope) -> tuple[str, dict[str, str]]:
        route = self.route(scope)
        method = sanitize_method(scope.get("method", "").strip())
        if method == "_OTHER" or not method:
            method = "HTTP"
        if route is None:
            return method, {}
        return f"{method} {route}", {HTTP_ROUTE: route}


def instrument(app: FastAPI, telemetry: Telemetry) -> None:
    """Add the server span middleware; call it after every other `add_middleware`, so it is the outermost."""
    names = RouteNames(app)
    app.add_middleware(
        OpenTelemetryMiddleware,
        excluded_urls=UNTRACED,
        default_span_details=names.span_details,
        tracer_provider=telemetry.tracer_provider,
        # No `http send` / `http receive` child span per ASGI message: they say nothing the server span does not.
        exclude_spans=["receive", "send"],
    )


__all__ = ["RouteNames", "instrument"]
