"""kit.status against real PostgreSQL: checks with deadlines, the outbox lag, the watcher's flips."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kit.db import asyncpg_dsn, create_engine
from kit.outbox import add_event
from kit.status import (
    Check,
    DatabaseWatcher,
    HealthConnection,
    _Changes,
    check_database,
    check_redis,
    outbox_lag,
    rss_bytes,
    within_deadline,
)
from kit.telemetry import setup_telemetry
from kit.tests.conftest import Db
from tests.support.black_hole import black_hole
from tests.support.infra import infra

DEAD = "postgresql+asyncpg://postgres:s3cret-password@127.0.0.1:1/nowhere"


def health_connection(url: str) -> HealthConnection:
    return HealthConnection(asyncpg_dsn(url), connect_timeout=1.0)


async def test_a_reachable_database_is_ok_and_an_unreachable_one_is_down_without_its_text(db: Db) -> None:
    ok = await check_database(health_connection(db.url), 1.0)
    assert (ok.ok, ok.detail) == (True, "SELECT 1")
    assert ok.latency < 1.0
    down = await check_database(health_connection(DEAD), 1.0)
    assert not down.ok
    assert "s3cret" not in down.detail
    assert "127.0.0.1" not in down.detail
    assert down.detail in {"ConnectionRefusedError", "OSError"}


async def test_a_hanging_database_or_redis_costs_one_deadline() -> None:
    async with black_hole() as address:
        hung = HealthConnection(f"postgresql://postgres@{address}/x", connect_timeout=30)
        redis = aioredis.Redis.from_url(f"redis://{address}/0", socket_timeout=30)
        try:
            began = time.monotonic()
            database, cache = await asyncio.gather(check_database(hung, 0.3), check_redis(redis, 0.3))
            assert time.monotonic() - began < 1.5
        finally:
            hung.close()
            await redis.aclose()
    assert (database.ok, database.detail) == (False, "timeout after 300 ms")
    assert (cache.ok, cache.detail) == (False, "timeout after 300 ms")


async def test_redis_answers_pong() -> None:
    redis = aioredis.Redis.from_url(infra().redis_url)
    try:
        check = await check_redis(redis, 1.0)
    finally:
        await redis.aclose()
    assert (check.ok, check.detail) == (True, "PONG")


async def test_the_outbox_lag_is_the_backlog_and_the_oldest_unpublished_rows_age(db: Db) -> None:
    connection = health_connection(db.url)
    empty = await outbox_lag(connection, 1.0)
    assert empty is not None
    assert (empty.backlog, empty.oldest_age) == (0, 0.0)
    async with db.sessions.begin() as session:
        for _ in range(3):
            await add_event(session, events_pb2.ChoreCreated(chore_id="1"))
        await session.execute(sa.text("UPDATE outbox SET created_at = now() - interval '90 seconds'"))
    lag = await outbox_lag(connection, 1.0)
    assert lag is not None
    assert lag.backlog == 3
    assert 90 <= lag.oldest_age < 120
    async with db.sessions.begin() as session:
        await session.execute(sa.text("UPDATE outbox SET published_at = now()"))
    assert (await outbox_lag(connection, 1.0)) == empty
    connection.close()
    assert await outbox_lag(health_connection(DEAD), 1.0) is None


async def test_the_watcher_says_not_serving_after_two_misses_and_serving_at_the_first_answer(db: Db) -> None:
    flips: list[bool] = []

    async def record(serving: bool) -> None:
        flips.append(serving)

    live, dead = health_connection(db.url), health_connection(DEAD)
    watcher = DatabaseWatcher(live, record, interval=0.01, timeout=1.0, failures=2)
    try:
        await watcher.step()
        assert (watcher.serving, flips) == (True, [])
        watcher.connection = dead
        await watcher.step()
        assert (watcher.serving, flips) == (True, [])  # one miss is not an outage
        await watcher.step()
        assert (watcher.serving, flips) == (False, [False])
        await watcher.step()
        assert flips == [False]  # said once
        watcher.connection = live
        await watcher.step()
        assert (watcher.serving, flips) == (True, [False, True])
        watcher.connection = dead
        await watcher.step()
        watcher.connection = live
        await watcher.step()
        assert flips == [False, True]  # a single miss between answers flips nothing
    finally:
        live.close()


def test_rss_is_this_processs_resident_size() -> None:
    assert 10 * 2**20 < rss_bytes() < 64 * 2**30


async def test_health_checks_leave_no_spans(db: Db) -> None:
    exporter = InMemorySpanExporter()
    telemetry = setup_telemetry("probe", exporter=exporter)
    engine = create_engine(db.url)
    telemetry.instrument_engine(engine)
    health = health_connection(db.url)
    try:
        assert (await check_database(health, 1.0)).ok
        assert await outbox_lag(health, 1.0) is not None
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 2"))  # a statement of the service's own is traced
    finally:
        health.close()
        await engine.dispose()
        telemetry.shutdown()
    assert [span.attributes.get("db.statement") for span in exporter.get_finished_spans()] == ["SELECT 2"]


def test_the_checks_end_before_the_callers_deadline() -> None:
    assert within_deadline(1.0, None) == 1.0
    assert within_deadline(1.0, 5.0) == 1.0
    assert within_deadline(1.0, 0.6) == pytest.approx(0.55)
    assert within_deadline(1.0, 0.01) == 0.01  # a deadline all but spent still gets a (failing) check


async def test_a_failing_dependency_is_logged_once_per_change_of_state(caplog: pytest.LogCaptureFixture) -> None:
    """The module's promise: the reason (the driver's words) goes to the log when a check turns down or ok again,
    not at every check (a status page asking every few seconds would flood it)."""
    changes = _Changes()
    dead = health_connection(DEAD)
    with caplog.at_level(logging.DEBUG, logger="hearth.status"):
        for _ in range(3):
            changes.note("database", await check_database(dead, 1.0))
        changes.note("database", Check(True, "SELECT 1", 0.001))
        changes.note("database", Check(True, "SELECT 1", 0.001))
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "hearth.status"]
    assert len(lines) == 2, lines
    assert lines[0][0] == logging.WARNING
    assert lines[0][1].startswith("database check failed: ConnectionRefusedError")  # with the reason, for operators
    assert lines[1] == (logging.INFO, "database answers again")
