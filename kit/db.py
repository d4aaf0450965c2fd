"""Async SQLAlchemy 2.0 on asyncpg: engine, sessions, naming conventions, database bootstrap.

Each service declares its own `Base` from `make_base()` so every service has its own MetaData
(its own database, its own migrations) with the same, stable constraint names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import MetaData, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_base() -> type[DeclarativeBase]:
    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)

    return Base


def utcnow() -> datetime:
    return datetime.now(UTC)


# How long opening a connection may take before the request fails as UNAVAILABLE (asyncpg waits 60 s by
# default: an unreachable server would hold every request far past the gateway's deadline).
CONNECT_TIMEOUT_SECONDS = 3.0


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """The service's engine. Database outages and restarts, without a ping per checkout:

    `pool_pre_ping` would cost every request a round trip (BEGIN; ;ROLLBACK on asyncpg: ~0.3 ms of latency and
    ~0.18 ms of the service's CPU each). Instead a pooled connection the server has closed (a restart or
    shutdown ends every session, and asyncpg sees its socket close) is discarded at checkout and replaced
    before any statement is sent (`_discard_closed`): nothing is retried, so writes are safe. A connection that
    breaks mid-request fails that request (UNAVAILABLE, `kit.outages`) and SQLAlchemy, recognising the
    disconnect, invalidates it and every connection pooled before it.
    """
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # Parameters are user data (password hashes, emails, notes): never in an error message or a log.
        hide_parameters=True,
        # Each service's statements are few and fixed: let asyncpg cache their plans.
        connect_args={"server_settings": {"application_name": "hearth"}, "timeout": CONNECT_TIMEOUT_SECONDS},
    )
    event.listen(engine.sync_engine, "checkout", _discard_closed)
    return engine


def _discard_closed(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
    """A pool checkout hook: refuse a connection asyncpg knows is closed; the pool then opens a new one.

    DisconnectionError from a checkout hook is SQLAlchemy's documented way to have the pool invalidate the
    connection and connect again (up to three times) before handing one out; a failing reconnect raises
    the driver's error, which `kit.outages` maps to UNAVAILABLE.
    """
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise exc.DisconnectionError("the pooled connection was closed by the server")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def asyncpg_dsn(url: str) -> str:
    """The plain libpq-style DSN asyncpg wants (for LISTEN/NOTIFY connections and bootstrap)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def _server_connection(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(str(make_url(url).set(database="postgres"))))
    try:
        yield conn
    finally:
        await conn.close()


async def ensure_database(url: str) -> bool:
    """Create the database named in `url` when it does not exist. True when it was created."""
    name = make_url(url).database
    async with _server_connection(url) as conn:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.DuplicateDatabaseError:
            return False
        return True


async def drop_database(url: str) -> None:
    name = make_url(url).database
    async with _server_connection(url) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
