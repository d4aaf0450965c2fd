"""Settings of the task service (TASK_* variables plus the deployment-wide ones)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from kit.cron import Cron
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

    # The worker's scans (services.task.jobs), each on its own cron (5 fields, or 6 with seconds last):
    # TASK_MISS_SCAN_CRON marks occurrences missed once they are overdue past their grace, TASK_REMINDER_SCAN_CRON
    # sends chore.due_soon, TASK_ROTATION_SCAN_CRON passes daily/weekly rotations on at each turn. Every minute
    # by default: an event is at most that late. TASK_SCAN_BATCH_SIZE: chores per transaction (and row locks held).
    miss_scan_cron: Cron = Field(default="* * * * *")
    reminder_scan_cron: Cron = Field(default="* * * * *")
    rotation_scan_cron: Cron = Field(default="* * * * *")
    scan_batch_size: int = Field(default=100, ge=1, le=10_000)
    # Tests only (tests/test_task_worker_kill.py): the miss scan waits for this PostgreSQL advisory lock before it
    # commits a batch, so a test holding the lock can kill the worker at a known point mid-job. Unset: no wait.
    miss_scan_pause_lock: int | None = Field(default=None)
