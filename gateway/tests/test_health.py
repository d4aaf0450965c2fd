"""/health/* against real services: every component checked, ok | degraded | down, 200 vs 503, deadlines.

Outages here are real: gateways wired to an address where nothing listens, to a listener that accepts and never
answers (a hung service), to a SIGSTOPped redis-server (a hung Redis). A service's own database outage is in
tests/test_database_outage.py.
"""

from __future__ import annotations

import asyncio
import pathlib
import shutil
import threading
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from hearth.status.v1 import status_pb2, status_pb2_grpc
from prometheus_client import REGISTRY

from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.support.black_hole import black_hole
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.infra import infra
from tests.support.stack import SERVICES, Stack, replica
from tests.support.throwaway_redis import throwaway_redis
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLOSED = "127.0.0.1:1"  # nothing listens on port 1
DEAD_REDIS = "redis://:hunter2-secret@127.0.0.1:1/0"
EVERYTHING = {*SERVICES, "redis", "memory", "disk"}


# No sample of the stack gateway's history during the tests (only the one at its start): the counts of status calls
# below are this module's requests'.
QUIET = {"health_history_interval_seconds": 3600}
stack = stack_fixture(SERVICES, gateway=True, settings_overrides={"gateway": QUIET})
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
            **QUIET,
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


def checks_run(component: str) -> float:
    return REGISTRY.get_sample_value("hearth_health_checks_total", {"component": component}) or 0.0


def status_calls(service: str, answers: tuple[str, ...] = ("checked", "shared")) -> float:
    """GetServiceStatus calls `service` answered (all replicas in this process)."""
    samples = (
        REGISTRY.get_sample_value("hearth_status_calls_total", {"service": service, "answer": a}) for a in answers
    )
    return sum(value or 0.0 for value in samples)


@asynccontextmanager
async def serving_without_status() -> AsyncIterator[str]:
    """A server that says SERVING and has no StatusService (UNIMPLEMENTED): an older replica in a rolling deploy."""
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]  # grpc-stubs lack the aio servicer
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


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


async def _history(client: httpx.AsyncClient) -> list[Any]:
    checks: list[Any] = (await client.get("/health/history")).json()["checks"]
    return checks


async def test_history_is_sampled_in_the_background_and_keeps_the_last_n_newest_first(stack: Stack) -> None:
    brisk = {"health_history_interval_seconds": 0.05, "health_snapshot_ttl_ms": 0, "health_history_size": 3}
    async with gateway(stack, redis_namespace=f"{stack.namespace}-history", **brisk) as client:
        first = (await eventually(lambda: _history(client)))[-1]["checked_at"]  # no request asked for it

        async def first_dropped() -> list[Any]:
            checks = await _history(client)
            return checks if len(checks) == 3 and first not in {c["checked_at"] for c in checks} else []

        checks = await eventually(first_dropped)  # 4 samples or more were filed, 3 kept
    times = [check["checked_at"] for check in checks]
    assert times == sorted(times, reverse=True)
    assert all(check["status"] == "ok" for check in checks)
    assert set(checks[0]["components"]) == EVERYTHING


async def test_status_requests_file_nothing(stack: Stack) -> None:
    """Only the sampler files: a page left open or a flood of requests does not decide what the history holds."""
    async with gateway(stack, redis_namespace=f"{stack.namespace}-quiet", health_snapshot_ttl_ms=0) as client:
        started = await eventually(lambda: _history(client))  # the sample taken at the start
        answers = [await client.get("/health/status") for _ in range(5)]
        assert len({answer.json()["checked_at"] for answer in answers}) == 5  # five checks made
        assert await _history(client) == started


