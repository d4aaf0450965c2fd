"""gateway.tracing names each server span exactly as FastAPIInstrumentor would, without scanning every route."""

from __future__ import annotations

import re

from fastapi.routing import iter_route_contexts
from opentelemetry.instrumentation.fastapi import _get_default_span_details

from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.tracing import RouteNames


def test_span_names_match_the_instrumentors_for_every_route_and_method() -> None:
    app = create_app(GatewaySettings())
    names = RouteNames(app)
    paths = {re.sub(r"\{[^}]+\}", "x1", route.path or "") for route in iter_route_contexts(app.routes)}
    paths |= {"/", "/api/v1/nowhere", "/api/v1/households/x1/chores/x2/nope", "/health/live"}
    assert len(paths) > 20
    for path in sorted(paths):
        for method in ("GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "BREW"):
            scope = {"type": "http", "app": app, "path": path, "method": method, "root_path": ""}
            assert names.span_details(scope) == _get_default_span_details(scope), (method, path)


def test_a_route_template_names_the_span() -> None:
    names = RouteNames(create_app(GatewaySettings()))
    name, attributes = names.span_details({"type": "http", "path": "/api/v1/households/h1/chores", "method": "GET"})
    assert name == "GET /api/v1/households/{hid}/chores"
    assert attributes == {"http.route": "/api/v1/households/{hid}/chores"}
