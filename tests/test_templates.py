"""Template databases (tests/support/templates.py): built once, complete or not at all, never stale.

Each test works on a throwaway service of its own (a copy of analytics' Alembic set-up under a fresh name in
a scratch tree), so it never drops or rebuilds the templates the rest of the suite is cloning."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from alembic.script import ScriptDirectory

from kit.db import asyncpg_dsn, drop_database
from kit.migrations import upgrade
from tests.support import templates
from tests.support.infra import ROOT, database_url, unique
from tests.support.migrations import schema

MODEL_SERVICE = "analytics"  # whose migrations the throwaway service runs, and whose models its schema matches


@dataclass
class Scratch:
    service: str
    root: Path
    upgrades: list[str] = field(default_factory=list)  # the database of every migration run, in order
    fail_next: bool = False
    clones: list[str] = field(default_factory=list)

    @property
    def versions(self) -> Path:
        return self.root / "services" / self.service / "migrations" / "versions"

    async def clone(self) -> str:
        name = unique("hearth_test_tpl")
        self.clones.append(name)
        await templates.clone(self.service, name)
        return name


@pytest.fixture
async def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Scratch]:
    service = unique("scratch")
    shutil.copytree(ROOT / "services" / MODEL_SERVICE, tmp_path / "services" / service, ignore=_ignored)
    shutil.copytree(ROOT / "kit", tmp_path / "kit", ignore=_ignored)
    made = Scratch(service, tmp_path)

    def counted_upgrade(service_dir: Path, url: str, revision: str = "head") -> None:
        made.upgrades.append(url)
        if made.fail_next:
            made.fail_next = False
            raise RuntimeError("the build crashed")
        upgrade(service_dir, url, revision)

    monkeypatch.setattr(templates, "ROOT", tmp_path)
    monkeypatch.setattr(templates, "upgrade", counted_upgrade)
    yield made
    await asyncio.gather(*(drop_database(database_url(name)) for name in made.clones))
    await templates.drop_templates(service)
    assert await _databases(f"{templates.PREFIX}{service}_") == []


def _ignored(directory: str, names: list[str]) -> set[str]:
    return {name for name in names if name in {"__pycache__", "tests"}}


async def _databases(prefix: str) -> list[str]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url("postgres")))
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1", prefix)
        return [row["datname"] for row in rows]
    finally:
        await conn.close()


def _add_migration(scratch: Scratch, table: str) -> None:
    revision = ScriptDirectory(str(scratch.versions.parent)).get_current_head()
    (scratch.versions / f"2999_01_01_{table}.py").write_text(
        f'revision = "{table}"\ndown_revision = {revision!r}\nbranch_labels = None\ndepends_on = None\n\n'
        "from alembic import op\n\n\n"
        f"def upgrade() -> None:\n    op.execute('CREATE TABLE {table} (id integer PRIMARY KEY)')\n\n\n"
        f"def downgrade() -> None:\n    op.execute('DROP TABLE {table}')\n"
    )


async def test_a_clone_holds_the_service_schema_at_head(scratch: Scratch) -> None:
    name = await scratch.clone()
    cloned = await schema(database_url(name), MODEL_SERVICE)
    assert "alembic_version" in cloned.tables
    assert cloned.diff == []  # exactly what the models declare, as a real migration leaves it


async def test_concurrent_clones_build_the_template_once(scratch: Scratch) -> None:
    names = await asyncio.gather(*(scratch.clone() for _ in range(5)))
    assert len(scratch.upgrades) == 1
    for name in names:
        assert (await schema(database_url(name), MODEL_SERVICE)).diff == []
    await scratch.clone()
    assert len(scratch.upgrades) == 1  # the next clone, like the next test run, finds it built


async def test_a_crashed_build_is_never_cloned(scratch: Scratch) -> None:
    scratch.fail_next = True
    with pytest.raises(RuntimeError, match="crashed"):
        await scratch.clone()
    assert await _databases(templates.template_name(scratch.service)) == [
        templates.template_name(scratch.service) + "_building"
    ]
    name = await scratch.clone()
    assert len(scratch.upgrades) == 2  # built again from scratch, not the half-migrated one
    assert (await schema(database_url(name), MODEL_SERVICE)).diff == []
    assert await _databases(f"{templates.PREFIX}{scratch.service}_") == [templates.template_name(scratch.service)]


async def test_a_new_migration_makes_a_new_template_and_the_oldest_are_dropped(scratch: Scratch) -> None:
    await scratch.clone()
    built = [templates.template_name(scratch.service)]
    for table in ("extra_1", "extra_2", "extra_3"):
        _add_migration(scratch, table)
        built.append(templates.template_name(scratch.service))
        name = await scratch.clone()
        assert table in (await schema(database_url(name), MODEL_SERVICE)).tables
    assert len(set(built)) == len(built) == len(scratch.upgrades)
    assert set(await _databases(f"{templates.PREFIX}{scratch.service}_")) == set(built[-templates.KEEP :])


async def test_a_change_in_kit_makes_a_new_template(scratch: Scratch) -> None:
    before = templates.template_name(scratch.service)
    (scratch.root / "kit" / "outbox.py").write_text((scratch.root / "kit" / "outbox.py").read_text() + "\n# changed\n")
    assert templates.template_name(scratch.service) != before


async def test_templates_refuse_connections(scratch: Scratch) -> None:
    await scratch.clone()
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="not currently accepting connections"):
        await asyncpg.connect(asyncpg_dsn(database_url(templates.template_name(scratch.service))))
