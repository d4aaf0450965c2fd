"""Exponential backoff with full jitter, for loops that retry a failing dependency (Redis, PostgreSQL)."""

from __future__ import annotations

import random


def backoff_delay(failures: int, *, base: float = 0.1, cap: float = 30.0) -> float:
    """Seconds to wait after `failures` consecutive failures: up to base·2^failures, capped, jittered so
    replicas that failed together do not retry together."""
    return min(cap, base * 2.0 ** min(failures, 32)) * random.uniform(0.5, 1.0)
