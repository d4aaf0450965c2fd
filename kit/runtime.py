"""What every service process holds: settings, telemetry, database, Redis, token verifier, channels.

Two Redis clients: `redis` for the event streams and the outbox relay (a blocking XREADGROUP waits seconds, so
its socket timeout is long), and `cache_redis` for cache calls only (`<NAME>_CACHE_REDIS_URL`, default
REDIS_URL): reads bounded by `<NAME>_CACHE_TIMEOUT_MS` (100 ms), invalidations by
`<NAME>_CACHE_INVALIDATE_TIMEOUT_MS` (1 s), no retries, and one circuit breaker (`cache_breaker`) shared by every
cache of the service (`signed_cache`), so a hung Redis costs a read at most one short timeout (kit.cache).

A service's `server.create_server()` builds a `Runtime`, makes its gRPC server with
`runtime.build_server(...)`, starts its outbox relay (`publish_outbox`) and event consumer
(`consume`) — background tasks whose lifetime is the server's — and returns `runtime.attach(server)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
from collections.abc import AsyncIterator, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import redis.asyncio as aioredis
from hearth.status.v1 import status_pb2_grpc
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kit import metrics, redis_acl, redis_client
from kit.auth import JwksSource, TokenVerifier, grpc_jwks_source, service_audience
from kit.breaker import CircuitBreaker
from kit.cache import InvalidationFeed, SignedCache, TieredCache, invalidation_channel
from kit.db import asyncpg_dsn, create_engine, session_factory
from kit.erasure import stream_erasure
from kit.events import EventConsumer, Handlers, combine
from kit.grpc_client import make_channel
from kit.grpc_server import Registration, Server, build_server
from kit.outbox import OutboxRelay
from kit.revocations import RevocationList
from kit.service_tokens import ServiceTokens
from kit.settings import ServiceSettings
from kit.status import METHOD as STATUS_METHOD
from kit.status import SERVICE_NAME as STATUS_SERVICE
from kit.status import DatabaseWatcher, HealthConnection, StatusServicer
from kit.telemetry import Telemetry, setup_telemetry

log = logging.getLogger("hearth.runtime")


@dataclass
class Runtime:
    settings: ServiceSettings
    telemetry: Telemetry
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: aioredis.Redis
    # The cache's own client (short timeouts, no retries) and its circuit breaker; see the module docstring.
    cache_redis: aioredis.Redis
    cache_breaker: CircuitBreaker
    verifier: TokenVerifier
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # This service's own identity for background calls (None in the user service, which issues them).
    service_tokens: ServiceTokens | None = None
    # This process's cache invalidation feed (the first `cache()` starts it) and the tiered caches it feeds.
    cache_feed: InvalidationFeed | None = None
    caches: list[TieredCache] = field(default_factory=list)
    # Flips the server's grpc health with the database's reachability (kit.status); made by `attach`.
    database_watcher: DatabaseWatcher | None = None
    # The revoked sessions the verifier checks every access token against (kit.revocations); run by `attach`.
    revocations: RevocationList | None = None

    def spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run a background loop (relay, consumer) for the life of the server; a crash is logged."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self.tasks.append(task)

    def signed_cache(self, *, ttl: int, name: str = "") -> SignedCache:
        """A Redis-tier cache under this service's prefix (`{namespace}:{service}`), keyed by `<NAME>_CACHE_SECRET`
        (or this process's random secret), on the cache client, bounded by its timeout and breaker."""
        settings = self.settings
        return SignedCache(
            self.cache_redis,
            prefix=self.cache_prefix,
            secret=self._cache_secret,
            ttl=ttl,
            breaker=self.cache_breaker,
            timeout=settings.cache_timeout_ms / 1000,
            invalidate_timeout=settings.cache_invalidate_timeout_ms / 1000,
            name=name,
        )

    @property
    def cache_prefix(self) -> str:
        return f"{self.settings.redis_namespace}:{self.settings.service}"

    @functools.cached_property
    def _cache_secret(self) -> bytes:
        secret = self.settings.cache_secret
        return secret.get_secret_value().encode() if secret else secrets.token_bytes(32)

    def cache(self, name: str, *, ttl: int) -> TieredCache:
        """The read-through cache `name` of this service (kit.cache.TieredCache): an in-process tier kept honest by
        this process's invalidation feed (started with the first cache, one per process), in front of the Redis
        tier. `<NAME>_CACHE_LOCAL_ENTRIES=0` turns the in-process tier off."""
        settings = self.settings
        remote = self.signed_cache(ttl=ttl, name=name)
        if settings.cache_local_entries == 0:
            return TieredCache(remote)
        if self.cache_feed is None:
            self.cache_feed = InvalidationFeed(
                redis_client.connect(
                    settings.cache_redis_url or settings.redis_url, socket_timeout=5, socket_connect_timeout=2
                ),
                invalidation_channel(self.cache_prefix),
                staleness=settings.cache_local_staleness_ms / 1000,
                heartbeat=settings.cache_local_staleness_ms / 5000,
            )
            self.spawn("cache-feed", self.cache_feed.run())
        cache = TieredCache(remote, feed=self.cache_feed, local_entries=settings.cache_local_entries)
        self.caches.append(cache)
        return cache

    async def warm_caches(self, wait: float = 2.0) -> None:
        """Before serving: wait (briefly) for the invalidation feed, then load every cache's hot keys locally. A
        Redis that does not answer only means a cold start."""
        if self.cache_feed is None:
            return
        try:
            async with asyncio.timeout(wait):
                await self.cache_feed.ready.wait()
        except TimeoutError:
            log.warning("cache invalidation feed not subscribed yet; starting with cold in-process caches")
            return
        for cache in self.caches:
            loaded = await cache.warm()
            log.info("cache warmed", extra={"cache": cache.remote.label, "cache_entries": loaded})

    def stream(self, domain: str) -> str:
        return f"{self.settings.redis_namespace}.events.{domain}"

    @contextlib.asynccontextmanager
    async def closed_on_error(self) -> AsyncIterator[None]:
        """Wiring that fails half-way closes what the runtime already opened (pool, Redis, channels)."""
        try:
            yield
        except BaseException:
            await self.close()
            raise

    def build_server(
        self,
        registrations: Sequence[Registration],
        *,
        public_methods: Iterable[str] = (),
        record_clients: bool = False,
    ) -> Server:
        """The service's gRPC server (not started), on the configured host and port, verifying tokens; with
        `hearth.status.v1.StatusService` (kit.status), answered without a token like grpc.health.v1."""
        status = (status_pb2_grpc.add_StatusServiceServicer_to_server, StatusServicer(self), STATUS_SERVICE)
        return build_server(
            service=self.settings.service,
            registrations=[*registrations, status],
            telemetry=self.telemetry,
            verifier=self.verifier,
            public_methods=[*public_methods, STATUS_METHOD],
            host=self.settings.grpc_host,
            port=self.settings.grpc_port,
            reflect=self.settings.grpc_reflection,
            record_clients=record_clients,
        )

    def publish_outbox(self) -> None:
        """Run the relay from this service's outbox to its stream (`{namespace}.events.{service}`), unless
        the settings say it runs elsewhere. Every service runs one, so its first event just works."""
        if not self.settings.run_relay:
            return
        relay = OutboxRelay(
            sessions=self.sessions,
            redis=self.redis,
            stream=self.stream(self.settings.service),
            dsn=asyncpg_dsn(self.settings.sqlalchemy_url),
        )
        self.spawn("outbox-relay", relay.run())

    def consume(self, domains: Sequence[str], handlers: Handlers) -> None:
        """Run one consumer (group = this service) over the event streams of `domains`. A service that hears the
        user stream also erases a deleted person's entries from its own stream (kit.erasure.stream_erasure), beside
        whatever its own user.deleted handler erases."""
        service = self.settings.service
        if "user" in domains and service in redis_acl.PRODUCERS:
            handlers = combine(handlers, stream_erasure(self.redis, self.stream(service)))
        allowed = redis_acl.CONSUMES.get(service)
        if allowed is not None and not set(domains) <= set(allowed):
            # Its Redis ACL user could not read them (NOPERM at the first poll): say so at start-up instead.
            raise ValueError(f"{service} consumes {sorted(domains)}, but kit.redis_acl.CONSUMES allows {allowed}")
        # Built (and so checked: handlers for events none of these streams carries are refused) even where this
        # replica runs no consumer, so a wiring mistake fails every replica's start, not only some.
        consumer = EventConsumer(
            sessions=self.sessions,
            redis=self.redis,
            streams=[self.stream(domain) for domain in domains],
            group=service,
            consumer=f"{service}-{os.getpid()}-{id(self)}",
            handlers=handlers,
            tracer=self.telemetry.tracer("hearth.events"),
        )
        if self.settings.run_consumers:
            self.spawn("events", consumer.run())

    async def close(self) -> None:
        await stop_tasks(self.tasks)
        for channel in self.channels.values():
            await channel.close(None)  # no grace (grpcio's default; grpc-stubs makes the argument required)
        await self.redis.aclose()
        await self.cache_redis.aclose()
        if self.cache_feed is not None:
            await self.cache_feed.close()
        if self.revocations is not None:
            await self.revocations.close()
        await self.engine.dispose()

    def attach(self, server: Server) -> Server:
        async def close() -> None:
            await self.close()

        settings = self.settings
        timeout = settings.health_check_timeout_ms / 1000
        self.database_watcher = watcher = DatabaseWatcher(
            # Not the pool: a pool busy with requests must not read as a dead database (kit.status).
            HealthConnection(asyncpg_dsn(settings.sqlalchemy_url), connect_timeout=timeout),
            server.set_serving,
            interval=settings.db_check_interval_seconds,
            timeout=timeout,
            failures=settings.db_check_failures,
        )

        async def watch() -> None:
            self.spawn("database-watcher", watcher.run())

        async def follow_revocations() -> None:
            # Before serving, so the first call is checked against a loaded list (a Redis that does not answer
            # costs this wait once; the list then counts as not current: kit.revocations).
            if self.revocations is not None:
                self.spawn("revocations", self.revocations.run())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.revocations.ready.wait(), 2.0)

        server.cleanups.append(close)
        server.startups.append(follow_revocations)
        server.startups.append(self.warm_caches)
        server.serving_hooks.append(watch)
        server.runtime = self
        return server


