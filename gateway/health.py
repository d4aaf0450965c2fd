"""Operations endpoints: the health of every part (/health/*); the Prometheus metrics are gateway.metrics'.

What is checked, each with a deadline (GATEWAY_HEALTH_CHECK_TIMEOUT_MS), all side by side, so a part that hangs
costs one deadline and never the endpoint:

- each service: its grpc.health.v1 (NOT_SERVING while its database watcher finds the database unreachable,
  kit.status) and its `hearth.status.v1.StatusService` (its database and Redis checked now, its outbox lag, its
  RSS);
- the gateway's Redis (PING), the gateway's RSS, the free space of the data directory.

How bad a failure is (`judge`): user or task not serving, or its database down, is `down` — no chore can be read
or written. Notify or analytics not serving, or *their* database down (the service then says NOT_SERVING: the
same thing), is `degraded`: chores work, notifications and stats wait (their events stay in the streams). Any
Redis down, a process over the memory limit or a disk short of space is `degraded`. Every /health endpoint
answers 200 for ok or degraded and 503 for down; readiness answers for the gateway's ability to serve (user and
task serving) and nothing optional.

Anyone may ask, as often as they like, and nothing here is rate-limited: so no request runs checks of its own.
/health/status, /database, /cache, /services and /memory answer from one snapshot of the full check, run at most
once per GATEWAY_HEALTH_SNAPSHOT_TTL_MS, concurrent requests sharing the run (kit.singleflight; each service
coalesces its status calls too, kit.status): a flood costs each service a status call a second, not one per
request. /health/test/{component} runs one check on demand the same way, at most once per
GATEWAY_HEALTH_TEST_COOLDOWN_MS per component. /health/disk's statvfs runs in a thread, one at a time: while one
hangs, the answer is "timeout after …" and no second thread is started.

/health/history is a sample of the snapshot every GATEWAY_HEALTH_HISTORY_INTERVAL_SECONDS, taken by a background
task for the life of the app (`start_history_sampler`, from the app's lifespan) and kept in Redis (a list capped
at GATEWAY_HEALTH_HISTORY_SIZE): what requests ask decides neither how often nor what is filed.

Nothing here names an address, a DSN or a stack trace: details are gRPC status names, fixed texts and exception
class names.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

import grpc
import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI, Path, Request, Response
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hearth.status.v1 import status_pb2, status_pb2_grpc
from prometheus_client import Counter

from gateway import openapi as doc
from gateway import responses, status_page
from gateway.clients import ADDRESSES
from gateway.config import GatewaySettings
from gateway.problems import problem
from gateway.red_summary import RedWindow
from gateway.serialize import JSONResponse
from kit.singleflight import SharedRuns
from kit.status import Check, bounded, rss_bytes

log = logging.getLogger("hearth.health")
router = APIRouter(tags=["operations"])

# Without these the API cannot serve chores: their failure is `down`; the others' is `degraded`.
ESSENTIAL = ("user", "task")
GATEWAY_PARTS = ("redis", "memory", "disk")
COMPONENTS = (*ADDRESSES, *GATEWAY_PARTS)
RANK = {"ok": 0, "degraded": 1, "down": 2}
MIB = 2**20
DEFAULT_DATA_DIR = FsPath(__file__).resolve().parent.parent / "var"

CHECKS_RUN = Counter(
    "hearth_health_checks_total",
    "Health checks run: per component by /health/test, and the full check of the snapshot as component 'all'",
    ["component"],
)
SNAPSHOT = "all"

Part = dict[str, Any]


def failing(service: str) -> str:
    """What a service that does not work makes of the system."""
    return "down" if service in ESSENTIAL else "degraded"


def worst(states: list[str]) -> str:
    return max(states, key=RANK.__getitem__, default="ok")


def overall(parts: Mapping[str, Part]) -> str:
    return worst([part["status"] for part in parts.values()])


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def judge(service: str, serving: bool, status: status_pb2.ServiceStatus | None, memory_limit: int) -> str:
    """The state of one service from its grpc health and its status RPC (module docstring)."""
    if not serving:
        return failing(service)
    if status is None:
        return "degraded"  # serving, but it could not say how its dependencies are
    if status.database.state != status_pb2.DependencyCheck.OK:
        return failing(service)
    if status.redis.state != status_pb2.DependencyCheck.OK or status.rss_bytes > memory_limit:
        return "degraded"
    return "ok"


def _dependency(check: status_pb2.DependencyCheck, failed: str) -> Part:
    ok = check.state == status_pb2.DependencyCheck.OK
    return {
        "status": "ok" if ok else failed,
        "detail": check.detail,
        "latency_ms": _ms(check.latency.ToNanoseconds() / 1e9),
    }


def _checked(check: Check) -> Part:
    """A check of the gateway's own: a failure is `degraded` (Redis, the disk)."""
    return {"status": "ok" if check.ok else "degraded", "detail": check.detail, "latency_ms": _ms(check.latency)}


