"""kit.singleflight: concurrent callers share one run; its result is reused for a while; a failure is not kept."""

from __future__ import annotations

import asyncio

import pytest

from kit.singleflight import SharedRuns


async def test_concurrent_callers_share_one_run_and_a_later_one_reuses_it() -> None:
    runs: list[int] = []
    gate = asyncio.Event()

    async def run() -> int:
        runs.append(1)
        await gate.wait()
        return len(runs)

    shared: SharedRuns[str, int] = SharedRuns()
    callers = [asyncio.create_task(shared.get("k", run, reuse=60)) for _ in range(10)]
    await asyncio.sleep(0)  # every caller has asked (no wall-clock wait: one turn of the loop)
    gate.set()
    answers = await asyncio.gather(*callers)
    assert runs == [1]
    assert [fresh for _, fresh in answers].count(True) == 1
    assert {result for result, _ in answers} == {1}
    assert await shared.get("k", run, reuse=60) == (1, False)
    assert await shared.get("other", run, reuse=60) == (2, True)  # keys are apart
    assert await shared.get("k", run, reuse=0) == (3, True)  # no reuse: each call runs


async def test_a_caller_that_leaves_does_not_cancel_the_run_and_a_failure_is_not_kept() -> None:
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "done"

    shared: SharedRuns[str, str] = SharedRuns()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await shared.get("k", slow, reuse=60)
    running = shared.running("k")
    assert running is not None
    assert not running.cancelled()
    gate.set()
    assert await shared.get("k", slow, reuse=60) == ("done", False)

    async def failing() -> str:
        raise OSError("no")

    with pytest.raises(OSError, match="no"):
        await shared.get("f", failing, reuse=60)
    assert await shared.get("f", slow, reuse=60) == ("done", True)
