"""A Server-Sent Events client for tests: frames parsed as the WHATWG EventSource does (`id:`, `event:`, `data:`,
`retry:`, comment lines), read from a real streaming HTTP response of the gateway."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Frame:
    id: str | None = None
    event: str = "message"
    data: str = ""
    comments: list[str] = field(default_factory=list)
    retry: int | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.data)

    @property
    def is_heartbeat(self) -> bool:
        return not self.data and "heartbeat" in self.comments


class EventStream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self) -> Frame:
        """The next frame (a blank line ends one); StopAsyncIteration when the server ended the stream."""
        frame, data, seen = Frame(), [], False
        async for line in self._lines:
            if line == "":
                if seen:
                    frame.data = "\n".join(data)
                    return frame
                continue
            seen = True
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                frame.comments.append(value)
            elif name == "id":
                frame.id = value
            elif name == "event":
                frame.event = value
            elif name == "data":
                data.append(value)
            elif name == "retry":
                frame.retry = int(value)
        raise StopAsyncIteration

    async def event(self, *types: str) -> Frame:
        """The next frame that is an event (of one of `types`, when given), skipping heartbeats and the others."""
        while True:
            frame = await self.next()
            if frame.data and (not types or frame.event in types):
                return frame

    async def frames(self) -> AsyncIterator[Frame]:
        while True:
            try:
                yield await self.next()
            except StopAsyncIteration:
                return


@asynccontextmanager
async def open_events(
    http: httpx.AsyncClient,
    household_id: str,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> AsyncIterator[EventStream]:
    """GET …/events streamed; asserts it opened (200, text/event-stream)."""
    url = f"/api/v1/households/{household_id}/events"
    async with http.stream("GET", url, headers=headers or {}, params=params or {}, timeout=30) as response:
        if response.status_code != 200:
            await response.aread()
            raise AssertionError(f"GET {url}: {response.status_code} {response.text}")
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventStream(response)


async def refused(
    http: httpx.AsyncClient,
    household_id: str,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """GET …/events that must not open: the answer, read whole (a problem+json)."""
    url = f"/api/v1/households/{household_id}/events"
    async with http.stream("GET", url, headers=headers or {}, params=params or {}, timeout=30) as response:
        await response.aread()
    assert response.status_code != 200, "the stream opened"
    return response
