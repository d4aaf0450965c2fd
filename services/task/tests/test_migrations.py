"""The task migrations go up, down and up again on a fresh database, and match the models exactly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from kit.migrations import upgrade
from tests.support.migrations import check_reversible

SERVICE_DIR = Path(__file__).resolve().parents[1]
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


async def test_upgrade_downgrade_upgrade(fresh_database: Callable[[str], Awaitable[str]]) -> None:
    await check_reversible(
        await fresh_database("task_migrations"),
        "task",
        tables={"chores", "completions", "outbox", "inbox"},
        indexes={"chores": CHORE_INDEXES},
        definitions={
            "ix_chores_search": ["USING gin (search)"],
            "ix_chores_labels": ["USING gin (labels)"],
            "ix_chores_household_id_state_due": ["COALESCE(next_due_time, 'infinity'"],
        },
    )


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
