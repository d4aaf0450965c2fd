"""Settings of the user service (USER_* variables plus the deployment-wide ones)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from kit.cron import Cron
from kit.settings import alias, service_config
from services.deployment import PORTS, DeploymentSettings, address
from services.user.passwords import DEFAULT_COST

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(DeploymentSettings):
    service: ClassVar[str] = "user"
    model_config = service_config("user")

    grpc_port: int = Field(default=PORTS["user"])
    # Where the Ed25519 signing key lives; generated on first start (USER_KEYS_DIR).
    keys_dir: Path = Field(default=REPO_ROOT / "var" / "keys")
    # One file per service holding its secret (USER_SERVICE_SECRETS_DIR): who may get service tokens
    # (services/user/service_tokens.py). Unset: no service can.
    service_secrets_dir: Path | None = Field(default=None)
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=30)
    # Fractions of a day are allowed (tests run with lifetimes of a millisecond instead of waiting).
    refresh_token_ttl_days: float = Field(default=30, gt=0)
    invite_ttl_days: float = Field(default=7, gt=0)
    # argon2id cost, RFC 9106's low-memory profile by default. Lower it only where speed matters more than
    # resistance to offline cracking (the test suite); stored hashes are upgraded at the next login.
    password_time_cost: int = Field(default=DEFAULT_COST.time_cost, ge=1)
    password_memory_kib: int = Field(default=DEFAULT_COST.memory_cost, ge=64)
    password_parallelism: int = Field(default=DEFAULT_COST.parallelism, ge=1, le=64)
    # The gate of argon2 work (passwords.PasswordHashing): this many at once (0: the cores this process may use
    # over password_parallelism, at least one) and this many more waiting (default: four per running one); beyond,
    # RESOURCE_EXHAUSTED at once.
    password_concurrency: int = Field(default=0, ge=0, le=256)
    password_queue: int | None = Field(default=None, ge=0, le=10_000)
    # Where the worker asks notify to mail password-reset links (HEARTH_NOTIFY_ADDR), and the link it mails
    # (USER_PASSWORD_RESET_URL): the app's page that takes the token, `{token}` standing for it. In the fragment by
    # default, so the token reaches neither a server's access log nor a Referer header.
    password_reset_url: str = Field(default="http://localhost:8080/reset-password#token={token}", pattern=r"\{token\}")
    # Data exports (services/user/exports.py): the worker's export job asks each of these services for its part
    # (PrivacyService.ExportUserData), each call within USER_EXPORT_CALL_TIMEOUT_SECONDS; a job that cannot gather
    # every part runs again with jittered backoff, USER_EXPORT_MAX_ATTEMPTS runs in all, then the export is failed.
    # A finished archive can be downloaded for USER_EXPORT_TTL_HOURS; USER_EXPORT_PRUNE_CRON drops expired archives.
    task_addr: str = Field(default=address("task"), validation_alias=alias("HEARTH_TASK_ADDR"))
    notify_addr: str = Field(default=address("notify"), validation_alias=alias("HEARTH_NOTIFY_ADDR"))
    analytics_addr: str = Field(default=address("analytics"), validation_alias=alias("HEARTH_ANALYTICS_ADDR"))
    export_call_timeout_seconds: float = Field(default=30, gt=0, le=600)
    export_max_attempts: int = Field(default=4, ge=1, le=20)
    export_retry_base_seconds: float = Field(default=5, gt=0)
    export_retry_cap_seconds: float = Field(default=300, gt=0)
    export_ttl_hours: float = Field(default=7 * 24, gt=0)
    export_prune_cron: Cron = Field(default="29 * * * *")
