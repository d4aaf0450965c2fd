"""The processes under test: the Hearth stack (4 services + gateway) and the two echo servers.

Each is its own process, started the way `make run` starts them (`scripts/run.py`: `python -m
services.<name>`, `python -m gateway`, configured through the environment, each service with its own
service secret, kept running by run.py's `Supervisor` — own process group, restarted after a backoff
if it exits — and waited for through their health checks), but on free ports, with fresh databases
`hearth_bench_<name>` (dropped before and after), a fresh Redis namespace, throw-away signing keys and
service secrets, and WARNING-level logs. The job workers (`python -m services.<name> worker`) are not
started: they only prune outbox/inbox rows and old jobs on a schedule, nothing on a request's path waits
for them. PostgreSQL and Redis are the machine's on 127.0.0.1 when they answer, else embedded ones
(`tests/support/infra.py`); that Redis is, to run.py, an external `REDIS_URL`, so every process uses
it as given (no per-process ACL users), and so does the bench (it scans and deletes its namespace).
A process that exits during a run is named by `Processes.exited()` (the run then fails). Everything is
stopped and removed on the way out, failure or not.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from kit.db import drop_database
from scripts.run import (
    CHILD_ENV,
    Supervised,
    Supervisor,
    configure_environment,
    grpc_serving,
    http_live,
    migrate,
    provide_credentials,
)
from services.deployment import SERVICES
from tests.support import infra

LOG_LEVEL = "WARNING"  # per-request logs must not dominate what is measured


@dataclass
class Processes:
    """The programs one `running()` block started, each kept running by scripts/run.py's Supervisor."""

    supervisor: Supervisor = field(default_factory=Supervisor)

    @property
    def pids(self) -> dict[str, int]:
        return {p.name: p.child.process.pid for p in self.supervisor.programs if p.child is not None}

    def exited(self) -> list[str]:
        """The programs that exited on their own since they were started (the supervisor restarted them)."""
        return [p.name for p in self.supervisor.programs if p.quick_crashes]


@dataclass
class Stack:
    gateway_url: str
    redis_url: str
    namespace: str
    processes: Processes


@dataclass
class Echo:
    grpc_port: int
    http_port: int
    processes: Processes


def free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel considers free right now (all held open until all are picked)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


async def start(processes: Processes, name: str, *args: str, ready: Callable[[], Awaitable[bool]]) -> None:
    """Start `python <args>` under the supervisor and wait until `ready()` (its health check) says so."""
    program = Supervised(name, args, ready=ready)
    processes.supervisor.start(program)
    if not await processes.supervisor.wait_ready(program):
        raise RuntimeError(f"{name} did not become ready (its output is above)")


@asynccontextmanager
async def running(processes: Processes) -> AsyncIterator[Processes]:
    try:
        yield processes
    finally:
        await processes.supervisor.shutdown()


# The bench's one user sends thousands of requests a second and the seed signs people up by the hundred from one
# IP: the limits stay on (every request pays for its check, as in production) with budgets the load never exhausts.
# bench/report.py states them with every run.
RATE_LIMITS = {
    "GATEWAY_RATE_LIMIT_USER": "10000000/minute",
    "GATEWAY_RATE_LIMIT_ANONYMOUS": "1000000/minute",
}


def configure(
    ports: list[int], keys_dir: Path, secrets_dir: Path, namespace: str, database_prefix: str = "hearth_bench"
) -> dict[str, int]:
    """The environment every child inherits, and each one's own credentials (as `make run` gives them);
    returns the gRPC port per service.

    `ports`: one per service, then the gateway's; `database_prefix`: the run's database names' prefix.
    """
    where = infra.infra()
    env = {
        "REDIS_URL": where.redis_url,
        "HEARTH_REDIS_NAMESPACE": namespace,
        "HEARTH_LOG_LEVEL": LOG_LEVEL,
        "HEARTH_SHUTDOWN_GRACE": "5",
        "USER_KEYS_DIR": str(keys_dir),
        # Tokens outlive any run (the default 15 minutes would turn a long --duration into 401s).
        "USER_ACCESS_TOKEN_TTL_SECONDS": "86400",
        "GATEWAY_HTTP_HOST": "127.0.0.1",
        "GATEWAY_HTTP_PORT": str(ports[-1]),
        **RATE_LIMITS,
    }
    for name, port in zip(SERVICES, ports[: len(SERVICES)], strict=True):
        prefix = name.upper()
        env |= {
            f"{prefix}_DATABASE_URL": infra.database_url(f"{database_prefix}_{name}"),
            f"{prefix}_GRPC_HOST": "127.0.0.1",
            f"{prefix}_GRPC_PORT": str(port),
            f"{prefix}_METRICS_PORT": "0",
            f"HEARTH_{prefix}_ADDR": f"127.0.0.1:{port}",
        }
    os.environ.update(env)
    os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)  # no trace export: comparable runs
    os.environ.pop("USER_SERVICE_SECRETS_DIR", None)  # provide_credentials gives user the run's own directory
    grpc_ports = configure_environment()
    provide_credentials(secrets_dir)  # <NAME>_SERVICE_SECRET each, USER_SERVICE_SECRETS_DIR to user
    return grpc_ports


