"""The user migrations go up, down and up again on a fresh database, and match the models exactly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from kit.migrations import downgrade, upgrade
from services.user.models import Base

SERVICE_DIR = Path(__file__).resolve().parents[1]
TABLES = {
    "users",
    "sessions",
    "spent_refresh_tokens",
    "households",
    "memberships",
    "invites",
    "idempotent_requests",
    "outbox",
}
INDEXES = {
    "uq_users_email",
    "uq_sessions_refresh_hash",
    "ix_sessions_user_id",
    "uq_memberships_owner",
    "ix_memberships_user_id_household_id",
    "uq_invites_code_hash",
    "ix_invites_household_id",
    "ix_outbox_unpublished",
}


async def schema(url: str) -> tuple[set[str], dict[str, str], list[object]]:
    """(tables, index name → definition, differences between the models and the database)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def inspect(sync_conn: sa.Connection) -> tuple[set[str], list[object]]:
                tables = set(sa.inspect(sync_conn).get_table_names())
                return tables, compare_metadata(MigrationContext.configure(sync_conn), Base.metadata)

            tables, diff = await conn.run_sync(inspect)
            rows = await conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"))
            return tables, {name: definition for name, definition in rows.all()}, diff
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(fresh_database: Callable[[str], Awaitable[str]]) -> None:
    url = await fresh_database("user_migrations")

    await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    tables, indexes, diff = await schema(url)
    assert tables >= TABLES | {"alembic_version"}
    assert set(indexes) >= INDEXES
    # Emails are unique case-insensitively; a household has at most one owner.
    assert "UNIQUE INDEX" in indexes["uq_users_email"]
    assert "lower(email)" in indexes["uq_users_email"]
    assert "UNIQUE INDEX" in indexes["uq_memberships_owner"]
    assert "WHERE (role = 'owner'::text)" in indexes["uq_memberships_owner"]
    assert "WHERE (published_at IS NULL)" in indexes["ix_outbox_unpublished"]
    assert diff == []  # the hand-written migration creates exactly what the models declare

    await asyncio.to_thread(downgrade, SERVICE_DIR, url)
    tables, indexes, _ = await schema(url)
    assert tables & TABLES == set()
    assert set(indexes) & INDEXES == set()

    await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    tables, indexes, diff = await schema(url)
    assert tables >= TABLES
    assert set(indexes) >= INDEXES
    assert diff == []
