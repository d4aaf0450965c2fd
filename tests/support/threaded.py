"""A running stack for synchronous tests (Schemathesis, Hypothesis state machines): started on an event loop of
its own in a thread, so the test's blocking requests do not stall the loop the servers answer on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tests.support.stack import SERVICES, Stack, running_stack

START_TIMEOUT_SECONDS = 120


@contextmanager
def stack_in_thread(
    services: Sequence[str] = SERVICES,
    *,
    gateway: bool = False,
    settings_overrides: dict[str, dict[str, Any]] | None = None,
) -> Iterator[Stack]:
    """tests/support/stack.py's `running_stack`, served from a thread until the block ends. Talk to it over the
    network only (HTTP, gRPC): its objects belong to the other loop."""
    ready: dict[str, Any] = {}
    started = threading.Event()

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        ready["stop"] = lambda: loop.call_soon_threadsafe(stop.set)
        try:
            async with running_stack(services, gateway=gateway, settings_overrides=settings_overrides) as stack:
                ready["stack"] = stack
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
        yield ready["stack"]
    finally:
        ready["stop"]()
        thread.join(60)


__all__ = ["stack_in_thread"]