def _rss(rss: int, limit: int, latency_ms: float) -> Part:
    """A process's memory against the limit (the gateway's own, or a service's from its status RPC)."""
    over = rss > limit
    return {
        "status": "degraded" if over else "ok",
        "detail": f"RSS {rss // MIB} MiB {'over' if over else 'within'} the limit of {limit // MIB} MiB",
        "latency_ms": latency_ms,
        "rss_bytes": rss,
        "limit_bytes": limit,
    }


def _free_space(configured: str) -> shutil._ntuple_diskusage:
    """statvfs of the data directory's file system; in a thread: a hung file system may block any call here."""
    path = FsPath(configured) if configured else DEFAULT_DATA_DIR
    while not path.exists() and path != path.parent:
        path = path.parent  # var/ before its first use: the file system it will be on
    return shutil.disk_usage(path)


# A part of a service whose status RPC did not answer: how it is, is not known (degraded, unless said otherwise).
UNKNOWN = {"status": "degraded", "detail": "not known: the service did not answer", "latency_ms": 0.0}


@dataclass
class Health:
    """The checks, bound to one app's settings; the app's channels and Redis client are passed per call."""

    settings: GatewaySettings
    red: RedWindow
    # The shared runs (kit.singleflight): each /health/test component, the snapshot (SNAPSHOT), the statvfs.
    _runs: SharedRuns[str, tuple[Any, str]] = field(default_factory=SharedRuns)
    _statvfs: SharedRuns[str, shutil._ntuple_diskusage] = field(default_factory=SharedRuns)

    @property
    def timeout(self) -> float:
        return self.settings.health_check_timeout_ms / 1000

    @property
    def memory_limit(self) -> int:
        return self.settings.health_memory_limit_mb * MIB

    # --- the checks ---

    async def serving(self, name: str, channel: grpc.aio.Channel) -> Part:
        """grpc.health.v1 of one service."""
        started = time.perf_counter()
        try:
            call: Any = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=self.timeout)
            reply = await call
            ok = reply.status == health_pb2.HealthCheckResponse.SERVING
            status, detail = (
                ("ok" if ok else failing(name)),
                health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status),
            )
        except grpc.aio.AioRpcError as exc:
            status, detail = failing(name), exc.code().name
        return {"status": status, "detail": detail, "latency_ms": _ms(time.perf_counter() - started)}

    async def service_status(self, channel: grpc.aio.Channel) -> status_pb2.ServiceStatus | None:
        try:
            call: Any = status_pb2_grpc.StatusServiceStub(channel).GetServiceStatus(
                status_pb2.GetServiceStatusRequest(), timeout=self.timeout
            )
            reply: status_pb2.ServiceStatus = await call
            return reply
        except grpc.aio.AioRpcError as exc:
            log.debug("status RPC failed: %s", exc.code().name)
            return None

    async def service(self, name: str, channel: grpc.aio.Channel) -> Part:
        """One service in full: serving or not, its database, Redis, outbox lag and memory."""
        part, status = await asyncio.gather(self.serving(name, channel), self.service_status(channel))
        serving = part["detail"] == "SERVING"
        part["status"] = judge(name, serving, status, self.memory_limit)
        if status is None:
            # Its database, not known, is what `judge` made of the service, so that /health/database and
            # /health/status agree: degraded while it says SERVING (a timeout, or UNIMPLEMENTED mid-deploy), and
            # what its failure means (down for user and task) while it is unreachable or not serving.
            database = {**UNKNOWN, "status": part["status"]}
            part |= {"database": database, "redis": dict(UNKNOWN), "outbox": None, "rss_bytes": None}
            if serving:
                part["detail"] = "SERVING, but its status did not come"
            return part
        part |= {
            "database": _dependency(status.database, failing(name)),
            "redis": _dependency(status.redis, "degraded"),
            "outbox": {
                "backlog": status.outbox.backlog,
                "oldest_age_seconds": round(status.outbox.oldest_age.ToNanoseconds() / 1e9, 3),
            }
            if status.outbox.known
            else None,
            "rss_bytes": status.rss_bytes,
        }
        return part

    async def redis(self, redis: aioredis.Redis) -> Part:
        async def ping() -> str:
            await redis.ping()
            return "PONG"

        return _checked(await bounded(ping, self.timeout))

    def memory(self) -> Part:
        started = time.perf_counter()
        rss = rss_bytes()
        return _rss(rss, self.memory_limit, _ms(time.perf_counter() - started))

    async def disk(self) -> Part:
        """Free space where the data lives: one statvfs at a time, in a thread, waited for at most one deadline."""
        minimum = self.settings.health_disk_min_free_mb * MIB
        found: list[shutil._ntuple_diskusage] = []

        async def statvfs() -> str:
            # A statvfs that outlives the deadline keeps running (a thread cannot be stopped): the next request
            # waits for that one, never starts another.
            usage, _ = await self._statvfs.get(
                "disk", lambda: asyncio.to_thread(_free_space, self.settings.health_disk_path), reuse=0
            )
            found.append(usage)
            short = usage.free < minimum
            return f"{usage.free // MIB} MiB free, {'under' if short else 'over'} the minimum of {minimum // MIB} MiB"

        part = _checked(await bounded(statvfs, self.timeout))
        if not found:
            return part
        usage = found[0]
        return {
            **part,
            "status": "degraded" if usage.free < minimum else "ok",
            "free_bytes": usage.free,
            "total_bytes": usage.total,
            "min_free_bytes": minimum,
        }

    def check_of(self, state: Any, component: str) -> Callable[[], Awaitable[Part]]:
        channels = state.clients.channels
        if component in ADDRESSES:
            return lambda: self.service(component, channels[component])
        if component == "redis":
            return lambda: self.redis(state.redis)
        if component == "disk":
            return self.disk

        async def memory() -> Part:
            return self.memory()

        return memory

    async def everything(self, state: Any) -> dict[str, Part]:
        channels = state.clients.channels
        *services, redis, disk = await asyncio.gather(
            *(self.service(name, channels[name]) for name in ADDRESSES), self.redis(state.redis), self.disk()
        )
        return {**dict(zip(ADDRESSES, services, strict=True)), "redis": redis, "memory": self.memory(), "disk": disk}

    # --- shared runs, bounded ---

    async def _shared(self, key: str, check: Callable[[], Awaitable[Any]], reuse_ms: int) -> tuple[Any, str, bool]:
        async def run() -> tuple[Any, str]:
            CHECKS_RUN.labels(key).inc()
            return await check(), _now()

        (result, when), fresh = await self._runs.get(key, run, reuse=reuse_ms / 1000)
        return result, when, fresh

    async def on_demand(self, state: Any, component: str) -> tuple[Part, str, bool]:
        """`component`'s check now — or the run of another request within the cooldown. (result, when, fresh)."""
        return await self._shared(component, self.check_of(state, component), self.settings.health_test_cooldown_ms)

    async def snapshot(self, state: Any) -> tuple[dict[str, Part], str]:
        """Every component: the full check, run at most once per GATEWAY_HEALTH_SNAPSHOT_TTL_MS. (parts, when)."""
        parts, when, _ = await self._shared(
            SNAPSHOT, lambda: self.everything(state), self.settings.health_snapshot_ttl_ms
        )
        return parts, when

    # --- history ---

    def history_key(self) -> str:
        return f"{self.settings.redis_namespace}:gateway:health:history"

    async def file(self, redis: aioredis.Redis, parts: Mapping[str, Part], when: str) -> None:
        """Keep a summary of a snapshot in the capped list (bounded by the deadline)."""
        entry = json.dumps(
            {
                "checked_at": when,
                "status": overall(parts),
                "components": {name: p["status"] for name, p in parts.items()},
            }
        )
        try:
            async with asyncio.timeout(self.timeout):
                async with redis.pipeline(transaction=True) as pipe:
                    pipe.lpush(self.history_key(), entry)
                    pipe.ltrim(self.history_key(), 0, self.settings.health_history_size - 1)
                    await pipe.execute()
        except (TimeoutError, OSError, aioredis.RedisError) as exc:
            log.info("health history not kept: %s", type(exc).__name__)

    async def sample(self, state: Any, stopping: asyncio.Event) -> None:
        """File the snapshot every GATEWAY_HEALTH_HISTORY_INTERVAL_SECONDS (once per snapshot, however short),
        until `stopping` is set."""
        filed = ""
        while not stopping.is_set():
            parts, when = await self.snapshot(state)
            if when != filed:
                await self.file(state.redis, parts, when)
                filed = when
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.health_history_interval_seconds)

    async def history(self, redis: aioredis.Redis) -> tuple[list[Any], str | None]:
        try:
            async with asyncio.timeout(self.timeout):
                raw = await redis.lrange(self.history_key(), 0, self.settings.health_history_size - 1)
        except TimeoutError:
            return [], f"timeout after {self.settings.health_check_timeout_ms} ms"
        except (OSError, aioredis.RedisError) as exc:
            return [], type(exc).__name__
        return [json.loads(item) for item in raw], None


