"""The results: the console table, and bench/RESULTS.md (command, date, machine, tables, a reading).

A rewrite of RESULTS.md keeps, as they are, the blocks of the old file between `KEPT_BEGIN` and `KEPT_END` (a
before/after comparison written by hand, `make bench-scale`'s section): they go back in after the reading.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.latency import LatencyStats
from bench.recurrence import RecurrenceResult
from bench.scenarios import Outcome
from bench.stack import RATE_LIMITS

RESULTS = Path(__file__).with_name("RESULTS.md")
KEPT_BEGIN = "<!-- kept by bench/report.py on every rewrite: begin -->"
KEPT_END = "<!-- kept by bench/report.py on every rewrite: end -->"
BUSY_OTHER = 20.0  # % of one core used by unrelated processes that makes a run "not quiet"
CORE_LIMIT = 85.0  # % of one core at which a single-threaded Python process is taken to be the bottleneck
GROUPS = ("postgres", "redis", "other", "machine")  # not single processes
CPU_COLUMNS = (
    "load client",
    "gateway",
    "user",
    "task",
    "notify",
    "analytics",
    "echo-http",
    "echo-grpc",
    "postgres",
    "redis",
    "other",
    "machine",
)


@dataclass
class Run:
    command: str
    started: datetime
    concurrency: int
    warmup: float
    duration: float
    infra: str
    outcomes: list[Outcome]
    events_drain_seconds: float | None  # after the completion scenario; None: did not settle in time
    exited: list[str] = field(default_factory=list)  # processes that exited (and were restarted) during the run
    latency: LatencyStats | None = None  # completion → notification, over the completion scenario's completions
    recurrence: RecurrenceResult | None = None

    @property
    def errors(self) -> int:
        return sum(o.result.errors + o.result.warmup_errors for o in self.outcomes)

    def outcome(self, key: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.scenario.key == key), None)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def code_state() -> str:
    """The commit measured, and whether the working tree differed from it (uncommitted edits are measured too)."""
    git = shutil.which("git")
    if git is None:
        return "unknown (no git)"
    root = RESULTS.parent.parent

    def out(*args: str) -> str:
        command = [git, *args]  # fixed arguments, no shell
        return subprocess.run(command, cwd=root, capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603

    commit = out("rev-parse", "--short", "HEAD") or "unknown"
    dirty = out("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench", ":!README.md")
    return commit + (" plus uncommitted changes outside bench/ (measured as they were)" if dirty else "")


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _table(header: list[str], rows: list[list[str]], right_from: int = 1) -> str:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    return "\n".join("| " + " | ".join(row) + " |" for row in [header, align, *rows])


def figures(run: Run) -> str:
    rows = [
        [
            o.scenario.title,
            str(o.scenario.spec.concurrency),
            str(o.result.requests),
            f"**{o.result.errors}**" if o.result.errors else "0",
            f"{o.result.ok_per_second:.0f}",
            _ms(o.result.p50_ms),
            _ms(o.result.p99_ms),
        ]
        for o in run.outcomes
    ]
    return _table(["scenario", "concurrency", "requests", "errors", "req/s", "p50 ms", "p99 ms"], rows)


def _ratio(part: Outcome | None, whole: Outcome | None) -> float | None:
    if part is None or whole is None or not whole.result.ok_per_second:
        return None
    return part.result.ok_per_second / whole.result.ok_per_second


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**missed**")


def goals(run: Run) -> str:
    """Issue 13's goal rows, each computed from this run (the scale row is `make bench-scale`'s section)."""
    get, post, direct = run.outcome("list"), run.outcome("complete"), run.outcome("grpc-list")
    http, grpc = run.outcome("echo-http"), run.outcome("echo-grpc")
    rows = []
    share = _ratio(get, http)
    p99 = (get.result.p99_ms or 0) / http.result.p99_ms if get and http and http.result.p99_ms else None
    rows.append(
        [
            "GET chores, 50 items, via gateway",
            "≥ 50 % of the FastAPI ceiling, p99 ≤ 3x its p99",
            "n/a" if share is None else f"{100 * share:.0f} %, p99 {p99:.1f}x" if p99 else f"{100 * share:.0f} %",
            _verdict(None if share is None else share >= 0.5 and (p99 or 99) <= 3),
        ]
    )
    share = _ratio(post, http)
    latency = run.latency
    late = latency.p99_ms if latency is not None else None
    rows.append(
        [
            "POST complete via gateway",
            "≥ 20 % of the FastAPI ceiling; completion → notification p99 ≤ 250 ms",
            ("n/a" if share is None else f"{100 * share:.0f} %")
            + ("" if late is None else f"; p99 {late:.0f} ms ({latency.handled if latency else 0} completions)"),
            _verdict(None if share is None or late is None else share >= 0.2 and late <= 250),
        ]
    )
    share = _ratio(direct, grpc)
    rows.append(
        [
            "gRPC ListChores direct, 50 items",
            "≥ 40 % of the bare grpc.aio echo",
            "n/a" if share is None else f"{100 * share:.0f} %",
            _verdict(None if share is None else share >= 0.4),
        ]
    )
    engine = run.recurrence
    rows.append(
        [
            "recurrence engine, next_due, mixed kinds, one core",
            "≥ 50,000 computations/s",
            "n/a" if engine is None else f"{engine.per_second:,.0f}/s",
            _verdict(None if engine is None else engine.per_second >= 50_000),
        ]
    )
    rows.append(
        [
            "GET chores among 1 M chores / 20 k households",
            "p99 ≤ 1.25x the 50-chore database",
            "make bench-scale (below)",
            "—",
        ]
    )
    return _table(["goal (issue 13)", "target", "this run", ""], rows, right_from=4)


def cpu_table(run: Run) -> str:
    rows = [[o.scenario.key, *(f"{o.cpu[c]:.0f}" if c in o.cpu else "—" for c in CPU_COLUMNS)] for o in run.outcomes]
    return _table(["scenario", *CPU_COLUMNS], rows)


def error_banner(run: Run) -> str:
    """Empty, or a loud block (with a blank line before it) naming every scenario that had errors and every
    process that exited during the run."""
    if not run.errors and not run.exited:
        return ""
    what = " and ".join([f"{run.errors} ERRORS"] * bool(run.errors) + ["A PROCESS THAT EXITED"] * bool(run.exited))
    lines = ["", f"**!!! THIS RUN HAD {what} — its figures do not describe a healthy system !!!**", ""]
    if run.exited:
        lines.append(f"- exited during the run (restarted by the supervisor): {', '.join(run.exited)}")
    for o in run.outcomes:
        if o.result.errors or o.result.warmup_errors:
            kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(o.result.error_kinds.items())) or "—"
            lines.append(
                f"- {o.scenario.key}: {o.result.errors} errors in the measured window ({kinds}), "
                f"{o.result.warmup_errors} during warm-up"
            )
    return "\n".join(lines) + "\n"


def _share(part: Outcome | None, whole: Outcome | None) -> str:
    if part is None or whole is None or not whole.result.ok_per_second:
        return "n/a"
    return f"{100 * part.result.ok_per_second / whole.result.ok_per_second:.0f}%"


def _cpu_ms(outcome: Outcome, name: str) -> float:
    """CPU milliseconds `name` spent per successful request: steadier than req/s on a shared machine."""
    rate = outcome.result.ok_per_second
    return 10 * outcome.cpu.get(name, 0.0) / rate if rate else 0.0  # (% of a core / 100) / rate * 1000


def _per_request(outcome: Outcome) -> str:
    costs = [(k, _cpu_ms(outcome, k)) for k in outcome.cpu if k not in ("other", "machine")]
    shown = sorted(((k, ms) for k, ms in costs if ms >= 0.05), key=lambda kv: kv[1], reverse=True)
    return ", ".join(f"{name} {ms:.2f} ms" for name, ms in shown) or "n/a"


def reading(run: Run) -> str:
    """What the numbers say, computed from them; the fixed caveats follow in RESULTS.md."""
    get, post = run.outcome("list"), run.outcome("complete")
    http, grpc = run.outcome("echo-http"), run.outcome("echo-grpc")
    lines = []
    if get is not None and http is not None:
        lines.append(
            f"- **GET chores** serves {get.result.ok_per_second:.0f} req/s, {_share(get, http)} of the "
            f"FastAPI + one-gRPC-call ceiling ({http.result.ok_per_second:.0f} req/s); p50 "
            f"{_ms(get.result.p50_ms)} ms against {_ms(http.result.p50_ms)} ms."
        )
    if post is not None and http is not None:
        lines.append(
            f"- **POST complete** serves {post.result.ok_per_second:.0f} req/s, {_share(post, http)} of the same "
            f"ceiling, p99 {_ms(post.result.p99_ms)} ms. "
            + (
                f"The `chore.completed` events it produced were all consumed by notify and analytics "
                f"{run.events_drain_seconds:.1f} s after the window closed."
                if run.events_drain_seconds is not None
                else "Its events were **not** all consumed by notify and analytics within the timeout afterwards."
            )
        )
    latency = run.latency
    if latency is not None:
        lines.append(
            f"- **Completion → notification** (task's completion row to notify's handling of its event, both "
            f"PostgreSQL clocks): {latency.handled} of {latency.count} completions handled, {latency.matched} "
            f"with a notification row; p50 {_ms(latency.p50_ms)} ms, p95 {_ms(latency.p95_ms)} ms, p99 "
            f"{_ms(latency.p99_ms)} ms, max {_ms(latency.max_ms)} ms."
        )
    uncached = run.outcome("list-db")
    if uncached is not None and get is not None:
        lines.append(
            f"- **GET chores uncached** (`status=due`, every request reads PostgreSQL): "
            f"{uncached.result.ok_per_second:.0f} req/s, p99 {_ms(uncached.result.p99_ms)} ms — the miss path "
            f"behind the cached {get.result.ok_per_second:.0f} req/s; task spends {_cpu_ms(uncached, 'task'):.2f} ms "
            f"of CPU per list on it against {_cpu_ms(get, 'task'):.2f} ms on a hit."
        )
    if run.recurrence is not None:
        engine = run.recurrence
        lines.append(
            f"- **Recurrence engine** (`scheduling.complete`, {len(engine.mix)} kinds of schedule over "
            f"{len(engine.zones)} zones, one core): {engine.per_second:,.0f} computations/s "
            f"({engine.computations:,} in {engine.seconds:.1f} s)."
        )
    direct, payload = run.outcome("grpc-list"), run.outcome("payload")
    if get is not None and direct is not None:
        lines.append(
            f"- **gRPC ListChores** straight to task serves {direct.result.ok_per_second:.0f} req/s (p50 "
            f"{_ms(direct.result.p50_ms)} ms); GET chores through the gateway is {_share(get, direct)} of it. Task "
            f"spends {_cpu_ms(direct, 'task'):.2f} ms of CPU per list here, {_cpu_ms(get, 'task'):.2f} ms behind the "
            f"gateway."
        )
    if payload is not None and http is not None:
        lines.append(
            f"- **Payload ceiling** (FastAPI + one grpc.aio call of 50 prebuilt chores, the gateway's converter and "
            f"JSON): {payload.result.ok_per_second:.0f} req/s, {_share(payload, http)} of the bare FastAPI ceiling; "
            f"the FastAPI process spends {_cpu_ms(payload, 'echo-http'):.2f} ms per request against "
            f"{_cpu_ms(http, 'echo-http'):.2f} ms for the echo"
            + (f", the gateway {_cpu_ms(get, 'gateway'):.2f} ms on GET chores." if get is not None else ".")
        )
    if http is not None and grpc is not None and grpc.result.ok_per_second:
        lines.append(
            f"- The FastAPI ceiling is {_share(http, grpc)} of the bare grpc.aio ceiling "
            f"({grpc.result.ok_per_second:.0f} req/s). Per request, the FastAPI process "
            f"(uvicorn + httptools + FastAPI + "
            f"a grpc.aio client call) spends {_cpu_ms(http, 'echo-http'):.2f} ms of CPU and the gRPC echo "
            f"{_cpu_ms(http, 'echo-grpc'):.2f} ms. The bare gRPC figure is bounded by its client as much as by its "
            f"server: the grpc.aio load client spends {_cpu_ms(grpc, 'load client'):.2f} ms per call, the server "
            f"{_cpu_ms(grpc, 'echo-grpc'):.2f} ms."
        )
    others = [o.cpu["other"] for o in run.outcomes if "other" in o.cpu]
    if others and max(others) >= BUSY_OTHER:
        lines.append(
            f"- **The machine was not quiet:** processes outside the bench used up to {max(others):.0f}% of a core "
            "during the measured windows (`other`); every figure above understates what this machine can do."
        )
    for o in run.outcomes:
        saturated = o.cpu.get("machine", 0) >= 90 * (os.cpu_count() or 1)
        pegged = [k for k, v in o.cpu.items() if k not in GROUPS and k != "load client" and v >= CORE_LIMIT]
        lines.append(
            f"- {o.scenario.key}: CPU per request {_per_request(o)}; machine "
            f"{o.cpu.get('machine', 0):.0f}% of {100 * (os.cpu_count() or 1)}%"
            + (" — **both cores saturated**" if saturated else "")
            + (
                f"; **{', '.join(pegged)} at the limit of its one core** (one Python process, one event loop)"
                if pegged
                else ""
            )
            + "."
        )
    return "\n".join(lines)


CAVEATS = """\
- **Client and servers share the machine.** The load client runs on the same cores it measures; its
  share is in the CPU table (`load client`). On a 2-core box every figure is a CPU-bound figure: more
  concurrency does not add throughput, it adds queueing (latency). `postgres` and `redis` sum every
  such process on the machine, whoever it serves; `other` is whatever else the machine was running.
  CPU per request (ms) moves less than req/s when the machine is shared, but contention inflates it too.
