"""Typed settings shared by every service; each service subclasses `ServiceSettings`.

Per-service variables carry the service's prefix (`TASK_DATABASE_URL`, `TASK_GRPC_PORT`); the
deployment-wide ones keep their well-known names (`HEARTH_DATABASE_URL`, `REDIS_URL`,
`OTEL_EXPORTER_OTLP_ENDPOINT`, `HEARTH_USER_ADDR`, ...).

This module says what a service must be told, with defaults only where a mechanism has a safe one (bind to
127.0.0.1, a grace period); where the deployment's parts are — servers, addresses, the token issuer — has
no default here: `services/deployment.py` holds the local deployment's.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url

from kit.cron import Cron


def database_url_for(service: str, explicit: str | None, server_url: str | None) -> str:
    """`<NAME>_DATABASE_URL` if given, else database `hearth_<name>` on the `HEARTH_DATABASE_URL` server.

    Always returns an asyncpg URL (`postgresql+asyncpg://`), whatever driver the input named.
    """
    if explicit:
        url = make_url(explicit)
    elif server_url:
        url = make_url(server_url).set(database=f"hearth_{service}")
    else:
        raise ValueError(f"no database: set {service.upper()}_DATABASE_URL or HEARTH_DATABASE_URL")
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def service_config(service: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=f"{service.upper()}_", extra="ignore", populate_by_name=True)


class ServiceSettings(BaseSettings):
    """What every gRPC service needs.

    Subclasses set `service` and `model_config = service_config("task")`, which gives the per-service
    fields their prefix (`TASK_GRPC_PORT`); fields with an explicit alias keep their global name.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)
    service: ClassVar[str] = ""

    # <NAME>_DATABASE_URL; see `sqlalchemy_url` for the fallback.
    database_url: str | None = None
    server_database_url: str | None = Field(default=None, validation_alias=alias("HEARTH_DATABASE_URL"))
    db_pool_size: int = Field(default=10)
    redis_url: str = Field(validation_alias=alias("REDIS_URL"))
    # Prefix of every Redis key and stream ("hearth.events.task", "hearth:task:..."); tests use a fresh one.
    redis_namespace: str = Field(validation_alias=alias("HEARTH_REDIS_NAMESPACE"))

    # Internal ports bind the loopback interface unless told otherwise (0.0.0.0 in a container).
    grpc_host: str = Field(default="127.0.0.1")
    grpc_port: int = Field(default=0)
    # <NAME>_GRPC_REFLECTION=false: no server reflection (grpcurl then needs the .proto files: -import-path/-proto).
    grpc_reflection: bool = Field(default=True)
    # -1: grpc_port + 1000 (the default); 0: no metrics listener. It binds `grpc_host`, like the gRPC port.
    metrics_port: int = Field(default=-1)
    shutdown_grace_seconds: float = Field(default=10.0, validation_alias=alias("HEARTH_SHUTDOWN_GRACE"))

    user_addr: str = Field(validation_alias=alias("HEARTH_USER_ADDR"))
    jwt_issuer: str = Field(validation_alias=alias("HEARTH_JWT_ISSUER"))
    jwt_audience: str = Field(validation_alias=alias("HEARTH_JWT_AUDIENCE"))

    # <NAME>_CACHE_SECRET: the key that authenticates this service's Redis cache entries (kit.cache). Unset: a
    # random one per process (safe; replicas then do not share entries). Set it alike on every replica.
    cache_secret: SecretStr | None = Field(default=None, min_length=16)
    # The cache's own Redis client (kit.runtime, kit.cache): <NAME>_CACHE_REDIS_URL (unset: REDIS_URL); every cache
    # read bounded by <NAME>_CACHE_TIMEOUT_MS, every invalidation by <NAME>_CACHE_INVALIDATE_TIMEOUT_MS (longer: a
    # lost one flushes the whole cache, see kit.cache); after <NAME>_CACHE_BREAKER_FAILURES consecutive failures the
    # cache is bypassed for <NAME>_CACHE_BREAKER_COOLDOWN_SECONDS, then one trial call decides.
    cache_redis_url: str | None = None
    cache_timeout_ms: int = Field(default=100, ge=1, le=10_000)
    cache_invalidate_timeout_ms: int = Field(default=1000, ge=1, le=10_000)
    cache_breaker_failures: int = Field(default=3, ge=1)
    cache_breaker_cooldown_seconds: float = Field(default=5.0, gt=0)
    # The in-process tier in front of Redis (kit.cache.TieredCache): <NAME>_CACHE_LOCAL_ENTRIES per cache (0: no
    # local tier); it is read only while the invalidation feed heard from Redis within
    # <NAME>_CACHE_LOCAL_STALENESS_MS — the bound on how long a lost invalidation can be served from memory.
    cache_local_entries: int = Field(default=10_000, ge=0, le=1_000_000)
    cache_local_staleness_ms: int = Field(default=1000, ge=50, le=60_000)
    # <NAME>_SERVICE_SECRET: this service's own credential, exchanged with the user service for short-lived
    # service tokens for background work (kit.service_tokens); the user service holds the same value in
    # USER_SERVICE_SECRETS_DIR/<name>. Unset: the service cannot call internal RPCs.
    service_secret: SecretStr | None = Field(default=None, min_length=16)
    # While this process's list of revoked sessions is not current (Redis unreachable), access tokens older than
    # this are refused, so clients refresh them against the user service's database (kit.revocations).
    revocation_outage_grace_seconds: float = Field(
        default=60.0, gt=0, le=3600, validation_alias=alias("HEARTH_REVOCATION_OUTAGE_GRACE_SECONDS")
    )

    # Run the outbox relay / event consumers in this process. Any number of replicas may run them (relays claim
    # rows with SKIP LOCKED, consumers share a group); turn them off on replicas that should only serve RPCs,
    # but keep at least one replica with each on, or events wait in the outbox / stream.
    run_relay: bool = Field(default=True)
    run_consumers: bool = Field(default=True)

    # Background jobs (kit.jobs; `python -m services.<name> worker`). Outbox rows published / inbox rows handled
    # longer ago than this are pruned on `prune_cron`. Keep the inbox longer than any event can be redelivered
    # (it is what makes a redelivery a no-op). A worker silent for 3 heartbeats is presumed dead and its jobs
    # are requeued on `jobs_recovery_cron` (cron: 5 fields, or 6 with seconds last).
    outbox_retention_days: float = Field(default=7, gt=0)
    inbox_retention_days: float = Field(default=30, gt=0)
    prune_cron: Cron = Field(default="17 * * * *")
    jobs_recovery_cron: Cron = Field(default="* * * * *")
    jobs_heartbeat_seconds: float = Field(default=10, gt=0)

    # Health (kit.status): every <NAME>_DB_CHECK_INTERVAL_SECONDS the database watcher runs `SELECT 1` bounded by
    # <NAME>_HEALTH_CHECK_TIMEOUT_MS; after <NAME>_DB_CHECK_FAILURES misses in a row grpc health says NOT_SERVING,
    # the first answer says SERVING again. The same deadline bounds each check of GetServiceStatus.
    db_check_interval_seconds: float = Field(default=2.0, gt=0, le=300)
    health_check_timeout_ms: int = Field(default=1000, ge=10, le=30_000)
    db_check_failures: int = Field(default=2, ge=1, le=100)

    log_level: str = Field(default="INFO", validation_alias=alias("HEARTH_LOG_LEVEL"))
    otlp_endpoint: str | None = Field(default=None, validation_alias=alias("OTEL_EXPORTER_OTLP_ENDPOINT"))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings

    @property
    def sqlalchemy_url(self) -> str:
        return database_url_for(self.service, self.database_url, self.server_database_url)

    @property
    def effective_metrics_port(self) -> int:
        if self.metrics_port == -1:
            return self.grpc_port + 1000 if self.grpc_port else 0
        return self.metrics_port
