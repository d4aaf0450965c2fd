"""Settings of the task service (TASK_* variables plus the deployment-wide ones)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from kit.settings import service_config
from services.deployment import PORTS
from services.user.client import MembershipSettings


class Settings(MembershipSettings):
    service: ClassVar[str] = "task"
    model_config = service_config("task")

    grpc_port: int = Field(default=PORTS["task"])