@dataclass
class HistorySampler:
    """The background task of `Health.sample`, for the life of the app."""

    task: asyncio.Task[None]
    stopping: asyncio.Event

    async def stop(self) -> None:
        # The event as well as the cancel: a cancel can be swallowed on its way down (seen in the tests: the task
        # left "cancelling" in the interval's wait, the app's shutdown waiting on it); the event ends the loop anyway.
        self.stopping.set()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def start_history_sampler(app: FastAPI) -> HistorySampler:
    """Start filing /health/history (from the app's lifespan, once its clients and Redis are made)."""

    def crashed(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("health history sampler crashed", exc_info=task.exception())

    stopping = asyncio.Event()
    task = asyncio.create_task(_health_of(app.state).sample(app.state, stopping), name="health-history")
    task.add_done_callback(crashed)
    return HistorySampler(task, stopping)


def _health_of(state: Any) -> Health:
    """The app's `Health`, made at its first use from the app's settings (nothing in it belongs to an event loop)."""
    health: Health | None = getattr(state, "health", None)
    if health is None:
        settings: GatewaySettings = state.settings
        health = state.health = Health(settings, RedWindow(settings.health_metrics_window_seconds))
    return health


def _health(request: Request) -> Health:
    return _health_of(request.app.state)


def _answer(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=503 if body["status"] == "down" else 200)


def _documented(model: type[responses.Model], ok: Any, down: Any, what: str) -> dict[int | str, dict[str, Any]]:
    """200 (ok or degraded) and, where the part can be down, 503."""
    answers: dict[int | str, dict[str, Any]] = {200: doc.body(model, ok, f"{what}: ok or degraded")}
    if down is not None:
        answers[503] = doc.body(model, down, f"{what}: down")
    return answers


@router.get(
    "/health/liveness",
    summary="The process is up (depends on nothing)",
    responses={200: doc.body(responses.Liveness, responses.LIVENESS, "The process answers")},
)
async def liveness() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/health/readiness",
    summary="Ready to serve: user and task answer SERVING (optional parts down are not a reason to stop traffic)",
    responses={
        200: doc.body(responses.Readiness, responses.READY, "Ready"),
        503: doc.body(responses.Readiness, responses.NOT_READY, "Not ready: user or task is not serving"),
    },
)
async def readiness(request: Request) -> JSONResponse:
    health = _health(request)
    channels = request.app.state.clients.channels
    results = await asyncio.gather(*(health.serving(name, channels[name]) for name in ESSENTIAL))
    parts = dict(zip(ESSENTIAL, results, strict=True))
    ready = overall(parts) == "ok"
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "components": parts}, status_code=200 if ready else 503
    )


