"""Exponential backoff with jitter (each wait 50 to 100 % of its step), and the one retry-forever loop.

The outbox relay and the event consumers must outlive any failure of a dependency (Redis restarting, a
PostgreSQL failover, a bug in one handler): `retry_forever` runs one round of their work again and again,
backing off after failures and logging each, and only cancellation stops it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import NoReturn

import asyncpg
import sqlalchemy as sa
from redis.exceptions import RedisError

# Failures of a dependency that is down or restarting: logged briefly. Anything else is logged with its
# stack trace; either way the loop retries with backoff instead of dying.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError, asyncpg.PostgresError, sa.exc.DBAPIError)


def backoff_delay(failures: int, *, base: float = 0.1, cap: float = 30.0) -> float:
    """Seconds to wait after `failures` consecutive failures: up to base·2^failures, capped, jittered so
    replicas that failed together do not retry together."""
    return min(cap, base * 2.0 ** min(failures, 32)) * random.uniform(0.5, 1.0)


async def retry_forever(
    round_: Callable[[], Awaitable[object]],
    *,
    name: str,
    log: logging.Logger,
    cap: float = 30.0,
    on_failure: Callable[[], Awaitable[None]] | None = None,
) -> NoReturn:
    """Run `round_` forever. After a failure: `on_failure` (drop a connection, forget cached state), then
    wait `backoff_delay(consecutive failures)`; a round that succeeds resets the count.

    CancelledError is not an Exception, so cancelling the task still stops the loop.
    """
    failures = 0
    while True:
        try:
            await round_()
        except Exception as exc:
            failures += 1
            delay = backoff_delay(failures, cap=cap)
            if isinstance(exc, TRANSIENT_ERRORS):
                log.warning("%s failed; retrying in %.1fs: %s", name, delay, exc)
            else:
                log.exception("%s failed unexpectedly; retrying in %.1fs", name, delay)
            if on_failure is not None:
                try:
                    await on_failure()
                except Exception:
                    log.exception("%s: cleaning up after a failure failed too", name)
            await asyncio.sleep(delay)
        else:
            failures = 0
