"""Settings of the notify service (NOTIFY_* variables plus the deployment-wide ones)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from kit.settings import service_config
from services.deployment import PORTS, DeploymentSettings


class Settings(DeploymentSettings):
    service: ClassVar[str] = "notify"
    model_config = service_config("notify")

    grpc_port: int = Field(default=PORTS["notify"])