@router.get(
    "/health/status",
    summary="Every component and the overall state: ok, degraded or down (a snapshot at most "
    "GATEWAY_HEALTH_SNAPSHOT_TTL_MS old)",
    responses=_documented(responses.SystemStatus, responses.STATUS_OK, responses.STATUS_DOWN, "The system"),
)
async def status(request: Request) -> JSONResponse:
    parts, when = await _health(request).snapshot(request.app.state)
    return _answer({"status": overall(parts), "checked_at": when, "components": parts})


async def _services(request: Request) -> tuple[dict[str, Part], dict[str, Part], str]:
    """The snapshot's services and the gateway's own parts, and when it was taken."""
    parts, when = await _health(request).snapshot(request.app.state)
    return {name: parts[name] for name in ADDRESSES}, {name: parts[name] for name in GATEWAY_PARTS}, when


@router.get(
    "/health/database",
    summary="Each service's database, checked by the service with SELECT 1 and a deadline (from the snapshot)",
    responses=_documented(responses.PartStatus, responses.DATABASES_OK, responses.DATABASES_DOWN, "The databases"),
)
async def database(request: Request) -> JSONResponse:
    services, _, _ = await _services(request)
    parts = {name: part["database"] for name, part in services.items()}
    return _answer({"status": overall(parts), "components": parts})


