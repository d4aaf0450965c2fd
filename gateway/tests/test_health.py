"""/health/* against real services: every component checked, ok | degraded | down, 200 vs 503, deadlines.

Outages here are real: gateways wired to an address where nothing listens, to a listener that accepts and never
answers (a hung service), to a SIGSTOPped redis-server (a hung Redis). A service's own database outage is in
tests/test_database_outage.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.infra import infra
from tests.support.stack import SERVICES, Stack, replica
from tests.support.throwaway_redis import throwaway_redis
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLOSED = "127.0.0.1:1"  # nothing listens on port 1
DEAD_REDIS = "redis://:hunter2-secret@127.0.0.1:1/0"
EVERYTHING = {*SERVICES, "redis", "memory", "disk"}


stack = stack_fixture(SERVICES, gateway=True)
http = http_fixture()


@asynccontextmanager
async def gateway(stack: Stack, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A second gateway (in-process ASGI) wired to the same services, with some settings changed."""
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
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=10) as client,
    ):
        yield client


async def get_from_gateway(stack: Stack, path: str, **overrides: Any) -> httpx.Response:
    async with gateway(stack, **overrides) as client:
        return await client.get(path)


async def black_hole() -> tuple[asyncio.Server, str]:
    """A listener that accepts connections and never answers a byte: a service that hangs."""

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    return server, f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


def checks_run(component: str) -> float:
    return REGISTRY.get_sample_value("hearth_health_checks_total", {"component": component}) or 0.0


async def test_liveness_is_200(http: httpx.AsyncClient) -> None:
    response = await http.get("/health/liveness")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_liveness_does_not_depend_on_anything(stack: Stack) -> None:
    response = await get_from_gateway(
        stack, "/health/liveness", user_addr=CLOSED, task_addr=CLOSED, redis_url=DEAD_REDIS
    )
    assert response.status_code == 200


async def test_readiness_asks_user_and_task_only(http: httpx.AsyncClient) -> None:
    response = await http.get("/health/readiness")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["components"]) == {"user", "task"}
    assert body["components"]["user"]["detail"] == "SERVING"


async def test_readiness_is_503_when_task_is_unreachable(stack: Stack) -> None:
    response = await get_from_gateway(stack, "/health/readiness", task_addr=CLOSED)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["components"]["task"] == {**body["components"]["task"], "status": "down", "detail": "UNAVAILABLE"}
    assert body["components"]["user"]["status"] == "ok"


async def test_readiness_stays_200_without_the_optional_parts(stack: Stack) -> None:
    response = await get_from_gateway(
        stack, "/health/readiness", notify_addr=CLOSED, analytics_addr=CLOSED, redis_url=DEAD_REDIS
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


async def test_status_is_ok_and_shows_every_part_in_full(http: httpx.AsyncClient) -> None:
    response = await http.get("/health/status")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["components"]) == EVERYTHING
    for name in SERVICES:
        part = body["components"][name]
        assert (part["status"], part["detail"]) == ("ok", "SERVING"), part
        assert (part["database"]["status"], part["database"]["detail"]) == ("ok", "SELECT 1")
        assert (part["redis"]["status"], part["redis"]["detail"]) == ("ok", "PONG")
        assert part["outbox"]["backlog"] >= 0
        assert part["rss_bytes"] > 10 * 2**20
    assert body["components"]["redis"]["detail"] == "PONG"
    assert body["components"]["memory"]["rss_bytes"] > 10 * 2**20
    assert body["components"]["disk"]["free_bytes"] > 0


async def test_task_unreachable_is_down_and_503(stack: Stack) -> None:
    response = await get_from_gateway(stack, "/health/status", task_addr=CLOSED)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    task = body["components"]["task"]
    assert (task["status"], task["detail"]) == ("down", "UNAVAILABLE")
    assert task["outbox"] is None
    assert task["database"]["detail"] == "not known: the service did not answer"


@pytest.mark.parametrize("service", ["notify", "analytics"])
async def test_notify_or_analytics_unreachable_is_degraded_and_200(stack: Stack, service: str) -> None:
    response = await get_from_gateway(stack, "/health/status", **{f"{service}_addr": CLOSED})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert body["components"][service]["status"] == "degraded"
    assert all(body["components"][name]["status"] == "ok" for name in SERVICES if name != service)


async def test_redis_down_is_degraded_and_names_no_secret(stack: Stack) -> None:
    async with gateway(stack, redis_url=DEAD_REDIS) as client:
        status = await client.get("/health/status")
        cache = await client.get("/health/cache")
        history = await client.get("/health/history")
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "degraded"
    assert body["components"]["redis"]["status"] == "degraded"
    assert all(body["components"][name]["status"] == "ok" for name in SERVICES)
    assert cache.status_code == 200
    assert cache.json()["status"] == "degraded"
    assert cache.json()["components"]["gateway"]["status"] == "degraded"
    assert history.status_code == 200
    assert history.json()["status"] == "degraded"
    assert history.json()["checks"] == []
    for response in (status, cache, history):
        assert "hunter2" not in response.text
        assert "127.0.0.1" not in response.text
        assert "Traceback" not in response.text