async def test_history_files_the_state_of_each_sample(stack: Stack) -> None:
    namespace = f"{stack.namespace}-states"
    brisk = {"health_history_interval_seconds": 0.05, "redis_namespace": namespace}
    async with gateway(stack, task_addr=CLOSED, **brisk) as down:
        first = await eventually(lambda: _history(down))
    async with gateway(stack, **brisk) as up:

        async def newest_ok() -> list[Any]:
            checks = await _history(up)
            return checks if checks and checks[0]["status"] == "ok" else []

        checks = await eventually(newest_ok)
    assert first[0]["status"] == "down"
    assert first[0]["components"]["task"] == "down"
    assert checks[-1]["status"] == "down"


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
    async with (
        black_hole() as address,
        throwaway_redis() as spare,
        gateway(
            stack, notify_addr=address, redis_url=spare.url, health_check_timeout_ms=500, health_snapshot_ttl_ms=0
        ) as client,
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


async def test_a_service_whose_database_hangs_answers_within_its_deadline_and_stops_serving(stack: Stack) -> None:
    async with black_hole() as address:
        await _database_hangs(stack, address)


async def _database_hangs(stack: Stack, address: str) -> None:
    hung = {
        "database_url": f"postgresql+asyncpg://postgres:s3cret@{address}/hearth_notify",
        # Longer than the gateway's deadline (600 ms): the service shortens its checks to the caller's deadline.
        "health_check_timeout_ms": 2000,  # the watcher's too: NOT_SERVING after two misses, ~4 s
        "db_check_interval_seconds": 0.05,
        "run_relay": False,
        "run_consumers": False,
    }
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


async def test_metrics_summary_counts_api_requests_over_the_window(stack: Stack) -> None:
    async with gateway(stack) as client:
        first = (await client.get("/health/metrics-summary")).json()
        for _ in range(5):
            assert (await client.get("/api/v1/users/me")).status_code == 401
        for _ in range(3):
            await client.get("/health/status")  # operations routes are not counted
        summary = (await client.get("/health/metrics-summary")).json()
    # Exactly the API requests: the operations routes asked meanwhile (metrics-summary, status) are not counted.
    assert summary["requests"] - first["requests"] == 5
    assert summary["errors"] - first["errors"] == 0  # a 401 is no error of the gateway's
    assert summary["p99_ms"] is not None
    assert summary["p99_ms"] > 0
    assert 0 <= summary["error_ratio"] <= 1
    assert summary["window_seconds"] > 0
    assert summary["requests_per_second"] > 0


async def test_metrics_still_serves_prometheus_text(http: httpx.AsyncClient) -> None:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert "hearth_http_requests_total" in response.text


async def test_a_burst_of_status_requests_costs_each_service_a_status_call_or_two(stack: Stack) -> None:
    """50 anonymous /health/status at once: one full check shared (the snapshot), not 50 of them."""
    before = {name: status_calls(name) for name in SERVICES}
    runs = checks_run("all")
    async with gateway(stack) as client:
        answers = await asyncio.gather(*(client.get("/health/status") for _ in range(50)))
        also = [await client.get(path) for path in ("/health/database", "/health/cache", "/health/services")]
    assert {answer.status_code for answer in [*answers, *also]} == {200}
    assert len({answer.json()["checked_at"] for answer in answers}) <= 2  # the sampler's at the start, or a new one
    for name in SERVICES:
        assert 1 <= status_calls(name) - before[name] <= 2, name
    assert checks_run("all") - runs <= 2


async def test_concurrent_status_calls_share_one_run_of_the_services_checks(stack: Stack) -> None:
    """However many callers (gateways, probes) ask a service at once, its database is asked once."""
    checked, shared = status_calls("task", ("checked",)), status_calls("task", ("shared",))
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        stub = status_pb2_grpc.StatusServiceStub(channel)
        calls: list[Any] = [stub.GetServiceStatus(status_pb2.GetServiceStatusRequest(), timeout=5) for _ in range(50)]
        replies: list[status_pb2.ServiceStatus] = await asyncio.gather(*calls)
    assert {reply.database.detail for reply in replies} == {"SELECT 1"}
    assert status_calls("task", ("checked",)) - checked <= 2
    assert (status_calls("task", ("checked",)) - checked) + (status_calls("task", ("shared",)) - shared) == 50


async def test_a_service_whose_pool_is_exhausted_reports_its_database_ok_and_stays_serving(stack: Stack) -> None:
    """The watcher and the status call have their own connection: requests holding every pooled one (a busy
    service) do not make the database look dead, nor the service NOT_SERVING."""
    brisk = {"db_pool_size": 1, "db_check_interval_seconds": 0.05, "health_check_timeout_ms": 300}
    async with (
        replica(stack, "notify", run_relay=False, run_consumers=False, **brisk) as notify,
        AsyncExitStack() as held,
    ):
        engine = notify.runtime.engine
        for _ in range(2):  # the pool (1) and its overflow (1)
            await held.enter_async_context(engine.connect())
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3), engine.connect():
                pass  # the pool is exhausted
        watcher = notify.runtime.database_watcher
        assert watcher is not None
        seen: list[Any] = []  # the watcher's checks since the pool was taken, each a new Check

        async def checked_a_few_times() -> bool:
            last = watcher.last
            if last is not None and all(last is not check for check in seen):
                seen.append(last)
            return len(seen) >= 4  # more than the 2 misses that would flip it

        await eventually(checked_a_few_times)
        assert watcher.serving
        assert watcher.last is not None
        assert watcher.last.ok
        async with gateway(stack, notify_addr=f"127.0.0.1:{notify.port}", health_snapshot_ttl_ms=0) as client:
            status = await client.get("/health/status")
            database = await client.get("/health/database")
    part = status.json()["components"]["notify"]
    assert (part["status"], part["detail"]) == ("ok", "SERVING"), part
    assert (part["database"]["status"], part["database"]["detail"]) == ("ok", "SELECT 1")
    assert part["outbox"] is not None  # counted on the health connection too
    assert database.json()["components"]["notify"] == {**part["database"]}


