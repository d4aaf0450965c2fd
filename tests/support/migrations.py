"""The check every service's migrations pass: up, down and up again on a fresh database, matching the models."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from kit.migrations import downgrade, upgrade
from tests.support.infra import ROOT


@dataclass(frozen=True)
class Schema:
    tables: set[str]
    indexes: dict[str, dict[str, str]]  # table → index name → definition (`pg_indexes.indexdef`)
    diff: list[object]  # differences between the models and the database

    def index_names(self) -> set[str]:
        return {name for on_table in self.indexes.values() for name in on_table}

    def definition(self, index: str) -> str:
        [found] = [on_table[index] for on_table in self.indexes.values() if index in on_table]
        return found


async def schema(url: str, service: str) -> Schema:
    """What the database at `url` holds, compared with `service`'s models."""
    metadata = importlib.import_module(f"services.{service}.models").Base.metadata
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def inspect(sync_conn: sa.Connection) -> tuple[set[str], list[object]]:
                tables = set(sa.inspect(sync_conn).get_table_names())
                return tables, compare_metadata(MigrationContext.configure(sync_conn), metadata)

            tables, diff = await conn.run_sync(inspect)
            rows = await conn.execute(
                sa.text("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
            )
            indexes: dict[str, dict[str, str]] = {}
            for table, name, definition in rows.all():
                indexes.setdefault(table, {})[name] = definition
            return Schema(tables, indexes, diff)
    finally:
        await engine.dispose()


async def check_reversible(
    url: str,
    service: str,
    *,
    tables: set[str],
    indexes: Mapping[str, set[str]],
    definitions: Mapping[str, Sequence[str]],
) -> None:
    """Upgrade the empty database at `url` to `service`'s head, downgrade it to nothing, upgrade it again.

    At head it holds `tables`, the `indexes` (table → index names on it) with each index's definition
    containing its `definitions` fragments, and exactly what the models declare; after the downgrade,
    none of those tables and indexes is left."""
    service_dir = ROOT / "services" / service
    expected_indexes = {name for names in indexes.values() for name in names}

    await asyncio.to_thread(upgrade, service_dir, url)
    head = await schema(url, service)
    assert head.tables >= tables | {"alembic_version"}
    for table, names in indexes.items():
        assert set(head.indexes.get(table, {})) >= names, table
    for index, fragments in definitions.items():
        for fragment in fragments:
            assert fragment in head.definition(index), index
    assert head.diff == []  # the hand-written migrations create exactly what the models declare

    await asyncio.to_thread(downgrade, service_dir, url)
    base = await schema(url, service)
    assert base.tables & tables == set()
    assert set(base.indexes) & tables == set()  # no index left on any of them
    assert base.index_names() & expected_indexes == set()

    await asyncio.to_thread(upgrade, service_dir, url)
    again = await schema(url, service)
    assert again.tables >= tables
    for table, names in indexes.items():
        assert set(again.indexes.get(table, {})) >= names, table
    assert again.diff == []
