"""`make run` (scripts/run.py) supervises what it starts: a service or worker that dies is restarted and serves
again; Ctrl-C stops every child; a child that keeps crashing right after start makes run.py give up (exit 1).

run.py runs for real, as a subprocess, against the test PostgreSQL and Redis (so no embedded servers), with
throw-away databases, a fresh Redis namespace and free ports.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kit.db import drop_database
from tests.support.infra import ROOT, database_url, infra, unique
from tests.support.wait import eventually

SERVICES = ("user", "task", "notify", "analytics")
STARTED = re.compile(r"(\S+) started \(pid (\d+)\)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunPy:
    """scripts/run.py as a subprocess, its output collected line by line (colour codes removed)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.process = subprocess.Popen(
            [sys.executable, "scripts/run.py"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.changed:
                self.lines.append(ANSI.sub("", line.rstrip("\n")))
                self.changed.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], object], timeout: float) -> object:
        """Until `predicate(lines so far)` is truthy (its value), or AssertionError with the output."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not (found := predicate(self.lines)):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not self.reader.is_alive()):
                    tail = "\n".join(self.lines[-120:])
                    raise AssertionError(f"run.py never printed what was awaited; its output ended:\n{tail}")
                self.changed.wait(min(remaining, 0.5))
            return found

    def pids(self) -> dict[str, list[int]]:
        """Every pid run.py reported starting, per program, in order."""
        started: dict[str, list[int]] = {}
        with self.changed:
            for line in self.lines:
                if match := STARTED.search(line):
                    started.setdefault(match[1], []).append(int(match[2]))
        return started

    def output(self) -> str:
        with self.changed:
            return "\n".join(self.lines)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def serving(port: int) -> bool:
    with grpc.insecure_channel(f"localhost:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], dict[str, int]]]:
    """The environment of a run.py with its own databases, namespace and ports; the databases go afterwards."""
    ports = {name: free_port() for name in (*SERVICES, "gateway")}
    urls = {name: database_url(unique(f"hearth_run_{name}")) for name in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEARTH_", "GATEWAY_", "OTEL_"))}
    for name in SERVICES:
        upper = name.upper()
        env |= {
            f"{upper}_DATABASE_URL": urls[name],
            f"{upper}_GRPC_PORT": str(ports[name]),
            f"{upper}_METRICS_PORT": "0",
            f"HEARTH_{upper}_ADDR": f"localhost:{ports[name]}",
        }
    env |= {
        "REDIS_URL": infra().redis_url,
        "HEARTH_REDIS_NAMESPACE": unique("t"),
        "GATEWAY_HTTP_PORT": str(ports["gateway"]),
        "USER_KEYS_DIR": str(tmp_path / "keys"),
        "HEARTH_LOG_LEVEL": "WARNING",
        "HEARTH_SHUTDOWN_GRACE": "2",
        "PYTHONUNBUFFERED": "1",
    }
    yield env, ports

    async def drop_all() -> None:
        await asyncio.gather(*(drop_database(url) for url in urls.values()))

    asyncio.run(drop_all())


def stop(run: RunPy) -> None:
    """Last resort after a failed test: nothing run.py started may outlive it. Its output goes to the test's
    captured stdout (shown when the test fails)."""
    print(run.output())
    if run.process.poll() is None:
        run.process.kill()
        run.process.wait(timeout=10)
    for pids in run.pids().values():
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_killed_service_and_worker_are_restarted_and_ctrl_c_stops_everything(stack_env) -> None:
    env, ports = stack_env
    run = RunPy(env)
    try:
        run.wait_for(lambda lines: any("ready:" in line for line in lines), timeout=120)
        first = run.pids()
        assert set(first) == {*SERVICES, *(f"{name}-worker" for name in SERVICES), "gateway"}
        [task_pid] = first["task"]
        [worker_pid] = first["notify-worker"]

        os.kill(task_pid, signal.SIGKILL)
        os.kill(worker_pid, signal.SIGKILL)
        run.wait_for(lambda _: len(run.pids()["task"]) == 2 and len(run.pids()["notify-worker"]) == 2, timeout=30)
        output = run.output()
        assert "task was killed by SIGKILL" in output
        assert "notify-worker was killed by SIGKILL" in output
        new_task_pid = run.pids()["task"][-1]
        assert new_task_pid != task_pid
        wait_until(lambda: serving(ports["task"]), timeout=30, what="the restarted task service serves")
        assert alive(run.pids()["notify-worker"][-1])
        assert run.process.poll() is None  # one child dying did not stop the stack

        run.process.send_signal(signal.SIGINT)
        assert run.process.wait(timeout=30) == 0
        every_pid = [pid for pids in run.pids().values() for pid in pids]
        assert len(every_pid) == 11, run.output()  # 9 started at first, 2 restarts: none during shutdown
        assert [pid for pid in every_pid if alive(pid)] == []
        assert not serving(ports["task"])
    finally:
        stop(run)


def load_run_py() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hearth_run_script", ROOT / "scripts" / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def test_a_child_that_keeps_crashing_right_after_start_makes_the_supervisor_give_up(capsys) -> None:
    run_py = load_run_py()
    run_py.RESTART_BASE_SECONDS = 0.05  # this copy of the module only: the same backoff, 10x shorter
    supervisor = run_py.Supervisor()
    program = run_py.Supervised("crasher", ("-c", "raise SystemExit(3)"))
    supervisor.start(program)
    async with asyncio.timeout(60):
        await supervisor.stopping.wait()
    await supervisor.shutdown()
    assert supervisor.gave_up
    assert program.quick_crashes == run_py.MAX_QUICK_CRASHES
    output = capsys.readouterr().out
    assert output.count("crasher started (pid") == run_py.MAX_QUICK_CRASHES
    assert output.count("crasher exited with 3") == run_py.MAX_QUICK_CRASHES
    assert "giving up and stopping everything" in output
    waits = [float(w) for w in re.findall(r"restarting it in ([0-9.]+)s", output)]
    assert len(waits) == run_py.MAX_QUICK_CRASHES - 1
    assert waits[-1] > waits[0]  # the backoff grew (each wait is jittered within [half, all] of its step)


async def test_a_child_that_stayed_up_long_enough_restarts_from_the_shortest_backoff(capsys) -> None:
    run_py = load_run_py()
    run_py.STABLE_SECONDS = 0.3  # this copy of the module only: "long enough" for a test
    supervisor = run_py.Supervisor()
    program = run_py.Supervised("sleeper", ("-c", "import time; time.sleep(0.5)"))
    supervisor.start(program)

    printed: list[str] = []

    async def restarted_often() -> bool:
        printed.append(capsys.readouterr().out)
        return "".join(printed).count("sleeper started") > run_py.MAX_QUICK_CRASHES

    await eventually(restarted_often, timeout=60, interval=0.05)
    assert not supervisor.gave_up  # more exits than MAX_QUICK_CRASHES, none of them right after start
    assert program.quick_crashes == 1
    await supervisor.shutdown()
    assert program.child is not None
    assert program.child.process.returncode is not None