- **Load client:** a minimal raw asyncio HTTP/1.1 keep-alive client (`bench/load.py`, one connection
  per worker) rather than httpx, because the client competes with the servers for CPU: against the
  FastAPI echo at concurrency 32, httpx 0.28 spent about 4 ms of client CPU per request, this client
  about 0.1 ms (measured when the bench was written) — httpx would have been the bottleneck. gRPC load is
  grpc.aio on one channel. Each scenario's load runs in its own process, at fixed concurrency, after a
  warm-up that is not measured.
- **Counting:** a request counts when it completes inside the measured window; req/s counts successes
  only, p50/p99 are over successes; any non-2xx response, non-OK gRPC status, timeout or connection
  error is an error and is reported above.
- **Stack as in production:** four `python -m services.<name>` and `python -m gateway`, each its own
  process, fresh databases, outbox relay and event consumers running, OpenTelemetry SDK on (no exporter),
  logs at WARNING. Rate limits on — every request is checked in Redis — with budgets the load never
  exhausts ("Rate limits" above). Every server process runs on uvloop; uvicorn runs as `python -m gateway` runs it: one
  worker, uvloop and httptools; the FastAPI ceilings are served the same way. The load client stays on
  asyncio's own loop (it did before uvloop too, so before/after pairs compare servers only).
