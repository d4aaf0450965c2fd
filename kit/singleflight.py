"""Shared runs: concurrent callers of one keyed piece of work share a single run, and its result is reused for a
short while after it ends.

Health checks are asked by anyone, often and in bursts (a load balancer, a status page, a flood): each caller
running them anew multiplies their cost by the callers. Here a burst costs one run, and a caller within `reuse`
seconds of the last result gets that result. A run is shielded: a caller that leaves (a closed connection, an
expired deadline) does not cancel the run the others wait for. A run that raises is not kept: the next caller
runs it again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class SharedRuns(Generic[K, T]):
    def __init__(self) -> None:
        self._recent: dict[K, tuple[float, T]] = {}
        self._running: dict[K, asyncio.Task[T]] = {}

    async def get(self, key: K, run: Callable[[], Awaitable[T]], *, reuse: float) -> tuple[T, bool]:
        """`key`'s result: the last one if it is under `reuse` seconds old, else the running run's, else a new
        run's. (result, fresh): fresh when this caller started the run."""
        recent = self._recent.get(key)
        if recent is not None and time.monotonic() - recent[0] < reuse:
            return recent[1], False
        task = self._running.get(key)
        fresh = task is None
        if task is None:

            async def shared() -> T:
                result = await run()
                self._recent[key] = (time.monotonic(), result)
                return result

            task = asyncio.create_task(shared())
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(task), fresh

    def running(self, key: K) -> asyncio.Task[T] | None:
        """The run of `key` in progress, if any."""
        return self._running.get(key)
