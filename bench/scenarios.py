"""The four scenarios, and running one: a `python -m bench.load` process, CPU sampled around its window."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from bench import cpu
from bench.load import LoadResult, LoadSpec
from bench.seed import Seed
from scripts.run import ROOT
from tests.support import api


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    spec: LoadSpec


@dataclass
class Outcome:
    scenario: Scenario
    result: LoadResult
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core per process during the window


def gateway_scenarios(gateway_url: str, seed: Seed, **load: Any) -> list[Scenario]:
    port = int(gateway_url.rsplit(":", 1)[1])
    chores = f"{api.API}/households/{seed.household_id}/chores"
    done = f"{api.API}/households/{seed.completion_household_id}/chores"
    return [
        Scenario(
            "list",
            "GET chores (50 items) via gateway",
            LoadSpec("http", port=port, paths=[chores], headers=seed.headers, **load),
        ),
        Scenario(
            "list-db",
            "GET chores?status=due (50 items) via gateway — never cached: every request reads PostgreSQL",
            LoadSpec("http", port=port, paths=[f"{chores}?status=due"], headers=seed.headers, **load),
        ),
        Scenario(
            "complete",
            f"POST complete via gateway ({len(seed.completion_chore_ids)} one-off chores, each completed once)",
            LoadSpec(
                "http",
                port=port,
                method="POST",
                paths=[f"{done}/{cid}/complete" for cid in seed.completion_chore_ids],
                headers=seed.headers,
                body="{}",
                **load,
            ),
        ),
    ]


def direct_scenarios(task_port: int, seed: Seed, **load: Any) -> list[Scenario]:
    """The task service without the gateway: what GET chores costs below HTTP."""
    return [
        Scenario(
            "grpc-list",
            "gRPC ListChores direct to task (grpc.aio, 50 items)",
            LoadSpec(
                "grpc",
                port=task_port,
                rpc="list_chores",
                parent=f"households/{seed.household_id}",
                headers={"authorization": f"Bearer {seed.token}"},
                **load,
            ),
        )
    ]


def ceiling_scenarios(http_port: int, grpc_port: int, **load: Any) -> list[Scenario]:
    return [
        Scenario(
            "echo-http",
            "ceiling: FastAPI route + 1 grpc.aio call",
            LoadSpec("http", port=http_port, paths=["/echo"], **load),
        ),
        Scenario(
            "payload",
            "payload ceiling: FastAPI route + 1 grpc.aio call of 50 prebuilt chores, gateway converter",
            LoadSpec("http", port=http_port, paths=["/chores"], **load),
        ),
        Scenario("echo-grpc", "ceiling: bare grpc.aio unary call", LoadSpec("grpc", port=grpc_port, **load)),
    ]


async def run(scenario: Scenario, watched: dict[str, int]) -> Outcome:
    """Drive `scenario` from its own load process; `watched` (name → pid) get their CPU sampled."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.load",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        process.stdin.write(json.dumps(asdict(scenario.spec)).encode())
        await process.stdin.drain()
        process.stdin.close()
        pids = {"load client": process.pid, **watched}
        before = after = None
        result = None
        while line := await process.stdout.readline():
            message = json.loads(line)
            event = message.pop("event")
            if event == "measuring":
                before = cpu.snapshot(pids)
            elif event == "measured":
                after = cpu.snapshot(pids)
            elif event == "result":
                result = LoadResult(**message)
        if await process.wait() != 0 or result is None:
            raise RuntimeError(f"the load process of {scenario.key} failed (exit {process.returncode})")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    usage = cpu.usage(before, after) if before is not None and after is not None else {}
    return Outcome(scenario, result, usage)
