"""Each service's schema migrated once, kept as a template database, cloned for every stack.

A stack's database is `CREATE DATABASE … TEMPLATE hearth_tpl_<service>_<hash>`: a file copy, instead of
running every Alembic migration again. `<hash>` covers everything the migrated schema depends on (the
service's `alembic.ini` and `migrations/`, `kit/` whose table helpers migrations call, the Alembic and
SQLAlchemy versions), so a changed or added migration names a new template and a stale one is never
cloned; building a new one drops the service's older ones. Templates outlive a test run: the next run
clones them straight away.

Safe between processes (xdist workers, two test runs at once): all of a service's templates share one
PostgreSQL advisory lock. Cloning holds it shared; building and dropping hold it exclusively, so only one
process builds while the others wait, and no template is dropped while it is being cloned. A template is
built under a scratch name and renamed only when complete, so a crashed build is never cloned. Templates
refuse connections (`ALLOW_CONNECTIONS false`), which `CREATE DATABASE … TEMPLATE` requires.

The migration tests do not use any of this: they migrate an empty database for real.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path

import asyncpg

from kit.db import asyncpg_dsn
from kit.migrations import upgrade
from tests.support.infra import ROOT, database_url

PREFIX = "hearth_tpl_"
_BUILDING = "_building"
_DEPENDENCIES = ("alembic", "sqlalchemy")


def service_dir(service: str) -> Path:
    return ROOT / "services" / service


def _schema_sources(service: str) -> Iterator[Path]:
    directory = service_dir(service)
    yield directory / "alembic.ini"
    yield from (path for path in (directory / "migrations").rglob("*.py") if "__pycache__" not in path.parts)
    # Migrations build their outbox and inbox tables with kit's helpers.
    yield from (path for path in (ROOT / "kit").rglob("*.py") if "tests" not in path.parts)


@cache
def _versions() -> bytes:
    return "".join(f"{name}=={importlib.metadata.version(name)}\0" for name in _DEPENDENCIES).encode()


def schema_hash(service: str) -> str:
    """A digest of what `service`'s migrated schema depends on; read afresh each time (files change mid-run)."""
    digest = hashlib.sha256(_versions())
    for path in sorted(_schema_sources(service)):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def template_name(service: str) -> str:
    return f"{PREFIX}{service}_{schema_hash(service)}"


def _lock_key(service: str) -> int:
    """The advisory lock all of `service`'s templates share (a signed 64-bit key, as PostgreSQL wants)."""
    return int.from_bytes(hashlib.sha256(f"{PREFIX}{service}".encode()).digest()[:8], "big", signed=True)


@asynccontextmanager
async def _server() -> AsyncIterator[asyncpg.Connection]:
    # Advisory locks belong to one database: every process must take them connected to the same one.
    conn = await asyncpg.connect(asyncpg_dsn(database_url("postgres")))
    try:
        yield conn
    finally:
        await conn.close()


async def _exists(conn: asyncpg.Connection, name: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate", name))


async def _drop(conn: asyncpg.Connection, name: str) -> None:
    await conn.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false')
    await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


async def _others(conn: asyncpg.Connection, service: str, keep: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT datname FROM pg_database WHERE starts_with(datname, $1) AND datname <> $2",
        f"{PREFIX}{service}_",
        keep,
    )
    return [row["datname"] for row in rows]


async def _build(conn: asyncpg.Connection, service: str, name: str) -> None:
    """Migrate a scratch database and rename it `name` once complete; drop the service's other templates.

    The caller holds the service's lock exclusively."""
    scratch = name + _BUILDING
    for leftover in (scratch, name):  # a crashed build's; `name` itself cannot be a template here
        await conn.execute(f'DROP DATABASE IF EXISTS "{leftover}" WITH (FORCE)')
    await conn.execute(f'CREATE DATABASE "{scratch}"')
    await asyncio.to_thread(upgrade, service_dir(service), database_url(scratch))
    # Alembic has closed its connection; RENAME waits (a few seconds at most) for its backend to go.
    await conn.execute(f'ALTER DATABASE "{scratch}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
    await conn.execute(f'ALTER DATABASE "{scratch}" RENAME TO "{name}"')
    for stale in await _others(conn, service, keep=name):
        await _drop(conn, stale)


async def clone(service: str, database: str) -> None:
    """Create `database` as a copy of `service`'s current template, building the template first if needed."""
    key = _lock_key(service)
    async with _server() as conn:
        while True:
            name = template_name(service)
            await conn.execute("SELECT pg_advisory_lock_shared($1)", key)
            try:
                if await _exists(conn, name):
                    await conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{name}"')
                    return
            finally:
                await conn.execute("SELECT pg_advisory_unlock_shared($1)", key)
            await conn.execute("SELECT pg_advisory_lock($1)", key)
            try:
                if not await _exists(conn, name):  # another process may have built it while this one waited
                    await _build(conn, service, name)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", key)


async def drop_templates(service: str) -> list[str]:
    """Drop every template of `service` (any hash, and a crashed build's scratch database). Their names."""
    key = _lock_key(service)
    async with _server() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", key)
        try:
            names = await _others(conn, service, keep="")
            for name in names:
                await _drop(conn, name)
            return names
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", key)


__all__ = ["PREFIX", "clone", "drop_templates", "schema_hash", "service_dir", "template_name"]
