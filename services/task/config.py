"""Settings of the task service (TASK_* variables plus the deployment-wide ones)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from kit.cron import Cron
from kit.settings import service_config
from services.deployment import PORTS
from services.user.client import MembershipSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


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
    # Where photos are kept (services.task.photo_storage): TASK_PHOTOS_BACKEND "local" (a directory, TASK_PHOTOS_DIR) or
    # "s3" (any S3-compatible store: TASK_PHOTOS_S3_BUCKET, TASK_PHOTOS_S3_ENDPOINT_URL for one that is not AWS,
    # TASK_PHOTOS_S3_REGION, TASK_PHOTOS_S3_PREFIX; credentials from TASK_PHOTOS_S3_ACCESS_KEY_ID and
    # TASK_PHOTOS_S3_SECRET_ACCESS_KEY, else boto3's own chain: AWS_* variables, ~/.aws, an instance role).
    photos_backend: Literal["local", "s3"] = "local"
    photos_dir: Path = Field(default=REPO_ROOT / "var" / "photos")
    photos_s3_bucket: str = ""
    photos_s3_endpoint_url: str = ""
    photos_s3_region: str = "us-east-1"
    photos_s3_prefix: str = ""
    photos_s3_access_key_id: str = ""
    photos_s3_secret_access_key: SecretStr | None = None
    # A decoded image of more pixels than this is refused (a decompression bomb: a small file of a huge picture).
    photo_max_pixels: int = Field(default=50_000_000, ge=1)
    # The thumbnail fits in a square of this many pixels.
    thumbnail_pixels: int = Field(default=320, ge=16, le=2048)
    # The thumbnail job's retries (exponential backoff with jitter, kit.jobs.JitteredBackoff); after the last run
    # fails the thumbnail is `failed` (GET …/thumbnail: 404, no longer not_ready).
    thumbnail_max_attempts: int = Field(default=4, ge=1, le=20)
    thumbnail_retry_base_seconds: float = Field(default=2.0, gt=0)
    thumbnail_retry_cap_seconds: float = Field(default=60.0, gt=0)
    # Photos no completion names are deleted once they are this old (services.task.photos.prune_unused), by a job
    # on this cron: a retried upload's spare copy, a photo whose completion was undone.
    photo_unused_retention_hours: int = Field(default=7 * 24, ge=1, le=24 * 365)
    photo_prune_cron: Cron = Field(default="17 * * * *")
