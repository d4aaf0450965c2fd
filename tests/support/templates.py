"""Each service's schema migrated once, kept as a template database, cloned for every stack.

A stack's database is `CREATE DATABASE … TEMPLATE hearth_tpl_<service>_<hash>`: a file copy, instead of
running every Alembic migration again. `<hash>` covers everything the migrated schema depends on (the
service's `alembic.ini` and `migrations/`, `kit/` whose table helpers migrations call, the Alembic and
SQLAlchemy versions), so a changed or added migration names a new template and a stale one is never
cloned. Building one drops all but the service's `KEEP` newest: two checkouts testing against one server
(a branch with a new migration and one without) then do not rebuild each other's templates on every
clone. Templates outlive a test run: the next run clones them straight away.

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
KEEP = 3  # templates kept per service, the one just built included
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


async def _of_service(conn: asyncpg.Connection, service: str) -> list[str]:
    """The service's templates (and a crashed build's scratch database), newest first."""
    rows = await conn.fetch(
        "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY oid DESC", f"{PREFIX}{service}_"
    )
    return [row["datname"] for row in rows]


async def _build(conn: asyncpg.Connection, service: str, name: str) -> None:
    """Migrate a scratch database and rename it `name` once complete; drop the service's older templates.

    The caller holds the service's lock exclusively."""
    scratch = name + _BUILDING
    for leftover in (scratch, name):  # a crashed build's; `name` itself cannot be a template here
        await conn.execute(f'DROP DATABASE IF EXISTS "{leftover}" WITH (FORCE)')
    await conn.execute(f'CREATE DATABASE "{scratch}"')
    await asyncio.to_thread(upgrade, service_dir(service), database_url(scratch))
    # Alembic has closed its connection; RENAME waits (a few seconds at most) for its backend to go.
    await conn.execute(f'ALTER DATABASE "{scratch}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
    await conn.execute(f'ALTER DATABASE "{scratch}" RENAME TO "{name}"')
    existing = await _of_service(conn, service)
    complete = [other for other in existing if not other.endswith(_BUILDING)]
    crashed = [other for other in existing if other.endswith(_BUILDING)]  # no build but this one is running
    for stale in crashed + complete[KEEP:]:
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
            names = await _of_service(conn, service)
            for name in names:
                await _drop(conn, name)
            return names
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", key)


__all__ = ["KEEP", "PREFIX", "clone", "drop_templates", "schema_hash", "service_dir", "template_name"]
