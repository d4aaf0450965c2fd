"""Start real Hearth services (and the gateway) in this process, on free ports, on fresh databases.

Every service runs exactly as in production (`services.<name>.server.create_server`), only with
port 0, its own fresh database (a clone of the service's migrated template, tests/support/templates.py),
a fresh Redis namespace, and — when a test passes one — a span exporter shared by all services so a
test can follow one trace across them.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from opentelemetry.sdk.trace.export import SpanExporter

from kit.db import drop_database
from kit.grpc_server import Server
from kit.telemetry import Telemetry, setup_telemetry
from services.deployment import CREDENTIALED, SERVICES
from tests.support import templates, trust
from tests.support.infra import database_url, infra, unique

# Production-strength argon2 costs ~0.2 s a hash; tests register hundreds of people. Tests of the cost
# itself set their own.
TEST_CACHE_TIMEOUT_MS = 2000
FAST_PASSWORDS = {"password_time_cost": 1, "password_memory_kib": 1024, "password_parallelism": 1}


async def migrated_database(service: str) -> str:
    """A new database holding `service`'s schema at head: a clone of its template (tests/support/templates.py)."""
    name = unique(f"hearth_test_{service}")
    await templates.clone(service, name)
    return database_url(name)


def vapid_key_pem() -> str:
    """A fresh VAPID private key (P-256, PEM), as `make run` writes to var/keys/vapid_private.pem."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def service_settings(service: str, **overrides: Any) -> Any:
    config = importlib.import_module(f"services.{service}.config")
    return config.Settings(**overrides)


@dataclass
class Stack:
    namespace: str
    servers: dict[str, Server] = field(default_factory=dict)
    telemetry: dict[str, Telemetry] = field(default_factory=dict)
    databases: dict[str, str] = field(default_factory=dict)
    gateway_url: str = ""
    credentials: trust.Credentials | None = None
    _uvicorn: Any = None
    _uvicorn_task: asyncio.Task[None] | None = None

    def addr(self, service: str) -> str:
        return f"127.0.0.1:{self.servers[service].port}"

    def http(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.gateway_url, timeout=10, **kwargs)


# A test module signs up and logs in people by the dozen from 127.0.0.1, faster than any person would: its
# gateway gets budgets no test reaches, so a 429 is never a test's accident. The limits' own tests
# (gateway/tests/test_rate_limits.py) run a gateway with production-sized or smaller ones.
TEST_RATE_LIMITS: dict[str, Any] = {
    "rate_limit_user": "100000/minute",
    "rate_limit_anonymous": "100000/minute",
    "auth_failures_per_account": 1000,
    "auth_failures_per_ip": 10000,
    # Production's 100 ms bound is for a hung Redis; a loaded CI machine's healthy one can miss it, and a test about
    # the Redis budgets would be decided by the in-process fallback instead. Outage tests set their own.
    "rate_limit_timeout_ms": 2000,
}


@asynccontextmanager
async def running_stack(
    services: Sequence[str] = SERVICES,
    *,
    gateway: bool = False,
    exporter: SpanExporter | None = None,
    settings_overrides: dict[str, dict[str, Any]] | None = None,
) -> AsyncIterator[Stack]:
    """Start `services` (user first: the others verify tokens with its JWKS) and optionally the gateway."""
    stack = Stack(namespace=unique("t"))
    keys_dir = Path(tempfile.mkdtemp(prefix="hearth-keys-"))
    # The task service's photo store (a local directory), the stack's own: never the checkout's var/.
    photos_dir = Path(tempfile.mkdtemp(prefix="hearth-photos-"))
    overrides = settings_overrides or {}
    ordered = sorted(services, key=SERVICES.index)
    urls = await asyncio.gather(*(migrated_database(s) for s in ordered))
    stack.databases = dict(zip(ordered, urls, strict=True))
    try:
        stack.credentials = creds = await trust.provision(stack.namespace, infra().redis_url, CREDENTIALED)
        for service in ordered:
            settings = service_settings(
                service,
                **{
                    "database_url": stack.databases[service],
                    "redis_url": creds.redis_urls[service],
                    "service_secret": creds.service_secrets[service],
                    "redis_namespace": stack.namespace,
                    "grpc_host": "127.0.0.1",
                    "grpc_port": 0,
                    "metrics_port": 0,
                    # Production's 100 ms cache timeout is for a hung Redis; on a loaded CI machine a healthy one
                    # can miss it, turning a test's cached answer into a miss. Outage tests set their own.
                    "cache_timeout_ms": TEST_CACHE_TIMEOUT_MS,
                    "user_addr": stack.addr("user") if "user" in stack.servers else "127.0.0.1:1",
                    **(
                        {"keys_dir": keys_dir, "service_secrets_dir": creds.secrets_dir, **FAST_PASSWORDS}
                        if service == "user"
                        else {}
                    ),
                    **({"photos_dir": photos_dir} if service == "task" else {}),
                    # Web Push on, with a key of the stack's own (services.notify.push).
                    **({"vapid_private_key": vapid_key_pem()} if service == "notify" else {}),
                    **overrides.get(service, {}),
                },
            )
            telemetry = setup_telemetry(service, exporter=exporter)
            module = importlib.import_module(f"services.{service}.server")
            server = await module.create_server(settings, telemetry)
            await server.start()
            stack.servers[service] = server
            stack.telemetry[service] = telemetry
        if gateway:
            await _start_gateway(stack, exporter, overrides.get("gateway", {}))
        yield stack
    finally:
        if stack._uvicorn is not None:
            stack._uvicorn.should_exit = True
            if stack._uvicorn_task is not None:
                await stack._uvicorn_task
        for service in reversed(list(stack.servers)):
            await stack.servers[service].stop(0.5)
        await asyncio.gather(*(drop_database(url) for url in stack.databases.values()))
        if stack.credentials is not None:
            await trust.revoke(stack.credentials, infra().redis_url)
        shutil.rmtree(keys_dir, ignore_errors=True)
        shutil.rmtree(photos_dir, ignore_errors=True)


@asynccontextmanager
async def replica(stack: Stack, service: str, **overrides: Any) -> AsyncIterator[Server]:
    """Another replica of a running `service`: the same settings (database, Redis user, namespace, secrets) on
    its own port, as a second process would run it. Give the service a `cache_secret` so replicas share cache
    entries (each process draws its own otherwise). `overrides`: settings this replica has otherwise."""
    settings = stack.servers[service].runtime.settings.model_copy(update={"grpc_port": 0, **overrides})
    module = importlib.import_module(f"services.{service}.server")
    server = await module.create_server(settings, setup_telemetry(service))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(0.5)


async def _start_gateway(stack: Stack, exporter: SpanExporter | None, overrides: dict[str, Any]) -> None:
    server, task, url = await _serve_gateway(stack, exporter, overrides)
    stack._uvicorn, stack._uvicorn_task, stack.gateway_url = server, task, url


@asynccontextmanager
async def another_gateway(stack: Stack, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A second gateway in front of the same services, with `overrides` of its settings; yields its client."""
    server, task, url = await _serve_gateway(stack, None, overrides)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def _serve_gateway(
    stack: Stack, exporter: SpanExporter | None, overrides: dict[str, Any]
) -> tuple[Any, asyncio.Task[None], str]:
    import uvicorn

    from gateway.app import create_app
    from gateway.config import GatewaySettings

    defaults: dict[str, Any] = {
        "user_addr": stack.addr("user"),
        "task_addr": stack.addr("task") if "task" in stack.servers else "127.0.0.1:1",
        "notify_addr": stack.addr("notify") if "notify" in stack.servers else "127.0.0.1:1",
        "analytics_addr": stack.addr("analytics") if "analytics" in stack.servers else "127.0.0.1:1",
        "redis_url": stack.credentials.redis_urls["gateway"] if stack.credentials else infra().redis_url,
        "redis_namespace": stack.namespace,
        "service_secret": stack.credentials.service_secrets["gateway"] if stack.credentials else None,
        **TEST_RATE_LIMITS,
        # The services' metrics listeners are off in tests (one process, one registry): nothing to relay.
        **{f"{name}_metrics_url": "" for name in SERVICES},
    }
    settings = GatewaySettings(**{**defaults, **overrides})
    telemetry = setup_telemetry("gateway", exporter=exporter)
    if exporter is not None or "gateway" not in stack.telemetry:
        stack.telemetry["gateway"] = telemetry
    app = create_app(settings, telemetry=telemetry)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        lifespan="on",
        server_header=False,
        proxy_headers=False,
        # As `python -m gateway` runs: uvicorn's access lines show raw paths (an invite's code); hearth.access
        # logs the route templates instead.
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task  # surfaces the start-up error
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


__all__ = [
    "FAST_PASSWORDS",
    "SERVICES",
    "Path",
    "Stack",
    "another_gateway",
    "migrated_database",
    "running_stack",
    "service_settings",
]
