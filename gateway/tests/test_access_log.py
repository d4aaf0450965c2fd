"""The access log (issue 14, point 6): one JSON line per request with who, what and how it ended — never a token."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

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