async def test_a_serving_service_whose_status_did_not_come_is_degraded_in_every_answer(stack: Stack) -> None:
    """Task serving but without StatusService (an older replica mid-deploy): its database is not known, which is
    degraded for /health/database as for /health/status — not down on one and degraded on the other."""
    async with serving_without_status() as address, gateway(stack, task_addr=address) as client:
        status = await client.get("/health/status")
        database = await client.get("/health/database")
        services = await client.get("/health/services")
    for response in (status, database, services):
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "degraded"
    task = status.json()["components"]["task"]
    assert (task["status"], task["detail"]) == ("degraded", "SERVING, but its status did not come")
    assert task["database"]["status"] == "degraded"
    assert database.json()["components"]["task"] == task["database"]


async def test_a_hung_disk_blocks_nothing_and_starts_one_statvfs(
    stack: Stack, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system that hangs (faked: the only part of the outside world a test cannot hang for real) costs each
    request one deadline, answered "timeout"; the walk to the nearest existing directory runs off the event loop;
    no second statvfs starts while the first is stuck."""
    released = threading.Event()
    statvfs: list[int] = []
    walked: list[int] = []
    disk_usage, exists = shutil.disk_usage, pathlib.Path.exists

    def hung_disk_usage(path: Any) -> Any:
        statvfs.append(threading.get_ident())
        released.wait(30)
        return disk_usage(path)

    def watched_exists(path: pathlib.Path, *args: Any, **kwargs: Any) -> bool:
        if str(path).startswith(str(tmp_path)):
            walked.append(threading.get_ident())
        return exists(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "disk_usage", hung_disk_usage)
    monkeypatch.setattr(pathlib.Path, "exists", watched_exists)
    where = {"health_disk_path": str(tmp_path / "not" / "made"), "health_disk_min_free_mb": 1}
    try:
        async with gateway(stack, health_check_timeout_ms=300, **where) as client:
            answers = await asyncio.gather(*(client.get("/health/disk") for _ in range(3)))
            answers.append(await client.get("/health/disk"))
            for answer in answers:
                assert answer.status_code == 200
                disk = answer.json()["components"]["disk"]
                assert (disk["status"], disk["detail"]) == ("degraded", "timeout after 300 ms"), disk
            assert len(statvfs) == 1  # the sampler's start and four requests: one thread
            released.set()

            async def ok_again() -> bool:
                return bool((await client.get("/health/disk")).json()["status"] == "ok")

            await eventually(ok_again)
    finally:
        released.set()
    loop_thread = threading.get_ident()
    assert walked
    assert loop_thread not in walked
    assert loop_thread not in statvfs


async def test_an_unreachable_services_unknown_database_is_judged_as_the_service_on_every_answer(stack: Stack) -> None:
    async with gateway(stack, task_addr=CLOSED, notify_addr=CLOSED) as client:
        status = await client.get("/health/status")
        database = await client.get("/health/database")
    assert (status.status_code, database.status_code) == (503, 503)
    for name, state in (("task", "down"), ("notify", "degraded")):
        assert status.json()["components"][name]["status"] == state
        assert database.json()["components"][name] == status.json()["components"][name]["database"]
        assert database.json()["components"][name]["status"] == state
