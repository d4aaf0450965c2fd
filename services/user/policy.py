"""How long the user service's credentials live, and whom its access tokens are for (from Settings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Policy:
    issuer: str
    audience: str
    access_ttl: timedelta
    refresh_ttl: timedelta
    invite_ttl: timedelta


__all__ = ["Policy"]
