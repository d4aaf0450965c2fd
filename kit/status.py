"""A service's own health, beyond SERVING: its database watched, and `hearth.status.v1.StatusService` answered.

Every service gets both from `kit.runtime` (never a servicer of its own):

- `DatabaseWatcher`, a background loop: every `<NAME>_DB_CHECK_INTERVAL_SECONDS` a `SELECT 1` bounded by
  `<NAME>_HEALTH_CHECK_TIMEOUT_MS`. After `<NAME>_DB_CHECK_FAILURES` misses in a row the service's
  grpc.health.v1 says NOT_SERVING (balancers and the gateway's readiness stop sending it work); the first
  answer after that says SERVING again. Needing two misses in a row keeps one slow query from flapping it.
- `StatusServicer.GetServiceStatus`: the database (`SELECT 1`), the service's Redis (PING) and the outbox lag
  (backlog and the oldest unpublished row's age), each checked now and bounded by the same deadline, run side
  by side, so the answer comes within one deadline whatever hangs — the shorter of the service's own and the
  caller's (less a margin for the answer); plus the process's RSS.

A check's `detail` is a fixed text or an exception's class name, never the exception's text (a driver's message
names hosts and ports); the reason itself goes to the log, once per change of state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
import sqlalchemy as sa
from google.protobuf import duration_pb2, timestamp_pb2
from hearth.status.v1 import status_pb2, status_pb2_grpc
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy.ext.asyncio import AsyncEngine

from kit import outages, outbox

if TYPE_CHECKING:
    from kit.runtime import Runtime

log = logging.getLogger("hearth.status")

SERVICE_NAME = "hearth.status.v1.StatusService"
METHOD = f"/{SERVICE_NAME}/GetServiceStatus"


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    detail: str
    latency: float  # seconds


@dataclass(frozen=True, slots=True)
class Lag:
    backlog: int
    oldest_age: float  # seconds; 0 without a backlog


async def _bounded(probe: Callable[[], Awaitable[str]], timeout: float) -> Check:
    started = time.perf_counter()
    try:
        # Health checks are noise in traces (as health RPCs are): no SQL or Redis span for them.
        with suppress_instrumentation():
            async with asyncio.timeout(timeout):
                detail = await probe()
        return Check(True, detail, time.perf_counter() - started)
    except TimeoutError:
        return Check(False, f"timeout after {round(timeout * 1000)} ms", time.perf_counter() - started)
    except Exception as exc:  # any failure is a DOWN with the class's name; the log has the reason
        log.debug("check failed: %s", outages.describe(exc))
        return Check(False, type(exc).__name__, time.perf_counter() - started)


async def check_database(engine: AsyncEngine, timeout: float) -> Check:
    """`SELECT 1` on a pooled connection (what requests use), within `timeout` — waiting for a free one included."""

    async def probe() -> str:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
        return "SELECT 1"

    return await _bounded(probe, timeout)


async def check_redis(redis: aioredis.Redis, timeout: float) -> Check:
    async def probe() -> str:
        await redis.ping()
        return "PONG"

    return await _bounded(probe, timeout)


async def outbox_lag(engine: AsyncEngine, timeout: float) -> Lag | None:
    """The outbox's unpublished rows (count, age of the oldest) by its partial index; None if not known in time."""
    try:
        with suppress_instrumentation():
            async with asyncio.timeout(timeout), engine.connect() as connection:
                backlog, age = (await connection.execute(outbox.BACKLOG)).one()
        return Lag(int(backlog), float(age))
    except Exception as exc:  # TimeoutError included: unknown, not an error of the status call
        log.debug("outbox lag unknown: %s", type(exc).__name__)
        return None


def rss_bytes() -> int:
    """This process's resident set size now (Linux /proc); elsewhere its peak (getrusage)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class DatabaseWatcher:
    """Flips the service's grpc health with its database's reachability (module docstring)."""

    def __init__(
        self,
        engine: AsyncEngine,
        set_serving: Callable[[bool], Awaitable[None]],
        *,
        interval: float,
        timeout: float,
        failures: int,
    ) -> None:
        self.engine = engine
        self._set_serving = set_serving
        self.interval = interval
        self.timeout = timeout
        self.failures = failures
        self.serving = True
        self.misses = 0
        self.last: Check | None = None

    async def step(self) -> None:
        """One check, and the flip it calls for."""
        check = await check_database(self.engine, self.timeout)
        self.last = check
        if check.ok:
            self.misses = 0
            if not self.serving:
                self.serving = True
                log.info("database answers again: SERVING")
                await self._set_serving(True)
            return
        self.misses += 1
        if self.serving and self.misses >= self.failures:
            self.serving = False
            log.warning("database unreachable (%s, %d checks in a row): NOT_SERVING", check.detail, self.misses)
            await self._set_serving(False)

    async def run(self) -> None:
        while True:
            await self.step()
            await asyncio.sleep(self.interval)


# What the answer itself needs of the caller's deadline: the checks end this much before it.
ANSWER_MARGIN = 0.05


def within_deadline(timeout: float, remaining: float | None) -> float:
    """The checks' bound: the service's own, shortened to end before the caller's deadline (its gateway's check
    deadline may be no longer than ours), so the caller hears which check hung instead of DEADLINE_EXCEEDED."""
    if remaining is None:
        return timeout
    return max(0.01, min(timeout, remaining - ANSWER_MARGIN))


def _duration(seconds: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(max(0, round(seconds * 1e9)))
    return duration


def _dependency(check: Check) -> status_pb2.DependencyCheck:
    state = status_pb2.DependencyCheck.OK if check.ok else status_pb2.DependencyCheck.DOWN
    return status_pb2.DependencyCheck(state=state, detail=check.detail, latency=_duration(check.latency))


class StatusServicer(status_pb2_grpc.StatusServiceServicer):
    """The one implementation of `hearth.status.v1.StatusService`, registered on every service by kit.runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def GetServiceStatus(self, request: status_pb2.GetServiceStatusRequest, context: Any) -> Any:
        runtime = self.runtime
        timeout = within_deadline(runtime.settings.health_check_timeout_ms / 1000, context.time_remaining())
        database, redis, lag = await asyncio.gather(
            check_database(runtime.engine, timeout),
            check_redis(runtime.redis, timeout),
            outbox_lag(runtime.engine, timeout),
        )
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        watcher = runtime.database_watcher
        return status_pb2.ServiceStatus(
            service=runtime.settings.service,
            serving=watcher.serving if watcher is not None else True,
            database=_dependency(database),
            redis=_dependency(redis),
            outbox=status_pb2.OutboxLag(known=True, backlog=lag.backlog, oldest_age=_duration(lag.oldest_age))
            if lag is not None
            else status_pb2.OutboxLag(known=False),
            rss_bytes=rss_bytes(),
            check_time=now,
        )
