"""Settings of the REST gateway (GATEWAY_* variables plus the deployment-wide ones)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kit.settings import DEFAULT_PORTS, alias


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    http_host: str = Field(default="0.0.0.0")
    http_port: int = Field(default=8080)
    user_addr: str = Field(default=f"localhost:{DEFAULT_PORTS['user']}", validation_alias=alias("HEARTH_USER_ADDR"))
    task_addr: str = Field(default=f"localhost:{DEFAULT_PORTS['task']}", validation_alias=alias("HEARTH_TASK_ADDR"))
    notify_addr: str = Field(
        default=f"localhost:{DEFAULT_PORTS['notify']}", validation_alias=alias("HEARTH_NOTIFY_ADDR")
    )
    analytics_addr: str = Field(
        default=f"localhost:{DEFAULT_PORTS['analytics']}", validation_alias=alias("HEARTH_ANALYTICS_ADDR")
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", validation_alias=alias("REDIS_URL"))
    redis_namespace: str = Field(default="hearth", validation_alias=alias("HEARTH_REDIS_NAMESPACE"))
    jwt_issuer: str = Field(default="https://hearth.dev", validation_alias=alias("HEARTH_JWT_ISSUER"))
    jwt_audience: str = Field(default="hearth", validation_alias=alias("HEARTH_JWT_AUDIENCE"))
    # Deadline of each gRPC call the gateway makes on behalf of a request.
    grpc_timeout_seconds: float = Field(default=5.0)
    max_body_bytes: int = Field(default=1024 * 1024)
    log_level: str = Field(default="INFO", validation_alias=alias("HEARTH_LOG_LEVEL"))
    otlp_endpoint: str | None = Field(default=None, validation_alias=alias("OTEL_EXPORTER_OTLP_ENDPOINT"))