async def stop_tasks(tasks: Iterable[asyncio.Task[None]], *, every: float = 0.5) -> None:
    """Cancel `tasks` and wait until each has ended, cancelling again every `every` s while one runs on.

    Why again: a cancellation can be swallowed on its way — redis-py reading a blocking XREADGROUP reply inside
    its socket timeout has been seen to turn it into a timeout it then retries — and a task that lost its one
    cancellation would keep a server's shutdown waiting forever (the test suite's 300 s teardown stalls)."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=every)
    for task in tasks:
        if not task.cancelled():
            with contextlib.suppress(Exception):
                task.exception()  # retrieved: a crash was logged by _log_crash already


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s crashed", task.get_name(), exc_info=task.exception())


def cache_client(settings: ServiceSettings) -> aioredis.Redis:
    """The cache's Redis client: every socket operation and connect bounded by the longest cache bound (kit.cache
    bounds each read by the shorter one itself), and no retries (redis-py retries a timeout three times by default
    — a hung Redis would cost four timeouts)."""
    timeout = max(settings.cache_timeout_ms, settings.cache_invalidate_timeout_ms) / 1000
    return redis_client.connect(
        settings.cache_redis_url or settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


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
    metrics.watch_pool(settings.service, engine)
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
    revocations = RevocationList(
        redis_client.connect(settings.redis_url, socket_timeout=5, socket_connect_timeout=2),
        settings.redis_namespace,
        outage_grace=settings.revocation_outage_grace_seconds,
    )
    verifier = TokenVerifier(
        jwks_source,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        service_audience=service_audience(settings.jwt_audience, settings.service),
        revocations=revocations,
    )
    service_tokens = None
    if "user" in channels:
        secret = settings.service_secret.get_secret_value() if settings.service_secret else None
        service_tokens = ServiceTokens(
            channels["user"], service=settings.service, secret=secret, audience=settings.jwt_audience
        )
    return Runtime(
        settings=settings,
        telemetry=telemetry,
        engine=engine,
        sessions=session_factory(engine),
        redis=redis_client.connect(settings.redis_url, socket_timeout=5, socket_connect_timeout=2),
        cache_redis=cache_client(settings),
        cache_breaker=CircuitBreaker(
            f"{settings.redis_namespace}:{settings.service}:cache",
            failures=settings.cache_breaker_failures,
            cooldown=settings.cache_breaker_cooldown_seconds,
        ),
        verifier=verifier,
        channels=channels,
        service_tokens=service_tokens,
        revocations=revocations,
    )
