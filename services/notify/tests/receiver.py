"""A real HTTP server for webhook tests (asyncio streams, on 127.0.0.1 port 0): it keeps every request it receives
and answers each as `answer` says (a status, optionally a Location), so a test sees exactly what notify sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    # What to answer the n-th request (0-based) with: (status, location or None).
    answer: Callable[[int], tuple[int, str | None]] = lambda n: (200, None)
    port: int = 0
    received: list[Received] = field(default_factory=list)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").strip()
            method, path, _ = request_line.split(" ", 2)
            headers: dict[str, str] = {}
            while (line := (await reader.readline()).decode("latin-1").strip()) != "":
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            async with self._arrived:
                number = len(self.received)
                self.received.append(Received(method, path, headers, body.decode()))
                self._arrived.notify_all()
            status, location = self.answer(number)
            extra = f"Location: {location}\r\n" if location else ""
            writer.write(
                f"HTTP/1.1 {status} X\r\n{extra}Content-Length: 2\r\nConnection: close\r\n\r\nok".encode("latin-1")
            )
            await writer.drain()
        finally:
            writer.close()

    async def wait_for(self, count: int, *, timeout: float = 20) -> list[Received]:
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received


@asynccontextmanager
async def receiver(answer: Callable[[int], tuple[int, str | None]] = lambda n: (200, None)) -> AsyncIterator[Receiver]:
    box = Receiver(answer)
    server = await asyncio.start_server(box.handle, "127.0.0.1", 0)
    box.port = server.sockets[0].getsockname()[1]
    try:
        yield box
    finally:
        server.close()
        await server.wait_closed()


async def closed_port() -> int:
    """A port nobody listens on (bound, then released): a receiver that is down."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port