async def test_databases_are_checked_by_each_service(http: httpx.AsyncClient) -> None:
    response = await http.get("/health/database")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["components"]) == set(SERVICES)
    assert {part["detail"] for part in body["components"].values()} == {"SELECT 1"}


async def test_cache_shows_the_gateways_redis_and_each_services(http: httpx.AsyncClient) -> None:
    response = await http.get("/health/cache")
    assert response.status_code == 200
    assert set(response.json()["components"]) == {"gateway", *SERVICES}
    assert {part["detail"] for part in response.json()["components"].values()} == {"PONG"}


async def test_services_show_serving_and_outbox_lag(http: httpx.AsyncClient) -> None:
    response = await http.get("/health/services")
    assert response.status_code == 200
    body = response.json()
    assert set(body["components"]) == set(SERVICES)
    assert all(part["outbox"] is not None for part in body["components"].values())


async def test_memory_over_the_limit_is_degraded_for_the_gateway_and_each_service(stack: Stack) -> None:
    async with gateway(stack) as client:
        fine = await client.get("/health/memory")
    assert fine.status_code == 200
    assert fine.json()["status"] == "ok"
    assert set(fine.json()["components"]) == {"gateway", *SERVICES}
    async with gateway(stack, health_memory_limit_mb=1) as client:
        memory, status = await client.get("/health/memory"), await client.get("/health/status")
    assert memory.status_code == 200
    assert memory.json()["status"] == "degraded"
    assert {part["status"] for part in memory.json()["components"].values()} == {"degraded"}
    assert status.json()["status"] == "degraded"
    assert status.json()["components"]["memory"]["detail"].endswith("over the limit of 1 MiB")


async def test_disk_short_of_space_is_degraded(stack: Stack, tmp_path: Any) -> None:
    not_yet = tmp_path / "var" / "not" / "made"  # the nearest existing directory's file system counts
    fine = await get_from_gateway(stack, "/health/disk", health_disk_path=str(not_yet), health_disk_min_free_mb=1)
    assert fine.status_code == 200
    assert fine.json()["status"] == "ok"
    assert fine.json()["components"]["disk"]["free_bytes"] > 2**20
    short = await get_from_gateway(
        stack, "/health/disk", health_disk_path=str(tmp_path), health_disk_min_free_mb=1024**3
    )
    assert short.status_code == 200
    assert short.json()["status"] == "degraded"
    assert str(tmp_path) not in short.text


async def test_history_keeps_the_last_n_checks_newest_first(stack: Stack) -> None:
    async with gateway(stack, health_history_size=3, redis_namespace=f"{stack.namespace}-history") as client:
        times = []
        for _ in range(5):
            times.append((await client.get("/health/status")).json()["checked_at"])
            # Filed in the background: each lands before the next check is made.
            await eventually(lambda: _newest_is(client, times[-1]))
        checks = (await client.get("/health/history")).json()["checks"]
    assert [check["checked_at"] for check in checks] == times[:-4:-1]  # the last 3, newest first
    assert all(check["status"] == "ok" for check in checks)
    assert set(checks[0]["components"]) == EVERYTHING


async def _newest_is(client: httpx.AsyncClient, when: str) -> bool:
    checks = (await client.get("/health/history")).json()["checks"]
    return bool(checks) and checks[0]["checked_at"] == when


async def test_history_files_the_state_of_each_check(stack: Stack) -> None:
    namespace = f"{stack.namespace}-states"
    async with gateway(stack, task_addr=CLOSED, redis_namespace=namespace) as down:
        assert (await down.get("/health/status")).status_code == 503
        async with gateway(stack, redis_namespace=namespace) as up:

            async def one_filed() -> list[Any] | None:
                checks: list[Any] = (await up.get("/health/history")).json()["checks"]
                return checks if checks else None

            first = await eventually(one_filed)
            assert (await up.get("/health/status")).status_code == 200

            async def two_filed() -> list[Any] | None:
                checks: list[Any] = (await up.get("/health/history")).json()["checks"]
                return checks if len(checks) == 2 else None

            checks = await eventually(two_filed)
    assert first[0]["status"] == "down"
    assert first[0]["components"]["task"] == "down"
    assert [check["status"] for check in checks] == ["ok", "down"]


async def test_an_unknown_component_is_a_404_problem(http: httpx.AsyncClient) -> None:
    response = await http.get("/health/test/mainframe")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("component", sorted(EVERYTHING))
