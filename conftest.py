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
