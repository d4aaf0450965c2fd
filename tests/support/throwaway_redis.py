"""A throw-away `redis-server` on a free port, for tests that make Redis sick: `stop()` freezes it (SIGSTOP: the
kernel still accepts connections and buffers requests, nothing answers — a hung Redis, not a dead one),
`resume()` thaws it (SIGCONT). Nothing is persisted; the process is killed at the end."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis


@dataclass
class ThrowawayRedis:
    process: asyncio.subprocess.Process
    port: int
    stopped: bool = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(self.url, socket_timeout=5)

    def stop(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)
        self.stopped = True

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)
        self.stopped = False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def throwaway_redis() -> AsyncIterator[ThrowawayRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not on PATH")
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        *(binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    spare = ThrowawayRedis(process, port)
    try:
        client = aioredis.Redis.from_url(spare.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            async with asyncio.timeout(10):  # bounded: until it answers
                while True:
                    if process.returncode is not None:
                        raise RuntimeError(f"redis-server exited with {process.returncode}")
                    try:
                        await client.ping()
                        break
                    except (OSError, aioredis.RedisError):
                        await asyncio.sleep(0.02)
        finally:
            await client.aclose()
        yield spare
    finally:
        if spare.stopped:
            spare.resume()
        process.kill()
        await process.wait()


__all__ = ["ThrowawayRedis", "throwaway_redis"]
