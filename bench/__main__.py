"""`python -m bench [--duration S] [--warmup S] [--concurrency N] [--write-results]`.

Starts the Hearth stack, seeds it, measures the gateway scenarios (GET chores cached and uncached, POST
complete) and ListChores straight to the task service over gRPC, waits for the completion events to be
consumed and measures completion → notification latency, starts the echo servers, measures the three
ceilings, stops everything, times the recurrence engine on one core and prints the tables (and rewrites
bench/RESULTS.md with `--write-results`). Exit 1 when any request failed
or any process exited during the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sys
from datetime import UTC, datetime

import asyncpg

from bench import recurrence, report, scenarios
from bench.latency import completion_to_notification
from bench.seed import seed
from bench.stack import echo_servers, events_settled, hearth_stack
from kit.db import asyncpg_dsn
from tests.support import infra

CHORES = 50  # the list's default page size: GET returns all of them


def say(message: str) -> None:
    print(f"bench  {message}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per scenario (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each (3)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (32)")
    parser.add_argument("--write-results", action="store_true", help="also rewrite bench/RESULTS.md")
    return parser.parse_args(argv)


async def measure(args: argparse.Namespace) -> report.Run:
    run = report.Run(
        command=shlex.join(["python", "-m", "bench", *sys.argv[1:]]),
        started=datetime.now(UTC),
        concurrency=args.concurrency,
        warmup=args.warmup,
        duration=args.duration,
        infra=infra.infra().describe().removeprefix("hearth test infra: "),
        outcomes=[],
        events_drain_seconds=None,
    )
    load = {"concurrency": args.concurrency, "warmup": args.warmup, "duration": args.duration}

    async def measure_one(scenario: scenarios.Scenario, pids: dict[str, int]) -> None:
        say(f"{scenario.key}: {args.warmup:g} s warm-up, {args.duration:g} s measured, concurrency {args.concurrency}")
        outcome = await scenarios.run(scenario, pids)
        result = outcome.result
        say(f"{scenario.key}: {result.ok_per_second:.0f} req/s, {result.errors} errors")
        run.outcomes.append(outcome)

    say("starting the Hearth stack (4 services + gateway)")
    async with hearth_stack() as stack:
        say(f"seeding {CHORES} chores through {stack.gateway_url}")
        data = await seed(stack.gateway_url, CHORES)
        task_port = int(os.environ["HEARTH_TASK_ADDR"].rsplit(":", 1)[1])
        listing, uncached, complete = scenarios.gateway_scenarios(stack.gateway_url, data, **load)
        # The direct gRPC list right after the gateway's, before the completions start events flowing.
        for scenario in [listing, *scenarios.direct_scenarios(task_port, data, **load), uncached]:
            await measure_one(scenario, stack.processes.pids)
        began = await database_now(os.environ["TASK_DATABASE_URL"])
        await measure_one(complete, stack.processes.pids)
        say("waiting for notify and analytics to consume the completion events")
        run.events_drain_seconds = await events_settled(stack, "task")
        run.latency = await completion_to_notification(
            os.environ["TASK_DATABASE_URL"], os.environ["NOTIFY_DATABASE_URL"], began
        )
        say("starting the echo servers")
        async with echo_servers() as echo:
            for scenario in scenarios.ceiling_scenarios(echo.http_port, echo.grpc_port, **load):
                await measure_one(scenario, stack.processes.pids | echo.processes.pids)
            run.exited = stack.processes.exited() + echo.processes.exited()
        say("stopping")
    say("recurrence engine: next_due over a mix of schedules and zones, one core, 3 s")
    run.recurrence = recurrence.measure(3.0)
    return run


async def database_now(url: str) -> datetime:
    """PostgreSQL's clock (the latency measurement compares times it wrote)."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        now: datetime = await connection.fetchval("SELECT now()")
        return now
    finally:
        await connection.close()


async def main_async(args: argparse.Namespace) -> report.Run:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await measure(args)


def main() -> int:
    args = parse_args(sys.argv[1:])
    try:
        run = asyncio.run(main_async(args))
    except (KeyboardInterrupt, asyncio.CancelledError) as exc:  # Ctrl-C / SIGTERM: all was stopped on the way out
        say("interrupted; every process stopped, databases and Redis keys removed")
        return 130 if isinstance(exc, KeyboardInterrupt) else 143
    print(report.console(run), flush=True)
    if args.write_results:
        say(f"wrote {report.write(run)}")
    return report.exit_status(say, exited=run.exited, errors=run.errors)


if __name__ == "__main__":
    sys.exit(main())
