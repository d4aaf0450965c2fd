"""Settings of the analytics service (ANALYTICS_* variables plus the deployment-wide ones)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from kit.settings import service_config
from services.deployment import PORTS
from services.user.client import MembershipSettings


class Settings(MembershipSettings):
    service: ClassVar[str] = "analytics"
    model_config = service_config("analytics")

    grpc_port: int = Field(default=PORTS["analytics"])
