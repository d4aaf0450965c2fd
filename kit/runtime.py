"""What every service process holds: settings, telemetry, database, Redis, token verifier, channels.

A service's `server.create_server()` builds a `Runtime`, registers its servicers on a kit `Server`,
and attaches background tasks (outbox relay, event consumers) whose lifetime is the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import grpc
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kit.auth import JwksSource, TokenVerifier, grpc_jwks_source
from kit.db import create_engine, session_factory
from kit.grpc_client import make_channel
from kit.grpc_server import Server
from kit.settings import ServiceSettings
from kit.telemetry import Telemetry, setup_telemetry

log = logging.getLogger("hearth.runtime")


@dataclass
class Runtime:
    settings: ServiceSettings
    telemetry: Telemetry
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: aioredis.Redis
    verifier: TokenVerifier
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run a background loop (relay, consumer) for the life of the server; a crash is logged."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self.tasks.append(task)

    def stream(self, domain: str) -> str:
        return f"{self.settings.redis_namespace}.events.{domain}"

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for channel in self.channels.values():
            await channel.close(None)  # no grace (grpcio's default; grpc-stubs makes the argument required)
        await self.redis.aclose()
        await self.engine.dispose()

    def attach(self, server: Server) -> Server:
        async def close() -> None:
            await self.close()

        server.cleanups.append(close)
        server.runtime = self
        return server


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s crashed", task.get_name(), exc_info=task.exception())


def create_runtime(
    settings: ServiceSettings,
    *,
    telemetry: Telemetry | None = None,
    jwks_source: JwksSource | None = None,
) -> Runtime:
    """`jwks_source` defaults to asking the user service (HEARTH_USER_ADDR) for its JWKS."""
    telemetry = telemetry or setup_telemetry(settings.service, otlp_endpoint=settings.otlp_endpoint)
    engine = create_engine(settings.sqlalchemy_url, pool_size=settings.db_pool_size)
    telemetry.instrument_engine(engine)
    channels: dict[str, grpc.aio.Channel] = {}
    if jwks_source is None:
        from hearth.user.v1 import user_pb2

        from kit.grpc_client import idempotent_methods

        channels["user"] = make_channel(
            settings.user_addr,
            telemetry=telemetry,
            retry_methods=idempotent_methods(*user_pb2.DESCRIPTOR.services_by_name.values()),
        )
        jwks_source = grpc_jwks_source(channels["user"])
    verifier = TokenVerifier(jwks_source, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    return Runtime(
        settings=settings,
        telemetry=telemetry,
        engine=engine,
        sessions=session_factory(engine),
        redis=aioredis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2),
        verifier=verifier,
        channels=channels,
    )
