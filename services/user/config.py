"""Settings of the user service (USER_* variables plus the deployment-wide ones)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from kit.settings import DEFAULT_PORTS, ServiceSettings, service_config

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(ServiceSettings):
    service: ClassVar[str] = "user"
    model_config = service_config("user")

    grpc_port: int = Field(default=DEFAULT_PORTS["user"])
    # Where the Ed25519 signing key lives; generated on first start (USER_KEYS_DIR).
    keys_dir: Path = Field(default=REPO_ROOT / "var" / "keys")
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=30)
    refresh_token_ttl_days: int = Field(default=30, ge=1)
    invite_ttl_days: int = Field(default=7, ge=1)
