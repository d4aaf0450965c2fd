"""Fixtures a test module declares in one line, e.g. `stack = stack_fixture(["user", "task"])`.

Each factory returns a new fixture, which pytest registers under the name the module assigns it to. The
stack and what hangs off it run on the module's event loop (`loop_scope="module"`), the loop the module's
tests run on (`pytestmark = pytest.mark.asyncio(loop_scope="module")`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

import grpc
import httpx
import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.support.infra import infra
from tests.support.stack import SERVICES, Stack, running_stack

StubT = TypeVar("StubT")


def stack_fixture(services: Sequence[str] = SERVICES, **options: Any) -> Any:
    """A module-scoped fixture: `running_stack(services, **options)`, shared by the module's tests."""

    @pytest_asyncio.fixture(loop_scope="module", scope="module")
    async def stack() -> AsyncIterator[Stack]:
        async with running_stack(services, **options) as running:
            yield running

    return stack


def http_fixture() -> Any:
    """A fixture: an HTTP client of the stack's gateway, a new one for each test."""

    @pytest_asyncio.fixture(loop_scope="module")
    async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
        async with stack.http() as client:
            yield client

    return http


def redis_fixture() -> Any:
    """A module-scoped fixture: a Redis client of the server the stack uses (for its streams and keys)."""

    @pytest_asyncio.fixture(loop_scope="module", scope="module")
    async def redis(stack: Stack) -> AsyncIterator[aioredis.Redis]:
        client = aioredis.Redis.from_url(infra().redis_url)
        yield client
        await client.aclose()

    return redis


def stub_fixture(service: str, stub: Callable[[grpc.aio.Channel], StubT]) -> Any:
    """A module-scoped fixture: a `stub` of the stack's `service`, on one channel for the module."""

    @pytest_asyncio.fixture(loop_scope="module", scope="module")
    async def stub_of_service(stack: Stack) -> AsyncIterator[StubT]:
        async with grpc.aio.insecure_channel(stack.addr(service)) as channel:
            yield stub(channel)

    return stub_of_service


def database_fixture(service: str) -> Any:
    """A module-scoped fixture: an engine on `service`'s database in the stack (to look at what it stored)."""

    @pytest_asyncio.fixture(loop_scope="module", scope="module")
    async def database(stack: Stack) -> AsyncIterator[AsyncEngine]:
        engine = create_async_engine(stack.databases[service])
        yield engine
        await engine.dispose()

    return database
