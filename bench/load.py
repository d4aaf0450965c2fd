"""The load generator: `python -m bench.load`, a separate process driving one scenario at fixed concurrency.

It reads a `LoadSpec` (JSON) on stdin and writes JSON lines on stdout: `{"event": "measuring"}` when
the warm-up ends, `{"event": "measured"}` when the measured window ends (the parent samples CPU at
both), then `{"event": "result", ...}` (a `LoadResult`).

HTTP goes through a minimal raw asyncio HTTP/1.1 keep-alive client (one connection per worker):
the client shares the machine's cores with the servers it measures, so it must cost as little CPU
per request as possible (httpx costs several times more per request). gRPC goes through grpc.aio,
one channel, `concurrency` calls in flight.

A request counts when it completes inside the measured window; any non-2xx response (or non-OK
gRPC status, timeout, connection error) is an error. Latency percentiles are over the successes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class LoadSpec:
    kind: str  # "http" or "grpc"
    concurrency: int
    warmup: float  # seconds, not measured
    duration: float  # seconds, measured
    host: str = "127.0.0.1"
    port: int = 0
    # http: one request per path, taken round-robin over all workers
    method: str = "GET"
    paths: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    timeout: float = 30.0  # per request
    # grpc: "health" (grpc.health.v1 Health/Check) or "list_chores" (hearth.task.v1 ChoreService/ListChores of
    # `parent`, the default page), with `headers` sent as metadata (the bearer token)
    rpc: str = "health"
    parent: str = ""


@dataclass
class LoadResult:
    requests: int  # completed in the measured window, errors included
    errors: int
    ok_per_second: float
    p50_ms: float | None
    p99_ms: float | None
    error_kinds: dict[str, int]  # "HTTP 500": 3, "UNAVAILABLE": 1, "TimeoutError": 2
    warmup_errors: int


@dataclass
class Recorder:
    """Collects outcomes; only those finishing inside [start, end] are measured."""

    start: float
    end: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    warmup_errors: int = 0

    def ok(self, started: float, finished: float) -> None:
        if self.start <= finished <= self.end:
            self.latencies.append(finished - started)

    def error(self, kind: str, finished: float) -> None:
        if self.start <= finished <= self.end:
            self.errors[kind] += 1
        elif finished < self.start:
            self.warmup_errors += 1

    def result(self) -> LoadResult:
        ok = sorted(self.latencies)
        p50, p99 = percentiles(ok)
        return LoadResult(
            requests=len(ok) + sum(self.errors.values()),
            errors=sum(self.errors.values()),
            ok_per_second=len(ok) / (self.end - self.start),
            p50_ms=p50,
            p99_ms=p99,
            error_kinds=dict(self.errors),
            warmup_errors=self.warmup_errors,
        )


def percentiles(ordered: list[float]) -> tuple[float | None, float | None]:
    """p50 and p99 in milliseconds (inclusive method), None without data."""
    if not ordered:
        return None, None
    if len(ordered) == 1:
        return ordered[0] * 1000, ordered[0] * 1000
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


# --- HTTP/1.1 ------------------------------------------------------------------------------------


def http_requests(spec: LoadSpec) -> list[bytes]:
    body = (spec.body or "").encode()
    headers = {"Host": f"{spec.host}:{spec.port}", **spec.headers}
    if spec.body is not None:
        headers.setdefault("Content-Type", "application/json")
        headers["Content-Length"] = str(len(body))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return [f"{spec.method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body for path in spec.paths]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; (status, whether the connection can be reused)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length: int | None = None
    chunked = close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            close = b"close" in value
    if chunked:
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")  # the empty trailer
    elif length is not None:
        await reader.readexactly(length)
    elif status not in (204, 304) and not 100 <= status < 200:
        await reader.read()  # no framing: the body ends with the connection
        close = True
    return status, not close


async def http_worker(spec: LoadSpec, requests: Iterator[bytes], recorder: Recorder) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while (started := time.perf_counter()) < recorder.end:
        try:
            async with asyncio.timeout(spec.timeout):
                if reader is None or writer is None:
                    reader, writer = await asyncio.open_connection(spec.host, spec.port)
                writer.write(next(requests))
                status, reusable = await read_response(reader)
        except (OSError, EOFError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
            recorder.error(type(exc).__name__, time.perf_counter())
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        finished = time.perf_counter()
        if 200 <= status < 300:
            recorder.ok(started, finished)
        else:
            recorder.error(f"HTTP {status}", finished)
        if not reusable:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


# --- gRPC ----------------------------------------------------------------------------------------


async def grpc_workers(spec: LoadSpec, recorder: Recorder) -> None:
    """`concurrency` loops of one unary call (`spec.rpc`) on one channel."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from hearth.task.v1 import task_pb2, task_pb2_grpc

    metadata = tuple((name.lower(), value) for name, value in spec.headers.items())
    async with grpc.aio.insecure_channel(f"{spec.host}:{spec.port}") as channel:
        call: Callable[..., Awaitable[Any]]
        request: Any
        if spec.rpc == "health":
            call, request = health_pb2_grpc.HealthStub(channel).Check, health_pb2.HealthCheckRequest()
        elif spec.rpc == "list_chores":
            call = task_pb2_grpc.ChoreServiceStub(channel).ListChores
            request = task_pb2.ListChoresRequest(parent=spec.parent, page_size=50)
        else:
            raise ValueError(f"unknown rpc {spec.rpc!r}")

        async def worker() -> None:
            while (started := time.perf_counter()) < recorder.end:
                try:
                    await call(request, timeout=spec.timeout, metadata=metadata)
                except grpc.aio.AioRpcError as exc:
                    recorder.error(exc.code().name, time.perf_counter())
                else:
                    recorder.ok(started, time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(spec.concurrency)))


# --- the process ---------------------------------------------------------------------------------


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


async def at(moment: float, then: Callable[[], None]) -> None:
    await asyncio.sleep(max(0.0, moment - time.perf_counter()))
    then()


async def run(spec: LoadSpec) -> LoadResult:
    start = time.perf_counter() + spec.warmup
    recorder = Recorder(start=start, end=start + spec.duration)
    load: Awaitable[Any]
    if spec.kind == "http":
        requests = itertools.cycle(http_requests(spec))
        load = asyncio.gather(*(http_worker(spec, requests, recorder) for _ in range(spec.concurrency)))
    elif spec.kind == "grpc":
        load = grpc_workers(spec, recorder)
    else:
        raise ValueError(f"unknown load kind {spec.kind!r}")
    await asyncio.gather(
        load, at(recorder.start, lambda: emit("measuring")), at(recorder.end, lambda: emit("measured"))
    )
    return recorder.result()


def main() -> None:
    spec = LoadSpec(**json.load(sys.stdin))
    emit("result", **asdict(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()
