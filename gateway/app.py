"""The REST gateway: FastAPI app factory. It owns HTTP only — auth, validation, errors, health, metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gateway import i18n, openapi, problems, tracing
from gateway.api_keys import KeyExchange
from gateway.clients import connect
from gateway.config import GatewaySettings
from gateway.fastlane import FastRoutes
from gateway.health import router as health_router
from gateway.health import start_history_sampler
from gateway.idempotency import IdempotencyMiddleware, IdempotencyStore
from gateway.identity import GatewayIdentity
from gateway.metrics import router as metrics_router
from gateway.middleware import RequestContextMiddleware
from gateway.ratelimit import RateLimiter, RateLimitMiddleware, parse_limit
from gateway.routes import (
    analytics,
    api_keys,
    auth,
    calendar,
    categories,
    chores,
    households,
    live,
    notifications,
    photos,
    points,
    push,
    users,
    webhooks,
)
from kit import redis_client
from kit.auth import TokenVerifier, grpc_jwks_source
from kit.revocations import RevocationList
from kit.runtime import stop_tasks
from kit.service_tokens import ServiceTokens
from kit.telemetry import Telemetry

API_PREFIX = "/api/v1"
API_ROUTERS = (
    auth,
    users,
    api_keys,
    households,
    chores,
    categories,
    points,
    calendar,
    photos,
    notifications,
    push,
    webhooks,
    live,
    analytics,
)
# What a browser app may send and read across origins (the API's own headers; credentials are bearer tokens, not
# cookies, so no allow_credentials).
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    "X-Correlation-ID",
    "Accept-Language",
    "Last-Event-ID",
]
CORS_RESPONSE_HEADERS = [
    "ETag",
    "Location",
    "Retry-After",
    "X-Correlation-ID",
    "Idempotent-Replayed",
    "Content-Language",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
]


def create_app(settings: GatewaySettings, telemetry: Telemetry | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Channels and the Redis client belong to the event loop that serves requests, so they are
        # made here (at startup, in uvicorn's loop), not when the app object is built.
        identity = GatewayIdentity(None)
        clients = connect(settings, telemetry, user_metadata=lambda: identity.forwarded())
        if settings.service_secret is not None:
            identity = GatewayIdentity(
                ServiceTokens(
                    clients.channels["user"],
                    service="gateway",
                    secret=settings.service_secret.get_secret_value(),
                    audience=settings.jwt_audience,
                )
            )
        redis = redis_client.connect(settings.redis_url, socket_timeout=2, socket_connect_timeout=1)
        app.state.clients = clients
        app.state.redis = redis
        app.state.idempotency = IdempotencyStore(
            redis,
            namespace=settings.redis_namespace,
            ttl=settings.idempotency_ttl_seconds,
            # The claim outlives the request: a retry meanwhile is told it is still running, not run twice.
            lock_ttl=int(settings.grpc_timeout_seconds * 3) + 5,
            timeout=settings.idempotency_timeout_ms / 1000,
        )
        app.state.rate_limiter = RateLimiter(
            redis,
            settings.redis_url,
            namespace=settings.redis_namespace,
            user=parse_limit(settings.rate_limit_user),
            anonymous=parse_limit(settings.rate_limit_anonymous),
            failures_per_account=settings.auth_failures_per_account,
            failures_per_ip=settings.auth_failures_per_ip,
            failure_window_seconds=settings.auth_failure_window_seconds,
            fallback_per_account=settings.auth_fallback_failures_per_account,
            fallback_per_ip=settings.auth_fallback_failures_per_ip,
            timeout=settings.rate_limit_timeout_ms / 1000,
            ipv6_prefix=settings.rate_limit_ipv6_prefix,
        )
        # Every access token's session is checked against the revoked ones (kit.revocations), kept in memory.
        revocations = RevocationList(
            redis_client.connect(settings.redis_url, socket_timeout=5, socket_connect_timeout=2),
            settings.redis_namespace,
            outage_grace=settings.revocation_outage_grace_seconds,
        )
        following = asyncio.create_task(revocations.run(), name="revocations")
        app.state.revocations = revocations
        app.state.verifier = TokenVerifier(
            grpc_jwks_source(clients.channels["user"]),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            revocations=revocations,
        )
        app.state.key_exchange = KeyExchange(clients.auth)
        identity.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(revocations.ready.wait(), 2.0)
        history = start_history_sampler(app)  # /health/history, sampled in the background (gateway.health)
        try:
            yield
        finally:
            await history.stop()
            await stop_tasks([following])
            await identity.stop()
            await revocations.close()
            await clients.close()
            await redis.aclose()

    app = FastAPI(
        title="Hearth API",
        version="1.0.0",
        description=(
            "Households sharing chores. This document is the REST contract: every response body is described"
            " here, with an example. Errors are RFC 9457 `application/problem+json` with a stable `code`;"
            " authenticate with `Authorization: Bearer <access token>` from POST /api/v1/auth/login."
        ),
        lifespan=lifespan,
        # One HTTP instrumentation, not two: gateway.tracing's OpenTelemetry middleware traces every request (and
        # the gateway's metrics are Prometheus'); FastAPI's own would wrap each request a second time.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # GATEWAY_DOCS_ENABLED=false: no /docs, /redoc nor /openapi.json (the contract stays in the repository).
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    problems.install(app)
    i18n.load()  # the problem texts' catalogues, read once, before the first request
    openapi.install(app)
    for module in API_ROUTERS:
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(auth.jwks_router)
    app.include_router(auth.jwks_router, prefix=API_PREFIX, deprecated=True)  # gateway.deprecation
    app.include_router(health_router)
    app.include_router(metrics_router)
    # add_middleware puts each one outside the ones before it:
    # [trusted proxies →] span → request context (+ security headers) → CORS → rate limits → idempotency → fast
    # routes → FastAPI. Rate limits inside CORS, so a browser can read a 429; before idempotency, so a refused
    # request claims no key.
    if settings.fast_routes:
        app.add_middleware(FastRoutes)
    # A photo upload streams through to the task service: never read whole here (gateway.routes.photos).
    app.add_middleware(IdempotencyMiddleware, streamed=photos.STREAMED_WRITES)
    if settings.rate_limits_enabled:
        # What the API routers serve (FastAPI 0.16x keeps included routers as such in app.routes, unflattened).
        served = frozenset(
            (method, API_PREFIX + route.path)
            for module in API_ROUTERS
            for route in module.router.routes
            if isinstance(route, APIRoute)
            for method in route.methods or ()
        )
        app.add_middleware(RateLimitMiddleware, served=served)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_RESPONSE_HEADERS,
            max_age=600,
        )
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        large_bodies=photos.LARGE_BODIES,
        hsts_max_age=settings.hsts_max_age,
        access_sample=settings.access_log_sample,
    )
    if telemetry is not None:
        tracing.instrument(app, telemetry)
    if settings.trusted_proxies:
        # Outermost: the client address every layer sees (spans, access log, rate limits, login's IP) is the one
        # the trusted proxies name in X-Forwarded-For; from anyone else the header is ignored.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    # Outside everything: a calendar feed's token leaves the query string before a span or log can record it.
    app.add_middleware(calendar.HiddenFeedToken)
    app.add_middleware(live.HiddenStreamCredentials)  # the same for a live stream's ticket (gateway.routes.live)
    return app
