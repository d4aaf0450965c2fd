"""`python -m gateway` as a real process: it serves, its gRPC channels live in uvicorn's loop, it logs JSON."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.support.infra import ROOT, infra
from tests.support.wait import eventually


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gateway_process() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_HTTP_HOST": "127.0.0.1",
        "GATEWAY_HTTP_PORT": str(port),
        "HEARTH_USER_ADDR": "127.0.0.1:1",
        "HEARTH_TASK_ADDR": "127.0.0.1:1",
        "HEARTH_NOTIFY_ADDR": "127.0.0.1:1",
        "HEARTH_ANALYTICS_ADDR": "127.0.0.1:1",
        "REDIS_URL": infra().redis_url,
    }
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_python_m_gateway_serves(gateway_process: tuple[str, subprocess.Popen[str]]) -> None:
    url, process = gateway_process
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:

        async def live() -> httpx.Response | None:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                return await http.get("/health/liveness")
            except httpx.TransportError:
                return None

        assert (await eventually(live, timeout=20, interval=0.1)).status_code == 200
        # The health checks run on the channels made at startup: no service answers, so 503 (not a 500).
        ready = await http.get("/health/readiness", headers={"X-Correlation-ID": "main-1"})
        assert ready.status_code == 503, ready.text
        assert ready.json()["components"]["user"]["status"] == "down"
        assert ready.headers["x-correlation-id"] == "main-1"
        cache = await http.get("/health/cache")  # its Redis client, made at startup too, answers
        assert cache.json()["components"]["gateway"]["status"] == "ok"
    process.terminate()
    output, _ = process.communicate(timeout=10)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines, output
    assert all(line["service"] == "gateway" for line in lines)
    assert not [line for line in lines if line["level"] == "error"], output
