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
    # TASK_CHORE_LIST_TTL_SECONDS: how long a rendered page of a chore list is cached (every chore write drops its
    # household's pages at once; the TTL bounds only a lost invalidation, see services.task.lists). 0: pages are not
    # cached (every list reads PostgreSQL; `make bench-scale` measures the database that way).
    chore_list_ttl_seconds: int = Field(default=60, ge=0, le=3600)
