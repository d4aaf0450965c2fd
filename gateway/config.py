"""Settings of the REST gateway (GATEWAY_* variables plus the deployment-wide ones)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    redis_url: str = Field(default=deployment.REDIS_URL, validation_alias=alias("REDIS_URL"))
    redis_namespace: str = Field(default=deployment.REDIS_NAMESPACE, validation_alias=alias("HEARTH_REDIS_NAMESPACE"))
    jwt_issuer: str = Field(default=deployment.JWT_ISSUER, validation_alias=alias("HEARTH_JWT_ISSUER"))
    jwt_audience: str = Field(default=deployment.JWT_AUDIENCE, validation_alias=alias("HEARTH_JWT_AUDIENCE"))
    # Deadline of each gRPC call the gateway makes on behalf of a request.
    grpc_timeout_seconds: float = Field(default=5.0)
    max_body_bytes: int = Field(default=1024 * 1024)
    # Browser origins allowed to call the API (CORS), e.g. ["https://app.example.com"]; empty: no CORS at all.
    cors_origins: list[str] = Field(default_factory=list)
    # Strict-Transport-Security max-age on every response; 0 leaves the header out.
    hsts_max_age: int = Field(default=63_072_000, ge=0)
    # /docs, /redoc and /openapi.json; false serves none of them.
    docs_enabled: bool = Field(default=True)
    # The access log (logger hearth.access, INFO): the share of successful requests logged; errors always are.
    access_log_sample: float = Field(default=1.0, ge=0.0, le=1.0)
    # Idempotency-Key records (gateway.idempotency): kept this long; each Redis call bounded by the timeout.
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=7 * 24 * 3600)
    idempotency_timeout_ms: int = Field(default=250, ge=10, le=5000)
    # Serve plainly valid GET chores below FastAPI (gateway.fastlane); false sends every request through FastAPI.
    fast_routes: bool = Field(default=True)
    log_level: str = Field(default="INFO", validation_alias=alias("HEARTH_LOG_LEVEL"))
    otlp_endpoint: str | None = Field(default=None, validation_alias=alias("OTEL_EXPORTER_OTLP_ENDPOINT"))