@asynccontextmanager
async def hearth_stack(database_prefix: str = "hearth_bench") -> AsyncIterator[Stack]:
    """user, task, notify, analytics and the gateway, each `python -m ...`, ready to serve, on the databases
    `<database_prefix>_<service>` (another prefix lets a second bench run beside `make bench`)."""
    namespace = infra.unique("bench")
    keys_dir = Path(tempfile.mkdtemp(prefix="hearth-bench-keys-"))
    secrets_dir = Path(tempfile.mkdtemp(prefix="hearth-bench-service-secrets-"))
    databases: list[str] = []
    redis_url = ""
    try:
        ports = configure(free_ports(len(SERVICES) + 1), keys_dir, secrets_dir, namespace, database_prefix)
        databases = [os.environ[f"{name.upper()}_DATABASE_URL"] for name in SERVICES]
        redis_url = os.environ["REDIS_URL"]
        await asyncio.gather(*(drop_database(url) for url in databases))  # leftovers of a killed run
        await asyncio.gather(*(migrate(name) for name in SERVICES))
        async with running(Processes()) as processes:
            # user first: the others fetch its JWKS to verify tokens.
            for name, port in ports.items():
                await start(processes, name, "-m", f"services.{name}", ready=functools.partial(grpc_serving, port))
            http_port = int(os.environ["GATEWAY_HTTP_PORT"])
            await start(processes, "gateway", "-m", "gateway", ready=functools.partial(http_live, http_port))
            yield Stack(f"http://127.0.0.1:{http_port}", redis_url, namespace, processes)
    finally:
        await asyncio.gather(*(drop_database(url) for url in databases), return_exceptions=True)
        if redis_url:
            await forget_namespace(redis_url, namespace)
        CHILD_ENV.clear()
        shutil.rmtree(keys_dir, ignore_errors=True)
        shutil.rmtree(secrets_dir, ignore_errors=True)


@asynccontextmanager
async def echo_servers() -> AsyncIterator[Echo]:
    """The grpc echo and the FastAPI echo in front of it, each its own process."""
    grpc_port, http_port = free_ports(2)
    async with running(Processes()) as processes:
        echo_grpc = ("-m", "bench.echo", "grpc", str(grpc_port))
        await start(processes, "echo-grpc", *echo_grpc, ready=functools.partial(grpc_serving, grpc_port))
        echo_http = ("-m", "bench.echo", "http", str(http_port), f"127.0.0.1:{grpc_port}")
        await start(processes, "echo-http", *echo_http, ready=functools.partial(http_live, http_port))
        yield Echo(grpc_port, http_port, processes)


async def forget_namespace(redis_url: str, namespace: str) -> None:
    """Delete the run's keys (`{ns}:...`) and streams (`{ns}.events....`)."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        for pattern in (f"{namespace}:*", f"{namespace}.*"):
            async for key in client.scan_iter(match=pattern, count=1000):
                await client.delete(key)
    finally:
        await client.aclose()


async def events_settled(stack: Stack, domain: str, timeout: float = 120.0) -> float | None:
    """Seconds until every consumer group of `domain`'s stream has read and acked all of it; None on timeout.

    The stream must also stop growing between two looks, so the outbox relay has caught up as well.
    """
    stream = f"{stack.namespace}.events.{domain}"
    client = aioredis.Redis.from_url(stack.redis_url)  # not decoded: XINFO STREAM carries binary entries
    began = time.monotonic()
    settled_at: tuple[bytes, float] | None = None  # (last id, when) of the first look that found all read
    try:
        while time.monotonic() - began < timeout:
            try:
                last = (await client.xinfo_stream(stream))["last-generated-id"]
            except ResponseError:  # no such stream: nothing was ever published
                return 0.0
            groups = await client.xinfo_groups(stream)
            if not all(g["last-delivered-id"] == last and g["pending"] == 0 for g in groups):
                settled_at = None
            elif settled_at is not None and settled_at[0] == last:
                return settled_at[1] - began
            else:
                settled_at = (last, time.monotonic())
            await asyncio.sleep(0.25)
        return None
    finally:
        await client.aclose()
