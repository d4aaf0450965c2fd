"""The task migrations go up, down and up again on a fresh database, and match the models exactly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from kit.migrations import downgrade, upgrade
from services.task.models import Base

SERVICE_DIR = Path(__file__).resolve().parents[1]
TABLES = {"chores", "completions", "outbox", "inbox"}
CHORE_INDEXES = {
    "ix_chores_household_id_state_due",
    "ix_chores_household_id_state_create_time_id",
    "ix_chores_household_id_state_points_id",
    "ix_chores_household_id_state_title_id",
    "ix_chores_household_id_assignee_id_next_due_time",
    "ix_chores_household_id_category",
    "ix_chores_labels",
    "ix_chores_search",
}


async def schema(url: str) -> tuple[set[str], dict[str, str], list[object]]:
    """(tables, chore index name → definition, differences between the models and the database)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def inspect(sync_conn: sa.Connection) -> tuple[set[str], list[object]]:
                tables = set(sa.inspect(sync_conn).get_table_names())
                return tables, compare_metadata(MigrationContext.configure(sync_conn), Base.metadata)

            tables, diff = await conn.run_sync(inspect)
            rows = await conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chores'"))
            return tables, {name: definition for name, definition in rows.all()}, diff
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(fresh_database: Callable[[str], Awaitable[str]]) -> None:
    url = await fresh_database("task_migrations")

    await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    tables, indexes, diff = await schema(url)
    assert tables >= TABLES | {"alembic_version"}
    assert set(indexes) >= CHORE_INDEXES
    assert "USING gin (search)" in indexes["ix_chores_search"]
    assert "USING gin (labels)" in indexes["ix_chores_labels"]
    assert "COALESCE(next_due_time, 'infinity'" in indexes["ix_chores_household_id_state_due"]
    assert diff == []  # the hand-written migration creates exactly what the models declare

    await asyncio.to_thread(downgrade, SERVICE_DIR, url)
    tables, indexes, _ = await schema(url)
    assert tables & TABLES == set()
    assert indexes == {}

    await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    tables, indexes, diff = await schema(url)
    assert tables >= TABLES
    assert set(indexes) >= CHORE_INDEXES
    assert diff == []


async def test_search_column_is_generated_from_title_and_description(
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    url = await fresh_database("task_search")
    await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            generated = await conn.scalar(
                sa.text(
                    "SELECT generation_expression FROM information_schema.columns "
                    "WHERE table_name = 'chores' AND column_name = 'search'"
                )
            )
    finally:
        await engine.dispose()
    assert "to_tsvector" in str(generated)
    assert "title" in str(generated)
    assert "description" in str(generated)
