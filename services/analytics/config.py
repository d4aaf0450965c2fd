"""Settings of the analytics service (ANALYTICS_* variables plus the deployment-wide ones)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from kit.settings import service_config
from services.deployment import PORTS, DeploymentSettings


class Settings(DeploymentSettings):
    service: ClassVar[str] = "analytics"
    model_config = service_config("analytics")

    grpc_port: int = Field(default=PORTS["analytics"])
    # ANALYTICS_MEMBERSHIP_TTL_SECONDS: how long a membership answer from the user service is cached in Redis
    # (membership events invalidate it sooner).
    membership_ttl_seconds: int = Field(default=60, ge=1)
