"""A running stack for synchronous tests (Schemathesis, Hypothesis state machines): started on an event loop of
its own in a thread, so the test's blocking requests do not stall the loop the servers answer on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from tests.support.stack import SERVICES, Stack, running_stack

START_TIMEOUT_SECONDS = 120
T = TypeVar("T")


@dataclass(frozen=True)
class Threaded:
    stack: Stack
    loop: asyncio.AbstractEventLoop
    # What `within` gave (a mailbox, a worker), or None.
    extra: Any

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run `coroutine` on the stack's loop and wait for its result (for objects that live there)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


@contextmanager
def stack_in_thread(
    services: Sequence[str] = SERVICES,
    *,
    gateway: bool = False,
    settings_overrides: dict[str, dict[str, Any]] | None = None,
    within: Callable[[Stack], AbstractAsyncContextManager[Any]] | None = None,
) -> Iterator[Threaded]:
    """tests/support/stack.py's `running_stack`, served from a thread until the block ends, with `within(stack)`
    (workers, an SMTP server) entered on its loop too. Talk to it over the network (HTTP, gRPC), or through
    `Threaded.run` for the objects that live on its loop."""
    ready: dict[str, Any] = {}
    started = threading.Event()

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        ready["stop"] = lambda: loop.call_soon_threadsafe(stop.set)
        try:
            async with (
                running_stack(services, gateway=gateway, settings_overrides=settings_overrides) as stack,
                AsyncExitStack() as extras,
            ):
                extra = await extras.enter_async_context(within(stack)) if within is not None else None
                ready["running"] = Threaded(stack, loop, extra)
                started.set()
                await stop.wait()
        except BaseException as exc:
            ready["error"] = exc
            started.set()
            raise

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="stack", daemon=True)
    thread.start()
    assert started.wait(START_TIMEOUT_SECONDS), "the stack did not start"
    if "error" in ready:
        raise ready["error"]
    try:
        yield ready["running"]
    finally:
        ready["stop"]()
        thread.join(60)


__all__ = ["stack_in_thread"]