async def test_each_component_can_be_checked_now(http: httpx.AsyncClient, component: str) -> None:
    response = await http.get(f"/health/test/{component}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["component"], body["status"], body["result"]["status"]) == (component, "ok", "ok")


async def test_a_flood_of_on_demand_checks_runs_one_check(stack: Stack) -> None:
    async with gateway(stack, health_test_cooldown_ms=60_000) as client:
        before = checks_run("task")
        answers = await asyncio.gather(*(client.get("/health/test/task") for _ in range(25)))
        assert {answer.status_code for answer in answers} == {200}
        assert [answer.json()["fresh"] for answer in answers].count(True) == 1
        assert len({answer.json()["checked_at"] for answer in answers}) == 1
        later = await client.get("/health/test/task")
        assert later.json()["fresh"] is False
        assert later.json()["checked_at"] == answers[0].json()["checked_at"]
        assert checks_run("task") - before == 1
    async with gateway(stack, health_test_cooldown_ms=0) as client:
        before = checks_run("redis")
        for _ in range(2):
            assert (await client.get("/health/test/redis")).json()["fresh"] is True
        assert checks_run("redis") - before == 2  # without a cooldown each request runs it: the bound is the cooldown


async def test_an_on_demand_check_of_a_service_that_is_down_is_503(stack: Stack) -> None:
    response = await get_from_gateway(stack, "/health/test/user", user_addr=CLOSED)
    assert response.status_code == 503
    assert response.json()["result"]["detail"] == "UNAVAILABLE"


async def test_a_hung_service_and_a_hung_redis_cost_one_deadline(stack: Stack) -> None:
    hole, address = await black_hole()
    try:
        async with (
            throwaway_redis() as spare,
            gateway(stack, notify_addr=address, redis_url=spare.url, health_check_timeout_ms=500) as client,
        ):
            spare.stop()
            for path in ("/health/status", "/health/cache", "/health/services", "/health/history"):
                began = time.monotonic()
                response = await client.get(path)
                assert time.monotonic() - began < 2.0, path
                assert response.status_code == 200, (path, response.text)
                assert response.json()["status"] == "degraded", path
            body = (await client.get("/health/status")).json()
            assert body["components"]["notify"]["detail"] == "DEADLINE_EXCEEDED"
            assert body["components"]["redis"]["detail"] == "timeout after 500 ms"
    finally:
        hole.close()


async def test_a_service_whose_database_hangs_answers_within_its_deadline_and_stops_serving(stack: Stack) -> None:
    hole, address = await black_hole()
    hung = {
        "database_url": f"postgresql+asyncpg://postgres:s3cret@{address}/hearth_notify",
        # Longer than the gateway's deadline (600 ms): the service shortens its checks to the caller's deadline.
        "health_check_timeout_ms": 2000,  # the watcher's too: NOT_SERVING after two misses, ~4 s
        "db_check_interval_seconds": 0.05,
        "run_relay": False,
        "run_consumers": False,
    }
    try:
        async with (
            replica(stack, "notify", **hung) as notify,
            gateway(stack, notify_addr=f"127.0.0.1:{notify.port}", health_check_timeout_ms=600) as client,
        ):
            began = time.monotonic()
            response = await client.get("/health/database")
            assert time.monotonic() - began < 1.5
            assert response.status_code == 200, response.text  # notify's database: degraded, not down
            body = response.json()
            assert body["status"] == "degraded"
            detail = body["components"]["notify"]["detail"]
            assert detail.startswith("timeout after "), detail  # the check that hung is named, in time
            assert int(detail.split()[2]) <= 600
            assert body["components"]["task"]["status"] == "ok"
            assert "s3cret" not in response.text

            async def not_serving() -> bool:
                services = (await client.get("/health/services")).json()
                return bool(services["components"]["notify"]["detail"] == "NOT_SERVING")

            await eventually(not_serving)
            status = await client.get("/health/status")
            assert status.status_code == 200
            assert (status.json()["status"], status.json()["components"]["notify"]["status"]) == (
                "degraded",
                "degraded",
            )
    finally:
        hole.close()


async def test_metrics_summary_counts_api_requests_over_the_window(stack: Stack) -> None:
    async with gateway(stack) as client:
        first = (await client.get("/health/metrics-summary")).json()
        for _ in range(5):
            assert (await client.get("/api/v1/users/me")).status_code == 401
        for _ in range(3):
            await client.get("/health/status")  # operations routes are not counted
        summary = (await client.get("/health/metrics-summary")).json()
    assert summary["requests"] - first["requests"] >= 5
    assert summary["p99_ms"] is not None
    assert summary["p99_ms"] > 0
    assert 0 <= summary["error_ratio"] <= 1
    assert summary["window_seconds"] > 0
    assert summary["requests_per_second"] > 0


async def test_metrics_still_serves_prometheus_text(http: httpx.AsyncClient) -> None:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert "hearth_http_requests_total" in response.text
