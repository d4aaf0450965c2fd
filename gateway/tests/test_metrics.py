"""The operator's metrics through the real gateway and services: what /metrics exports beyond RED (in-flight
requests, rate-limit decisions, idempotency, database pools, cache hit ratio, outbox lag), and each service's
exposition relayed at /metrics/{service} (gateway.metrics)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry, Counter, start_http_server

from tests.support.api import API, create_chore, create_household, expect, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.stack import SERVICES, another_gateway
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(SERVICES, gateway=True)
http = http_fixture()


def samples(text: str, name: str) -> dict[str, float]:
    """`name`'s samples in a Prometheus exposition: {label text: value}."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(\{{[^}}]*\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


async def test_metrics_export_more_than_red(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Olga")
    hid = await create_household(http, owner)
    await create_chore(http, hid, owner, title="Bins")
    for _ in range(2):  # the second read is the task service's cached page
        expect(await http.get(f"{API}/households/{hid}/chores", headers=owner.headers), 200)

    async def exposition() -> str | None:
        text = (await http.get("/metrics")).text
        # The relay counts its backlog once per poll interval: wait for the task stream's first count.
        return text if any("task" in labels for labels in samples(text, "hearth_outbox_lag_seconds")) else None

    text = await eventually(exposition)
    assert text is not None
    # This scrape is itself in flight while the gauge is read.
    assert samples(text, "hearth_http_requests_in_flight")[""] >= 1
    assert samples(text, "hearth_gateway_rate_limit_total")['{budget="request",decision="allowed"}'] > 0
    pools = samples(text, "hearth_db_pool_connections")
    for service in SERVICES:
        assert f'{{service="{service}",state="checked_out"}}' in pools
    assert samples(text, "hearth_db_pool_size")['{service="task"}'] >= 1
    ratios = samples(text, "hearth_cache_hit_ratio")
    assert ratios
    assert all(0 <= ratio <= 1 for ratio in ratios.values())
    assert any(ratio > 0 for ratio in ratios.values())
    assert all(lag >= 0 for lag in samples(text, "hearth_outbox_lag_seconds").values())
    assert "hearth_gateway_idempotency_total" in text


@pytest.fixture
def exposition_server() -> Iterator[str]:
    """A real Prometheus listener, as a service runs one (kit.cli), with a metric of its own."""
    registry = CollectorRegistry()
    Counter("hearth_relay_probe_total", "A metric only this listener has", registry=registry).inc(7)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
    thread.join()


@pytest_asyncio.fixture(loop_scope="module")
async def hostile_upstream() -> AsyncIterator[str]:
    """A listener that answers /trickle one byte at a time, slower than any deadline, and /huge with a declared
    body over the relay's bound."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readline()
        with contextlib.suppress(ConnectionError):
            if b"/huge" in request:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999\r\n\r\n# HELP")
                await writer.drain()
            else:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n")
                while True:
                    writer.write(b"#")
                    await writer.drain()
                    await asyncio.sleep(0.2)  # the hostile peer's own pace
            await reader.read()  # until the relay hangs up
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.close()


@pytest_asyncio.fixture(loop_scope="module")
async def relaying(stack: Any, exposition_server: str, hostile_upstream: str) -> AsyncIterator[httpx.AsyncClient]:
    dead = "http://127.0.0.1:1/metrics"
    async with another_gateway(
        stack,
        user_metrics_url=exposition_server,
        task_metrics_url=dead,
        analytics_metrics_url=f"{hostile_upstream}/trickle",
        notify_metrics_url="",
        grpc_timeout_seconds=1,
    ) as gateway:
        yield gateway


async def test_each_service_s_metrics_are_relayed_by_the_gateway(relaying: httpx.AsyncClient) -> None:
    index = expect(await relaying.get("/metrics/services"), 200)
    assert index == {"gateway": "/metrics", **{name: f"/metrics/{name}" for name in SERVICES}}
    relayed = await relaying.get("/metrics/user")
    assert relayed.status_code == 200
    assert relayed.headers["content-type"].startswith("text/plain")
    assert samples(relayed.text, "hearth_relay_probe_total") == {"": 7.0}
    # Nothing listens there: a quick 503 problem, no address in it.
    down = await relaying.get("/metrics/task")
    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"
    assert "127.0.0.1" not in down.text
    # An upstream trickling bytes is cut off at the deadline (httpx's read timeout alone would wait forever).
    trickle = await relaying.get("/metrics/analytics")
    assert trickle.status_code == 503
    assert trickle.headers["content-type"] == "application/problem+json"
    # Not configured (the stack's notify), or no such service: 404 problem+json.
    assert (await relaying.get("/metrics/notify")).status_code == 404
    unknown = await relaying.get("/metrics/" + "x" * 500)
    assert unknown.status_code == 404
    assert len(unknown.json()["detail"]) < 120


async def test_an_exposition_over_the_bound_is_refused_before_it_is_read(stack: Any, hostile_upstream: str) -> None:
    async with another_gateway(stack, user_metrics_url=f"{hostile_upstream}/huge") as gateway:
        refused = await gateway.get("/metrics/user")
    assert refused.status_code == 503