- **gRPC ListChores direct** is grpc.aio on one channel to the task service with the seed's bearer token,
  page size 50: the gateway's GET without HTTP, auth in the gateway, conversion or JSON.
- **Payload ceiling:** the FastAPI echo's `GET /chores` makes one grpc.aio ListChores call to the grpc
  echo, which answers 50 prebuilt chores, and converts them with the gateway's converter and JSON
  response (`bench/echo.py`): no auth, middleware, telemetry or database.
- **POST complete** completes each of 6000 one-off chores (a household of their own) once: an occurrence is
  completed once (a second completion before the next opens is 409 `not_due_yet`), and concurrent requests
  never wait on the same row lock; each completion is a transaction (lock, insert, update, occurrence row,
  points ledger entry and balance, outbox rows) plus the events notify and analytics consume while the load runs.
"""


def kept_block(text: str) -> str:
    """Every block of `text` from KEPT_BEGIN to KEPT_END (markers included), in order, each followed by a blank
    line; "" when there is none."""
    blocks = []
    start = text.find(KEPT_BEGIN)
    while start != -1:
        end = text.find(KEPT_END, start)
        if end == -1:
            break
        blocks.append(text[start : end + len(KEPT_END)] + "\n\n")
        start = text.find(KEPT_BEGIN, end)
    return "".join(blocks)


def rate_limits() -> str:
    """The limits the gateway ran with (bench.stack's budgets, or off when the environment turned them off)."""
    if os.environ.get("GATEWAY_RATE_LIMITS_ENABLED", "true").lower() in ("false", "0", "no", "off"):
        return "**off** (`GATEWAY_RATE_LIMITS_ENABLED=false`: no check at all)"
    return "on, " + ", ".join(f"`{name}={value}`" for name, value in RATE_LIMITS.items())


def render(run: Run, kept: str = "") -> str:
    banner = error_banner(run)
    return f"""# Benchmarks

Written by `make bench` (`python -m bench --write-results`); rerun it to refresh this page.
{banner}
- **Command:** `{run.command}`
- **Date:** {run.started.astimezone(UTC):%Y-%m-%d %H:%M UTC}
- **Machine:** {machine()}
- **Load:** concurrency {run.concurrency}, warm-up {run.warmup:g} s, measured {run.duration:g} s per scenario
- **Infra:** {run.infra}
- **Rate limits:** {rate_limits()}
- **Code:** {code_state()}

{figures(run)}

{goals(run)}

CPU during each measured window, % of one core:

{cpu_table(run)}

## Reading

{reading(run)}

{kept}## How it was measured

{CAVEATS}"""


def exit_status(say: Callable[[str], None], *, exited: list[str], errors: int) -> int:
    """What a bench command ends with: loud lines for exited processes and failed requests, and 1 if any."""
    if exited:
        say(f"!!! {', '.join(exited)} exited during the run (restarted by the supervisor) — see above !!!")
    if errors:
        say(f"!!! {errors} requests failed — see the table above !!!")
    return 1 if errors or exited else 0


def console(run: Run) -> str:
    parts = [figures(run), "", goals(run), "", "CPU, % of one core:", cpu_table(run), "", reading(run)]
    if run.errors or run.exited:
        parts = [error_banner(run), *parts, "", error_banner(run)]
    return "\n".join(parts)


def write(run: Run) -> Path:
    old = RESULTS.read_text() if RESULTS.exists() else ""
    RESULTS.write_text(render(run, kept_block(old)))
    return RESULTS
