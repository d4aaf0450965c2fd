"""Alembic, run programmatically: every service's `migrations/env.py` delegates here.

`python -m services.<name> migrate` and the test suite both call `upgrade()`; Alembic's own CLI
works too (`alembic -c services/task/alembic.ini upgrade head`).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(service_dir: Path, url: str) -> Config:
    cfg = Config(str(service_dir / "alembic.ini"))
    cfg.set_main_option("script_location", str(service_dir / "migrations"))
    # `%` is ConfigParser interpolation syntax; URLs may contain it (socket paths are %-encoded).
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


# Alembic's `context` and `op` are process-wide proxies: two migrations running at once in one process
# (threads, e.g. the test stack migrating every service's database concurrently) would use each other's
# configuration and connection. One migration at a time per process; the databases are small.
_lock = threading.Lock()


def upgrade(service_dir: Path, url: str, revision: str = "head") -> None:
    with _lock:
        command.upgrade(alembic_config(service_dir, url), revision)


def downgrade(service_dir: Path, url: str, revision: str = "base") -> None:
    with _lock:
        command.downgrade(alembic_config(service_dir, url), revision)


def run_env(target_metadata: MetaData) -> None:
    """The body of a service's `migrations/env.py` (online mode, async engine)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run_async())
        return
    raise RuntimeError("run migrations from a thread without a running loop (use asyncio.to_thread)")
