"""The analytics migrations go up, down and up again on a fresh database, and match the models."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from kit.migrations import downgrade, upgrade
from services.analytics.models import Base

SERVICE_DIR = Path(__file__).resolve().parents[1]
TABLES = {"members", "completions", "outbox", "inbox"}


async def schema(url: str) -> tuple[set[str], set[str], list[object]]:
    """(tables, completion index names, differences between the models and the database)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def inspect(sync_conn: sa.Connection) -> tuple[set[str], set[str], list[object]]:
                inspector = sa.inspect(sync_conn)
                tables = set(inspector.get_table_names())
                indexes = (
                    {ix["name"] for ix in inspector.get_indexes("completions")} if "completions" in tables else set()
                )
                diff = compare_metadata(MigrationContext.configure(sync_conn), Base.metadata)
                return tables, indexes, diff

            return await conn.run_sync(inspect)
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(fresh_database: Callable[[str], Awaitable[str]]) -> None:
    url = await fresh_database("analytics_migrations")

    await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    tables, indexes, diff = await schema(url)
    assert tables >= TABLES | {"alembic_version"}
    assert {
        "ix_completions_household_id_completed_at",
        "ix_completions_household_id_user_id_completed_at",
    } <= indexes
    assert diff == []  # the hand-written migration creates exactly what the models declare

    await asyncio.to_thread(downgrade, SERVICE_DIR, url)
    tables, _, _ = await schema(url)
    assert tables & TABLES == set()

    await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    tables, _, diff = await schema(url)
    assert tables >= TABLES
    assert diff == []
