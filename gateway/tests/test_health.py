"""/health/* against real services: every component checked, ok | degraded | down, 200 vs 503."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.infra import infra
from tests.support.stack import SERVICES, Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLOSED = "127.0.0.1:1"  # nothing listens on port 1


stack = stack_fixture(SERVICES, gateway=True)
http = http_fixture()


async def get_from_gateway(stack: Stack, path: str, **overrides: Any) -> httpx.Response:
    """GET `path` from a second gateway wired to the same services, with some settings changed."""
    settings = GatewaySettings(
        **{
            "user_addr": stack.addr("user"),
            "task_addr": stack.addr("task"),
            "notify_addr": stack.addr("notify"),
            "analytics_addr": stack.addr("analytics"),
            "redis_url": infra().redis_url,
            "redis_namespace": stack.namespace,
            **overrides,
        }
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        return await client.get(path)


async def test_liveness_is_200(http: httpx.AsyncClient) -> None:
    response = await http.get("/health/liveness")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_is_200_when_everything_answers(http: httpx.AsyncClient) -> None:
    response = await http.get("/health/readiness")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["components"]) == {*SERVICES, "redis"}
    assert all(part["status"] == "ok" for part in body["components"].values())
    assert body["components"]["user"]["detail"] == "SERVING"


async def test_status_is_ok_when_everything_answers(http: httpx.AsyncClient) -> None:
    response = await http.get("/health/status")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readiness_is_503_when_a_service_is_unreachable(stack: Stack) -> None:
    response = await get_from_gateway(stack, "/health/readiness", task_addr=CLOSED)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["components"]["task"]["status"] == "down"
    assert body["components"]["task"]["detail"] == "UNAVAILABLE"
    assert body["components"]["user"]["status"] == "ok"
    assert body["components"]["redis"]["status"] == "ok"


async def test_status_is_down_and_503_when_a_service_is_unreachable(stack: Stack) -> None:
    response = await get_from_gateway(stack, "/health/status", analytics_addr=CLOSED)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["components"]["analytics"]["status"] == "down"


async def test_redis_down_is_degraded_not_down(stack: Stack) -> None:
    status = await get_from_gateway(stack, "/health/status", redis_url="redis://127.0.0.1:1/0")
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "degraded"
    assert body["components"]["redis"]["status"] == "degraded"
    assert all(body["components"][name]["status"] == "ok" for name in SERVICES)


async def test_readiness_is_200_and_degraded_when_only_redis_is_down(stack: Stack) -> None:
    # Redis is optional (caches are bypassed, events wait in the outboxes): still ready, reported degraded.
    ready = await get_from_gateway(stack, "/health/readiness", redis_url="redis://127.0.0.1:1/0")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["components"]["redis"]["status"] == "degraded"
    assert all(body["components"][name]["status"] == "ok" for name in SERVICES)


async def test_liveness_does_not_depend_on_anything(stack: Stack) -> None:
    response = await get_from_gateway(
        stack, "/health/liveness", user_addr=CLOSED, task_addr=CLOSED, redis_url="redis://127.0.0.1:1/0"
    )
    assert response.status_code == 200
