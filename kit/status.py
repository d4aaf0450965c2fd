"""A service's own health, beyond SERVING: its database watched, and `hearth.status.v1.StatusService` answered.

Every service gets both from `kit.runtime` (never a servicer of its own):

- `DatabaseWatcher`, a background loop: every `<NAME>_DB_CHECK_INTERVAL_SECONDS` a `SELECT 1` bounded by
  `<NAME>_HEALTH_CHECK_TIMEOUT_MS`. After `<NAME>_DB_CHECK_FAILURES` misses in a row the service's
  grpc.health.v1 says NOT_SERVING (balancers and the gateway's readiness stop sending it work); the first
  answer after that says SERVING again. Needing two misses in a row keeps one slow query from flapping it.
- `StatusServicer.GetServiceStatus`: the database (`SELECT 1`), the service's Redis (PING) and the outbox lag
  (backlog and the oldest unpublished row's age), each checked now and bounded by the same deadline, run side
  by side, so the answer comes within one deadline whatever hangs — the shorter of the service's own and the
  caller's (less a margin for the answer); plus the process's RSS. Concurrent calls share one run of the checks,
  and a call within `STATUS_REUSE_SECONDS` of the last run gets its answer (kit.singleflight): a burst of status
  calls costs the database one round of queries.

The database checks (the watcher's and the status call's) run on one connection of their own
(`HealthConnection`), never on a pooled one: a pool busy with requests is not a dead database, and health checks
must not take connections from the requests. The connection is opened with its own connect timeout and opened
again after any failure.

A check's `detail` is a fixed text or an exception's class name, never the exception's text (a driver's message
names hosts and ports); the reason itself goes to the log, once per change of state (the watcher's flips, and
each dependency of the status call turning down or ok again).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import grpc
import redis.asyncio as aioredis
from google.protobuf import duration_pb2, timestamp_pb2
from hearth.status.v1 import status_pb2, status_pb2_grpc
from opentelemetry.instrumentation.utils import suppress_instrumentation
from prometheus_client import Counter

from kit import outages, outbox
from kit.singleflight import SharedRuns

if TYPE_CHECKING:
    from kit.runtime import Runtime

log = logging.getLogger("hearth.status")

SERVICE_NAME = "hearth.status.v1.StatusService"
METHOD = f"/{SERVICE_NAME}/GetServiceStatus"
# A status call this soon after the last run of the checks gets that run's answer.
STATUS_REUSE_SECONDS = 0.5

STATUS_CALLS = Counter(
    "hearth_status_calls_total",
    "GetServiceStatus calls answered: with checks run for the call (checked) or another call's (shared)",
    ["service", "answer"],
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    detail: str
    latency: float  # seconds
    # Why it failed, in the driver's words: for the log only (it may name a host).
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Lag:
    backlog: int
    oldest_age: float  # seconds; 0 without a backlog


def timed_out(timeout: float) -> str:
    return f"timeout after {round(timeout * 1000)} ms"


async def bounded(probe: Callable[[], Awaitable[str]], timeout: float) -> Check:
    """`probe()` within `timeout`: ok with the detail it returns, or failed with a fixed text or a class name."""
    started = time.perf_counter()
    try:
        # Health checks are noise in traces (as health RPCs are): no SQL or Redis span for them.
        with suppress_instrumentation():
            async with asyncio.timeout(timeout):
                detail = await probe()
        return Check(True, detail, time.perf_counter() - started)
    except TimeoutError:
        return Check(False, timed_out(timeout), time.perf_counter() - started, reason="no answer in time")
    except Exception as exc:  # any failure is a DOWN with the class's name; the reason is for the log
        return Check(False, type(exc).__name__, time.perf_counter() - started, reason=outages.describe(exc))


class HealthConnection:
    """The health checks' own database connection (module docstring): one at a time, (re)opened when needed."""

    def __init__(self, dsn: str, *, connect_timeout: float) -> None:
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self._connection: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def run(self, query: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async with self._lock:  # one query at a time on one connection; the caller's bound covers the wait
            try:
                connection = self._connection
                if connection is None or connection.is_closed():
                    connection = self._connection = await asyncpg.connect(
                        self.dsn,
                        timeout=self.connect_timeout,
                        server_settings={"application_name": "hearth-health"},
                    )
                return await query(connection)
            except BaseException:  # cancelled by a deadline included: its state is unknown, open a new one next
                self.close()
                raise

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()


async def check_database(connection: HealthConnection, timeout: float) -> Check:
    """`SELECT 1` on the health connection within `timeout` (opening it, if needed, included)."""

    async def probe() -> str:
        await connection.run(lambda c: c.fetchval("SELECT 1"))
        return "SELECT 1"

    return await bounded(probe, timeout)


async def check_redis(redis: aioredis.Redis, timeout: float) -> Check:
    async def probe() -> str:
        await redis.ping()
        return "PONG"

    return await bounded(probe, timeout)


async def outbox_lag(connection: HealthConnection, timeout: float) -> Lag | None:
    """The outbox's unpublished rows (count, age of the oldest) by its partial index; None if not known in time."""
    try:
        async with asyncio.timeout(timeout):
            row = await connection.run(lambda c: c.fetchrow(outbox.BACKLOG.text))
        assert row is not None  # an aggregate always answers one row
        return Lag(int(row[0]), float(row[1]))
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
    """Flips the service's grpc health with its database's reachability (module docstring), checked on
    `connection` (the health checks' own, which the status call uses too)."""

    def __init__(
        self,
        connection: HealthConnection,
        set_serving: Callable[[bool], Awaitable[None]],
        *,
        interval: float,
        timeout: float,
        failures: int,
    ) -> None:
        self.connection = connection
        self._set_serving = set_serving
        self.interval = interval
        self.timeout = timeout
        self.failures = failures
        self.serving = True
        self.misses = 0
        self.last: Check | None = None

    async def step(self) -> None:
        """One check, and the flip it calls for."""
        check = await check_database(self.connection, self.timeout)
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
            log.warning("database unreachable (%s, %d checks in a row): NOT_SERVING", check.reason, self.misses)
            await self._set_serving(False)

    async def run(self) -> None:
        try:
            while True:
                await self.step()
                await asyncio.sleep(self.interval)
        finally:
            self.connection.close()


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


class _Changes:
    """Logs a dependency's failure and recovery once each, not at every check."""

    def __init__(self) -> None:
        self._ok: dict[str, bool] = {}

    def note(self, name: str, check: Check) -> None:
        if self._ok.get(name, True) != check.ok:
            if check.ok:
                log.info("%s answers again", name)
            else:
                log.warning("%s check failed: %s (%s)", name, check.detail, check.reason)
        self._ok[name] = check.ok


class StatusServicer(status_pb2_grpc.StatusServiceServicer):
    """The one implementation of `hearth.status.v1.StatusService`, registered on every service by kit.runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._runs: SharedRuns[bool, status_pb2.ServiceStatus] = SharedRuns()
        self._changes = _Changes()

    async def GetServiceStatus(self, request: status_pb2.GetServiceStatusRequest, context: Any) -> Any:
        watcher = self.runtime.database_watcher
        if watcher is None:  # not attached to a started server yet
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not started")
        assert watcher is not None  # abort raised
        timeout = within_deadline(self.runtime.settings.health_check_timeout_ms / 1000, context.time_remaining())
        # Keyed by what the watcher says: once it flips, no answer from before the flip is reused.
        answer, fresh = await self._runs.get(
            watcher.serving, lambda: self._checked(watcher, timeout), reuse=STATUS_REUSE_SECONDS
        )
        STATUS_CALLS.labels(self.runtime.settings.service, "checked" if fresh else "shared").inc()
        return answer

    async def _checked(self, watcher: DatabaseWatcher, timeout: float) -> status_pb2.ServiceStatus:
        runtime = self.runtime
        database, redis, lag = await asyncio.gather(
            check_database(watcher.connection, timeout),
            check_redis(runtime.redis, timeout),
            outbox_lag(watcher.connection, timeout),
        )
        self._changes.note("database", database)
        self._changes.note("redis", redis)
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        return status_pb2.ServiceStatus(
            service=runtime.settings.service,
            serving=watcher.serving,
            database=_dependency(database),
            redis=_dependency(redis),
            outbox=status_pb2.OutboxLag(known=True, backlog=lag.backlog, oldest_age=_duration(lag.oldest_age))
            if lag is not None
            else status_pb2.OutboxLag(known=False),
            rss_bytes=rss_bytes(),
            check_time=now,
        )
