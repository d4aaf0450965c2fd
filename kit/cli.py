"""`python -m services.<name> [serve|migrate|worker]`: the one entry point every service shares.

`worker` runs the service's background-job worker (kit.jobs): the retention jobs every service has, plus the
service's own tasks (`jobs`, procrastinate Blueprints). It is a process of its own, beside `serve`, so jobs
never compete with RPCs for the event loop and scale separately."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import uvloop
from procrastinate import Blueprint
from prometheus_client import start_http_server

from kit.db import ensure_database
from kit.grpc_server import Server, serve
from kit.jobs import run_worker
from kit.logging import setup_logging
from kit.migrations import upgrade
from kit.parent import die_with_parent
from kit.settings import ServiceSettings
from kit.telemetry import Telemetry, setup_telemetry

log = logging.getLogger("hearth.cli")

CreateServer = Callable[[ServiceSettings, Telemetry], Awaitable[Server]]


async def migrate(settings: ServiceSettings, service_dir: Path) -> None:
    url = settings.sqlalchemy_url
    if await ensure_database(url):
        log.info("created database", extra={"database": url.rsplit("/", 1)[-1].split("?")[0]})
    await asyncio.to_thread(upgrade, service_dir, url)


def serve_metrics(settings: ServiceSettings) -> Any:
    """The Prometheus listener (a thread), on the gRPC host: loopback unless told otherwise, never prometheus_client's
    own default of every interface. None when turned off."""
    if not settings.effective_metrics_port:
        return None
    server, _ = start_http_server(settings.effective_metrics_port, addr=settings.grpc_host)
    return server


def main(
    settings_cls: type[ServiceSettings],
    create_server: CreateServer,
    service_dir: Path,
    *,
    jobs: Sequence[Blueprint] = (),
) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m services.{settings_cls.service}")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate", "worker"])
    parser.add_argument("--migrate", action="store_true", help="with serve or worker: migrate first")
    args = parser.parse_args()
    die_with_parent()
    settings = settings_cls()
    setup_logging(settings.service, settings.log_level)

    async def run() -> None:
        if args.command == "migrate" or args.migrate:
            await migrate(settings, service_dir)
            if args.command == "migrate":
                return
        if args.command == "worker":
            await run_worker(settings, *jobs)
            return
        telemetry = setup_telemetry(settings.service, otlp_endpoint=settings.otlp_endpoint, set_global=True)
        serve_metrics(settings)
        server = await create_server(settings, telemetry)
        try:
            await serve(server, grace=settings.shutdown_grace_seconds)
        finally:
            telemetry.shutdown()

    # uvloop's event loop (grpc.aio and asyncpg run on it): less CPU per RPC than asyncio's own loop. Tests run
    # servers in-process on pytest-asyncio's loop; only this, the production entry point, picks the loop.
    uvloop.run(run())
