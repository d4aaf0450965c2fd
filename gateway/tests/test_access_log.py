"""The access log (issue 14, point 6): one JSON line per request with who, what and how it ended — never a token."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from gateway.middleware import RequestContextMiddleware
from kit import context
from kit.context import Caller
from kit.logging import JsonFormatter
from tests.support.api import API, create_household, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.stack import SERVICES, another_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(SERVICES, gateway=True)
http = http_fixture()


def lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter("gateway")
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "hearth.access"]


async def test_one_line_per_request_with_the_route_not_the_path(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    owner = await sign_up(http, "Logan")
    hid = await create_household(http, owner)
    with caplog.at_level(logging.INFO, logger="hearth.access"):
        listed = await http.get(f"{API}/households/{hid}/chores?q=secret-search", headers=owner.headers)
        refused = await http.get(f"{API}/households/{hid}", headers={"Authorization": "Bearer forged.token.here"})
    logged = lines(caplog)
    assert [(e["http_method"], e["http_route"], e["http_status"]) for e in logged] == [
        ("GET", "/api/v1/households/{hid}/chores", 200),
        ("GET", "/api/v1/households/{hid}", 401),
    ]
    first, second = logged
    assert first["user_id"] == owner.user_id
    assert first["correlation_id"] == listed.headers["x-correlation-id"]
    assert second["correlation_id"] == refused.headers["x-correlation-id"]
    assert second["user_id"] is None
    assert first["client_ip"] == "127.0.0.1"
    assert first["duration_ms"] >= 0
    text = json.dumps(logged)
    for leaked in (owner.token, "forged.token.here", hid, "secret-search"):
        assert leaked not in text


async def test_successes_can_be_sampled_away_but_errors_never(stack: Any, caplog: pytest.LogCaptureFixture) -> None:
    async with another_gateway(stack, access_log_sample=0.0) as quiet:
        with caplog.at_level(logging.INFO, logger="hearth.access"):
            assert (await quiet.get("/health/liveness")).status_code == 200
            assert (await quiet.get(f"{API}/users/me")).status_code == 401
    assert [(e["http_route"], e["http_status"]) for e in lines(caplog)] == [("/api/v1/users/me", 401)]


async def test_the_client_ip_is_the_trusted_proxy_s_word_and_nobody_else_s(
    stack: Any, caplog: pytest.LogCaptureFixture
) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    with caplog.at_level(logging.INFO, logger="hearth.access"):
        async with another_gateway(stack, trusted_proxies=["127.0.0.0/8"]) as behind_proxy:
            assert (await behind_proxy.get(f"{API}/users/me", headers=forwarded)).status_code == 401
        async with another_gateway(stack) as exposed:
            assert (await exposed.get(f"{API}/users/me", headers=forwarded)).status_code == 401
    assert [e["client_ip"] for e in lines(caplog)] == ["203.0.113.9", "127.0.0.1"]


async def test_a_request_starts_with_no_caller_whatever_context_started_it() -> None:
    """uvicorn starts a request pipelined on a keep-alive connection from the previous request's task, so its
    context is a copy of that request's: the caller it proved must not carry over (it would be forwarded to the
    services, e.g. on an API key's exchange)."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(context.caller.get())
        context.caller.set(Caller(user_id="this-request", token="its-token"))  # as gateway.auth does
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = RequestContextMiddleware(app, max_body_bytes=1024)
    previous = Caller(user_id="previous-request", token="previous-token")
    marker = context.caller.set(previous)
    try:
        scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""}
        await middleware(scope, receive, send)
        assert seen == [None]
        # ...and what this request proved is not left behind for whatever runs next in the same context.
        assert context.caller.get() is previous
    finally:
        context.caller.reset(marker)
    assert sent[0]["status"] == 204