@router.get(
    "/health/cache",
    summary="Redis as the gateway sees it and as each service sees it (down is degraded, never down)",
    responses=_documented(responses.PartStatus, responses.CACHES_OK, None, "Redis"),
)
async def cache(request: Request) -> JSONResponse:
    services, gateway, _ = await _services(request)
    parts = {"gateway": gateway["redis"], **{name: part["redis"] for name, part in services.items()}}
    return _answer({"status": overall(parts), "components": parts})


@router.get(
    "/health/services",
    summary="Each service: serving or not, its database and Redis, outbox lag and memory",
    responses=_documented(responses.SystemStatus, responses.SERVICES_OK, responses.STATUS_DOWN, "The services"),
)
async def services(request: Request) -> JSONResponse:
    parts, _, when = await _services(request)
    return _answer({"status": overall(parts), "checked_at": when, "components": parts})


@router.get(
    "/health/memory",
    summary="Resident memory of the gateway and of each service, against GATEWAY_HEALTH_MEMORY_LIMIT_MB",
    responses=_documented(responses.PartStatus, responses.MEMORY_OK, None, "Memory"),
)
async def memory(request: Request) -> JSONResponse:
    services, gateway, _ = await _services(request)
    limit = _health(request).memory_limit
    parts: dict[str, Part] = {"gateway": gateway["memory"]}
    for name, part in services.items():
        rss = part["rss_bytes"]
        parts[name] = dict(UNKNOWN) if rss is None else _rss(rss, limit, part["latency_ms"])
    return _answer({"status": overall(parts), "components": parts})


@router.get(
    "/health/disk",
    summary="Free space of the data directory, against GATEWAY_HEALTH_DISK_MIN_FREE_MB",
    responses=_documented(responses.PartStatus, responses.DISK_OK, None, "The disk"),
)
async def disk(request: Request) -> JSONResponse:
    parts = {"disk": await _health(request).disk()}
    return _answer({"status": overall(parts), "components": parts})


@router.get(
    "/health/history",
    summary="The last GATEWAY_HEALTH_HISTORY_SIZE samples of the status, taken every "
    "GATEWAY_HEALTH_HISTORY_INTERVAL_SECONDS, newest first (kept in Redis)",
    responses={200: doc.body(responses.History, responses.HISTORY, "The recent checks (none while Redis is down)")},
)
async def history(request: Request) -> JSONResponse:
    health = _health(request)
    checks, failure = await health.history(request.app.state.redis)
    body: dict[str, Any] = {"status": "ok" if failure is None else "degraded", "checks": checks}
    if failure is not None:
        body["detail"] = f"Redis did not answer: {failure}"
    return JSONResponse(body)


@router.get(
    "/health/test/{component}",
    summary="Run one component's check now (at most once per cooldown; concurrent requests share the run)",
    responses={
        **_documented(responses.ComponentTest, responses.TEST_OK, responses.TEST_DOWN, "The component"),
        **doc.documented({}, 404, 422, upstream=False),
    },
)
async def check_now(
    request: Request,
    component: Annotated[str, Path(max_length=64, description=f"One of: {', '.join(COMPONENTS)}")],
) -> Response:
    if component not in COMPONENTS:
        return problem(404, "not_found", f"no such component; known: {', '.join(COMPONENTS)}")
    result, when, fresh = await _health(request).on_demand(request.app.state, component)
    return _answer(
        {"component": component, "status": result["status"], "checked_at": when, "fresh": fresh, "result": result}
    )


@router.get(
    "/health/metrics-summary",
    summary="The gateway's request rate, error rate and p99 latency over the recent window (the status page's)",
    responses={200: doc.body(responses.MetricsSummary, responses.METRICS_SUMMARY, "This gateway process's RED")},
)
async def metrics_summary(request: Request) -> JSONResponse:
    return JSONResponse(_health(request).red.summary())


router.include_router(status_page.router)
