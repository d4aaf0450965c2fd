"""Settings of the REST gateway (GATEWAY_* variables plus the deployment-wide ones)."""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.ratelimit import parse_limit
from kit.settings import alias
from services import deployment


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    # The local deployment's defaults (services/deployment.py); 0.0.0.0 to listen beyond this machine.
    http_host: str = Field(default=deployment.HOST)
    http_port: int = Field(default=deployment.GATEWAY_PORT)
    user_addr: str = Field(default=deployment.address("user"), validation_alias=alias("HEARTH_USER_ADDR"))
    task_addr: str = Field(default=deployment.address("task"), validation_alias=alias("HEARTH_TASK_ADDR"))
    notify_addr: str = Field(default=deployment.address("notify"), validation_alias=alias("HEARTH_NOTIFY_ADDR"))
    analytics_addr: str = Field(
        default=deployment.address("analytics"), validation_alias=alias("HEARTH_ANALYTICS_ADDR")
    )
    # Each service's Prometheus exposition, relayed at /metrics/{service} (gateway.metrics); empty: not relayed.
    user_metrics_url: str = Field(default=deployment.metrics_url("user"))
    task_metrics_url: str = Field(default=deployment.metrics_url("task"))
    notify_metrics_url: str = Field(default=deployment.metrics_url("notify"))
    analytics_metrics_url: str = Field(default=deployment.metrics_url("analytics"))
    redis_url: str = Field(default=deployment.REDIS_URL, validation_alias=alias("REDIS_URL"))
    redis_namespace: str = Field(default=deployment.REDIS_NAMESPACE, validation_alias=alias("HEARTH_REDIS_NAMESPACE"))
    jwt_issuer: str = Field(default=deployment.JWT_ISSUER, validation_alias=alias("HEARTH_JWT_ISSUER"))
    jwt_audience: str = Field(default=deployment.JWT_AUDIENCE, validation_alias=alias("HEARTH_JWT_AUDIENCE"))
    # GATEWAY_SERVICE_SECRET: the gateway's own credential (its file in USER_SERVICE_SECRETS_DIR on the user service),
    # exchanged for the service token that lets it forward the HTTP client's address and User-Agent (gateway.identity).
    service_secret: SecretStr | None = Field(default=None, min_length=16)
    # While the list of revoked sessions is not current (Redis unreachable), access tokens older than this are
    # refused, so clients refresh them (kit.revocations); the same value as the services'.
    revocation_outage_grace_seconds: float = Field(
        default=60.0, gt=0, le=3600, validation_alias=alias("HEARTH_REVOCATION_OUTAGE_GRACE_SECONDS")
    )
    # Deadline of each gRPC call the gateway makes on behalf of a request.
    grpc_timeout_seconds: float = Field(default=5.0)
    # Live streams (gateway.routes.live): how long one SSE or WebSocket connection is served before it is ended (the
    # client reconnects, resuming with Last-Event-ID), and how many events one may fall behind before it is dropped.
    live_max_seconds: float = Field(default=3600.0, gt=0)
    live_buffer: int = Field(default=256, ge=1, le=100_000)
    max_body_bytes: int = Field(default=1024 * 1024)
    # Browser origins allowed to call the API (CORS), e.g. ["https://app.example.com"]; empty: no CORS at all.
    cors_origins: list[str] = Field(default_factory=list)
    # Strict-Transport-Security max-age on every response; 0 leaves the header out.
    hsts_max_age: int = Field(default=63_072_000, ge=0)
    # /docs, /redoc and /openapi.json; false serves none of them.
    docs_enabled: bool = Field(default=True)
    # The access log (logger hearth.access, INFO): the share of successful requests logged; errors always are.
    access_log_sample: float = Field(default=1.0, ge=0.0, le=1.0)
    # Health (gateway.health): the deadline of every check (a service's health and status RPCs, Redis, the disk).
    health_check_timeout_ms: int = Field(default=1000, ge=10, le=30_000)
    # /health/history: the last N samples of the status, kept in a capped Redis list.
    health_history_size: int = Field(default=100, ge=1, le=10_000)
    # /health/history: how often the background sampler files the status (requests file nothing).
    health_history_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    # /health/status, /database, /cache, /services, /memory: answered from one full check at most this old;
    # concurrent requests share its run (a flood costs the services nothing more).
    health_snapshot_ttl_ms: int = Field(default=1000, ge=0, le=60_000)
    # /health/memory: a process (the gateway, or a service by its status RPC) above this RSS is degraded.
    health_memory_limit_mb: int = Field(default=1024, ge=1)
    # /health/disk: the directory whose file system is watched (empty: the repository's var/, the local data dir;
    # the nearest existing parent while it does not exist yet), degraded when less than the minimum is free.
    health_disk_path: str = Field(default="")
    health_disk_min_free_mb: int = Field(default=1024, ge=0)
    # /health/test/{component}: a check runs at most once per cooldown; concurrent requests share one run.
    health_test_cooldown_ms: int = Field(default=1000, ge=0, le=60_000)
    # /health/metrics-summary and the status page: request rate, error rate and p99 over about this window.
    health_metrics_window_seconds: int = Field(default=60, ge=5, le=3600)
    # Idempotency-Key records (gateway.idempotency): kept this long; each Redis call bounded by the timeout.
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=7 * 24 * 3600)
    idempotency_timeout_ms: int = Field(default=250, ge=10, le=5000)
    # Serve plainly valid GET chores below FastAPI (gateway.fastlane); false sends every request through FastAPI.
    fast_routes: bool = Field(default=True)
    # Rate limits (gateway.ratelimit), in the `limits` notation ("1200/minute", "50 per second"): the request budget
    # of each verified user or API key, and of each client IP for requests without credentials that verify.
    rate_limits_enabled: bool = Field(default=True)
    rate_limit_user: str = Field(default="1200/minute")
    rate_limit_anonymous: str = Field(default="300/minute")
    # Failed attempts on login, register, the password and MFA endpoints, per account and per client IP within the
    # window; then 429 until it has passed. While Redis is unavailable, the in-process limits (per process) decide.
    auth_failures_per_account: int = Field(default=10, ge=1)
    auth_failures_per_ip: int = Field(default=100, ge=1)
    auth_failure_window_seconds: int = Field(default=900, ge=1)
    auth_fallback_failures_per_account: int = Field(default=5, ge=1)
    auth_fallback_failures_per_ip: int = Field(default=20, ge=1)
    # Each Redis call of the rate limits is bounded by this; past it the request budget fails open.
    rate_limit_timeout_ms: int = Field(default=100, ge=10, le=5000)
    # An IPv6 client is counted by its network of this many bits (a /64 is one subscriber's).
    rate_limit_ipv6_prefix: int = Field(default=64, ge=32, le=128)
    # Proxies whose X-Forwarded-For names the client (IPs or CIDRs, e.g. ["10.0.0.0/8"]); empty: the socket peer
    # is the client, and X-Forwarded-For is ignored.
    trusted_proxies: list[str] = Field(default_factory=list)
    log_level: str = Field(default="INFO", validation_alias=alias("HEARTH_LOG_LEVEL"))
    otlp_endpoint: str | None = Field(default=None, validation_alias=alias("OTEL_EXPORTER_OTLP_ENDPOINT"))

    @field_validator("rate_limit_user", "rate_limit_anonymous")
    @classmethod
    def _a_rate_limit(cls, value: str) -> str:
        parse_limit(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        # Normalised (10.0.0.1/8 → 10.0.0.0/8): uvicorn reads an entry with host bits set as a literal host name,
        # which would silently trust nothing. ValueError names a bad one.
        return [str(ipaddress.ip_network(proxy, strict=False)) for proxy in value]
