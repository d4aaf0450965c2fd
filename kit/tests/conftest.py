"""A small "service" for exercising the outbox and the consumer: one domain table plus outbox + inbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kit.db import asyncpg_dsn, create_engine, session_factory
from kit.events import inbox_table
from kit.outbox import outbox_table

metadata = sa.MetaData()
things = sa.Table(
    "things",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("handled", sa.Integer, nullable=False, server_default="0"),
)
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


@dataclass
class Db:
    url: str
    dsn: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
async def db(fresh_database) -> AsyncIterator[Db]:
    url = await fresh_database("kit_events")
    engine = create_engine(url, pool_size=4)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield Db(url, asyncpg_dsn(url), engine, session_factory(engine))
    await engine.dispose()


__all__ = ["Db", "inbox", "outbox", "things"]
