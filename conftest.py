"""Fixtures every test suite shares: real PostgreSQL and Redis (see tests/support/infra.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from kit.db import drop_database, ensure_database
from tests.support.infra import database_url, infra, unique


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller decides once; xdist workers inherit its choice
        infra()


def pytest_report_header(config: pytest.Config) -> str:
    return infra().describe()


@pytest.fixture
def namespace() -> str:
    """A fresh Redis key/stream namespace for one test."""
    return unique("t")


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(infra().redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def fresh_database() -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Factory: `url = await fresh_database("task")` creates an empty database, dropped afterwards."""
    created: list[str] = []

    async def make(label: str) -> str:
        url = database_url(unique(f"hearth_test_{label}"))
        await ensure_database(url)
        created.append(url)
        return url

    yield make
    for url in created:
        await drop_database(url)


@pytest.fixture
async def service_database() -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Factory: `url = await service_database("task")` is a new database holding that service's schema at
    head, cloned from its template (tests/support/templates.py) instead of migrated again; dropped afterwards.
    Migration tests want `fresh_database`: an empty one, to migrate for real."""
    from tests.support.stack import migrated_database  # the stack's imports only for tests that use it

    created: list[str] = []

    async def make(service: str) -> str:
        url = await migrated_database(service)
        created.append(url)
        return url

    yield make
    for url in created:
        await drop_database(url)
