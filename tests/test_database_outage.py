"""A database outage, for real: task's PostgreSQL is stopped and started under a running stack.

While it is down, task's RPCs answer UNAVAILABLE and the gateway 503 `unavailable` (problem+json) at once,
with a message that names no address; once it is back, requests succeed again within a second — stale
pooled connections are replaced before use, not failed on (kit/db.py, kit/outages.py).

The probes list the chores due today: a page whose content follows the clock is never cached
(services/task/lists.py), so it must reach the database; a cached page would be answered from the cache during
the outage, which is what the cache is for, but says nothing about the database.

Task's database lives on a throw-away server of this module's own (tests/support/throwaway_pg.py); user's
stays on the shared test server, so only task loses its database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hearth.status.v1 import status_pb2, status_pb2_grpc
from hearth.task.v1 import task_pb2, task_pb2_grpc

from kit import outages
from kit.db import ensure_database
from kit.migrations import upgrade
from tests.support.api import API, Person, create_chore, create_household, expect, sign_up
from tests.support.stack import Stack, running_stack
from tests.support.templates import service_dir
from tests.support.throwaway_pg import ThrowawayPostgres, throwaway_postgres
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIST_CHORES = "/hearth.task.v1.ChoreService/ListChores"
# Well within the gateway's 5 s deadline: an outage must be answered, not waited out.
PROMPT = 2.0
RECOVERY = 1.0
# Task's database watcher (kit.status), brisk: a SELECT 1 every 100 ms, 2 misses in a row say NOT_SERVING.
WATCHER = {"db_check_interval_seconds": 0.1, "health_check_timeout_ms": 500, "db_check_failures": 2}


@dataclass
class Setup:
    stack: Stack
    pg: ThrowawayPostgres
    http: httpx.AsyncClient
    chores: task_pb2_grpc.ChoreServiceStub
    owner: Person
    household_id: str

    async def list_chores(self) -> task_pb2.ListChoresResponse:
        request = task_pb2.ListChoresRequest(parent=f"households/{self.household_id}", page_size=10, status="due")
        metadata = (("authorization", f"Bearer {self.owner.token}"),)
        # The generated stubs declare the sync API; on an aio channel the call is awaited.
        call: Any = self.chores.ListChores(request, metadata=metadata, timeout=5)
        response: task_pb2.ListChoresResponse = await call
        return response

    async def get_chores(self) -> httpx.Response:
        return await self.http.get(
            f"{API}/households/{self.household_id}/chores", params={"status": "due"}, headers=self.owner.headers
        )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def setup() -> AsyncIterator[Setup]:
    with throwaway_postgres() as pg:
        url = pg.url("hearth_task")
        await ensure_database(url)
        await asyncio.to_thread(upgrade, service_dir("task"), url)
        async with (
            running_stack(
                ["user", "task"],
                gateway=True,
                # The gateway's health snapshot taken anew for each request: its answers follow the watcher at once.
                settings_overrides={"task": {"database_url": url, **WATCHER}, "gateway": {"health_snapshot_ttl_ms": 0}},
            ) as stack,
            stack.http() as http,
            grpc.aio.insecure_channel(stack.addr("task")) as channel,
        ):
            owner = await sign_up(http, "Olga")
            household_id = await create_household(http, owner)
            await create_chore(http, household_id, owner, title="Windows")
            yield Setup(stack, pg, http, task_pb2_grpc.ChoreServiceStub(channel), owner, household_id)


async def stop(pg: ThrowawayPostgres) -> None:
    await asyncio.to_thread(pg.stop)


async def start(pg: ThrowawayPostgres) -> None:
    await asyncio.to_thread(pg.start)  # returns once the server accepts connections (pg_ctl -w)


def assert_outage_problem(response: httpx.Response, port: int) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "unavailable"
    assert problem["status"] == 503
    assert str(port) not in response.text
    assert "127.0.0.1" not in response.text


async def test_an_outage_is_unavailable_at_once_and_requests_succeed_within_a_second_of_its_end(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    assert len((await setup.list_chores()).chores) == 1
    expect(await setup.get_chores(), 200)

    await stop(setup.pg)
    try:
        with caplog.at_level(logging.WARNING):
            began = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await setup.list_chores()
            assert time.monotonic() - began < PROMPT
            failed = raised.value
            assert failed.code() == grpc.StatusCode.UNAVAILABLE
            assert failed.details() == outages.MESSAGE
            assert str(setup.pg.port) not in str(failed.trailing_metadata())

            # Through the gateway (which retries a List* on UNAVAILABLE, a few times within its deadline).
            began = time.monotonic()
            response = await setup.get_chores()
            assert time.monotonic() - began < PROMPT
            assert_outage_problem(response, setup.pg.port)

            # A write is not retried by anyone, and is unavailable too.
            body = {
                "title": "Floors",
                "points": 5,
                "recurrence": {"kind": "once"},
                "assignment": {"strategy": "unassigned"},
            }
            created = await setup.http.post(
                f"{API}/households/{setup.household_id}/chores", json=body, headers=setup.owner.headers
            )
            assert_outage_problem(created, setup.pg.port)
    finally:
        await start(setup.pg)
    recovered = time.monotonic()

    # Requests succeed again within a second (bounded polling; in practice the first one does).
    while True:
        response = await setup.get_chores()
        if response.status_code == 200 or time.monotonic() - recovered > RECOVERY:
            break
        await asyncio.sleep(0.02)
    assert response.status_code == 200, f"still {response.status_code} {RECOVERY} s after the database returned"
    assert [c["title"] for c in response.json()["items"]] == ["Windows"]
    assert len((await setup.list_chores()).chores) == 1

    # An outage is operations, not a bug: WARNING lines without a stack, never "unhandled error".
    handled = [r for r in caplog.records if r.name == "hearth.grpc" and "database unavailable" in r.getMessage()]
    assert handled, "the outage was not logged"
    assert any(LIST_CHORES in r.getMessage() for r in handled)
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in handled)
    assert not [r for r in caplog.records if r.name == "hearth.grpc" and "unhandled error" in r.getMessage()]


async def test_the_first_request_after_a_restart_nobody_saw_succeeds(setup: Setup) -> None:
    """Every pooled connection died with the old server; none may be handed to a request."""
    expect(await setup.get_chores(), 200)
    for _ in range(3):  # several pooled connections, some idle, used in turn
        await asyncio.gather(*(setup.list_chores() for _ in range(4)))
    await stop(setup.pg)
    await start(setup.pg)
    # No retry hides a failure here: a List* from the gateway is retried on UNAVAILABLE, a direct call is not.
    assert len((await setup.list_chores()).chores) == 1
    results = await asyncio.gather(*(setup.list_chores() for _ in range(8)))
    assert all(len(r.chores) == 1 for r in results)
    response = await setup.get_chores()
    assert response.status_code == 200, response.text


async def test_health_says_task_is_down_while_its_database_is_and_recovers_with_it(setup: Setup) -> None:
    """Task's watcher flips its grpc health; the gateway's health follows: down (503), its database named."""
    async with grpc.aio.insecure_channel(setup.stack.addr("task")) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = status_pb2_grpc.StatusServiceStub(channel)

        async def serving(expected: int) -> bool:
            call: Any = health.Check(health_pb2.HealthCheckRequest(), timeout=2)
            return bool((await call).status == expected)

        assert await serving(health_pb2.HealthCheckResponse.SERVING)
        before = await setup.http.get("/health/database")
        assert before.status_code == 200, before.text
        assert before.json()["components"]["task"]["detail"] == "SELECT 1"

        await stop(setup.pg)
        try:
            await eventually(lambda: serving(health_pb2.HealthCheckResponse.NOT_SERVING), timeout=PROMPT * 3)
            call: Any = status.GetServiceStatus(status_pb2.GetServiceStatusRequest(), timeout=2)
            reply: status_pb2.ServiceStatus = await call
            assert (reply.serving, reply.database.state) == (False, status_pb2.DependencyCheck.DOWN)
            assert reply.redis.state == status_pb2.DependencyCheck.OK
            assert not reply.outbox.known

            answers = {path: await setup.http.get(path) for path in ("/health/status", "/health/database")}
            readiness = await setup.http.get("/health/readiness")
        finally:
            await start(setup.pg)
        for path, response in answers.items():
            assert response.status_code == 503, (path, response.text)
            assert response.json()["status"] == "down"
            assert str(setup.pg.port) not in response.text
        task = answers["/health/status"].json()["components"]["task"]
        assert (task["status"], task["detail"]) == ("down", "NOT_SERVING")
        assert task["database"]["status"] == "down"
        assert answers["/health/database"].json()["components"]["task"]["status"] == "down"
        assert answers["/health/database"].json()["components"]["user"]["status"] == "ok"
        assert readiness.status_code == 503
        assert readiness.json()["components"]["task"]["detail"] == "NOT_SERVING"

        await eventually(lambda: serving(health_pb2.HealthCheckResponse.SERVING), timeout=PROMPT * 3)
        after = await setup.http.get("/health/database")
        assert after.json()["components"]["task"]["status"] == "ok"
        assert (await setup.http.get("/health/readiness")).status_code == 200
