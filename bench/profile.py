"""`python -m bench.profile [--scenario list|grpc-list|complete ...] [--duration S] [--top N]`: where the time goes.

Starts the bench's Hearth stack (bench.stack), seeds it (bench.seed), and for each scenario drives the load
(bench.scenarios) while `py-spy record` samples the processes that serve it (gateway and task for the lists,
every service for a completion). Prints, per process, the functions with the most samples on the stack
(inclusive) and at the top of it (self), as % of that process's samples — the profile summaries that
bench/RESULTS.md keeps by hand. py-spy needs ptrace rights over the children (it runs as the same user).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import scenarios
from bench.seed import seed
from bench.stack import hearth_stack

CHORES = 50
WATCHED = {
    "list": ("gateway", "task"),
    "grpc-list": ("task",),
    "complete": ("gateway", "task", "notify", "analytics"),
}


@dataclass
class Summary:
    process: str
    samples: int
    inclusive: list[tuple[str, float]]
    own: list[tuple[str, float]]


def summarise(process: str, collapsed: str, top: int) -> Summary:
    """py-spy's raw (collapsed) output: `frame;frame;...;frame count` per line, outermost first."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_short(frame) for frame in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    share = 100.0 / total if total else 0.0
    return Summary(
        process,
        total,
        [(frame, n * share) for frame, n in inclusive.most_common(top)],
        [(frame, n * share) for frame, n in own.most_common(top)],
    )


def _short(frame: str) -> str:
    """`handle (kit/cache.py:120)` → `handle (kit/cache.py)`; site-packages paths from the package on."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif str(Path.cwd()) in path:
        path = os.path.relpath(path)
    return f"{name} ({path})" if path else name


def render(scenario: str, rate: float, summaries: list[Summary]) -> str:
    lines = [f"### {scenario}: {rate:.0f} req/s while sampled", ""]
    for summary in summaries:
        lines.append(f"**{summary.process}** ({summary.samples} samples): top of the stack (self) —")
        lines.append("")
        lines.extend(f"- {pct:4.1f} % {frame}" for frame, pct in summary.own)
        lines.append("")
        lines.append("on the stack (inclusive) —")
        lines.append("")
        lines.extend(f"- {pct:4.1f} % {frame}" for frame, pct in summary.inclusive)
        lines.append("")
    return "\n".join(lines)


async def record(pid: int, seconds: float, out: Path, rate: int) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    process = await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
        "--format", "raw", "--output", str(out), "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await process.wait()


async def main_async(args: argparse.Namespace) -> str:
    load = {"concurrency": args.concurrency, "warmup": 2.0, "duration": args.duration + 2.0}
    sections = []
    workdir = Path(tempfile.mkdtemp(prefix="hearth-profile-"))
    try:
        async with hearth_stack() as stack:
            data = await seed(stack.gateway_url, CHORES)
            task_port = int(os.environ["HEARTH_TASK_ADDR"].rsplit(":", 1)[1])
            chosen = {
                s.key: s
                for s in [
                    *scenarios.gateway_scenarios(stack.gateway_url, data, **load),
                    *scenarios.direct_scenarios(task_port, data, **load),
                ]
            }
            for key in args.scenario:
                pids = {name: stack.processes.pids[name] for name in WATCHED[key]}
                running = asyncio.create_task(scenarios.run(chosen[key], stack.processes.pids))
                await asyncio.sleep(load["warmup"] + 1.0)  # the load process's own warm-up, then steady state
                outputs = {name: workdir / f"{key}-{name}.txt" for name in pids}
                await asyncio.gather(
                    *(record(pid, args.duration, outputs[name], args.rate) for name, pid in pids.items())
                )
                outcome = await running
                summaries = [
                    summarise(name, path.read_text() if path.exists() else "", args.top)
                    for name, path in outputs.items()
                ]
                sections.append(render(key, outcome.result.ok_per_second, summaries))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return "\n".join(sections)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=sorted(WATCHED), help="repeatable (all)")
    parser.add_argument("--duration", type=float, default=8.0, help="sampled seconds per scenario (8)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second (250)")
    parser.add_argument("--top", type=int, default=15, help="functions per list (15)")
    args = parser.parse_args()
    args.scenario = args.scenario or ["list", "grpc-list", "complete"]
    print(asyncio.run(main_async(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
