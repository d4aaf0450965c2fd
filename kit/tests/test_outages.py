"""kit.outages: which failures are a database outage (UNAVAILABLE), with the drivers' real exceptions.

The stop-and-start of a real server under a running stack is tests/test_database_outage.py; here, a
closed port stands for a server that is down.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from hearth.task.v1 import task_pb2, task_pb2_grpc
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from kit import outages
from kit.db import create_engine
from kit.tests.grpc_helpers import CHORES, Chores, serving


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def raised_by(coro: object) -> BaseException:
    try:
        await coro  # type: ignore[misc]
    except Exception as exc:
        return exc
    raise AssertionError("did not fail")


async def query(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def test_a_refused_connection_is_an_outage_from_asyncpg_and_from_the_pool() -> None:
    port = closed_port()
    direct = await raised_by(asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres"))
    pooled = await raised_by(query(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"))
    for exc in (direct, pooled):
        assert isinstance(exc, OSError)
        assert outages.database_outage(exc) is exc
        assert str(port) in outages.describe(exc)  # for the log; never for the caller
    assert str(port) not in outages.unavailable().message


async def test_an_os_error_outside_the_drivers_is_not_an_outage(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileNotFoundError) as missing:
        (tmp_path / "missing").read_text()
    with pytest.raises(ConnectionRefusedError) as refused:
        socket.create_connection(("127.0.0.1", closed_port()), timeout=1)
    assert outages.database_outage(missing.value) is None
    assert outages.database_outage(refused.value) is None  # refused, but not the database's connection


async def test_statement_errors_are_not_outages(fresh_database) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(await fresh_database("kit"))
    try:
        async with engine.connect() as conn:
            wrong = await raised_by(conn.execute(text("SELECT * FROM no_such_table")))
        async with engine.connect() as conn:
            await conn.execute(text("SET statement_timeout = 1"))
            cancelled = await raised_by(conn.execute(text("SELECT pg_sleep(1)")))
    finally:
        await engine.dispose()
    assert isinstance(wrong, sa_exc.ProgrammingError)
    assert isinstance(cancelled, sa_exc.DBAPIError)
    assert outages.database_outage(wrong) is None
    assert outages.database_outage(cancelled) is None  # a statement timeout: the database is there


async def test_a_connection_the_server_ended_is_an_outage(fresh_database) -> None:  # type: ignore[no-untyped-def]
    url = await fresh_database("kit")
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with engine.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            ended = await raised_by(conn.execute(text("SELECT 1")))
    finally:
        await engine.dispose()
    assert isinstance(ended, sa_exc.DBAPIError)
    assert outages.database_outage(ended) is not None


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.CannotConnectNowError("the database system is shutting down"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        sa_exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"),
    ],
)
def test_the_servers_unavailable_states_are_outages(exc: BaseException) -> None:
    assert outages.database_outage(exc) is exc


def test_a_wrapped_outage_is_found_along_the_chain() -> None:
    try:
        try:
            raise asyncpg.CannotConnectNowError("the database system is starting up")
        except asyncpg.PostgresError as inner:
            raise RuntimeError("while loading chores") from inner
    except RuntimeError as outer:
        found = outages.database_outage(outer)
    assert isinstance(found, asyncpg.CannotConnectNowError)


def test_driver_misuse_is_not_an_outage() -> None:
    misuse = asyncpg.InterfaceError("cannot perform operation: another operation is in progress")
    assert outages.database_outage(misuse) is None


@pytest.fixture
async def chores_on_a_dead_database() -> AsyncIterator[tuple[task_pb2_grpc.ChoreServiceStub, int]]:
    port = closed_port()

    async def list_chores(request: object, ctx: grpc.aio.ServicerContext) -> task_pb2.ListChoresResponse:
        await query(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres")
        return task_pb2.ListChoresResponse()

    async with (
        serving(Chores(ListChores=list_chores), public_methods=[f"/{CHORES}/ListChores"]) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield task_pb2_grpc.ChoreServiceStub(channel), port


async def test_the_error_interceptor_answers_an_outage_unavailable_and_logs_a_warning_without_a_stack(
    chores_on_a_dead_database: tuple[task_pb2_grpc.ChoreServiceStub, int], caplog: pytest.LogCaptureFixture
) -> None:
    stub, port = chores_on_a_dead_database
    with caplog.at_level(logging.WARNING, logger="hearth.grpc"), pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ListChores(task_pb2.ListChoresRequest(parent="households/h"), timeout=5)
    failed = raised.value
    assert failed.code() == grpc.StatusCode.UNAVAILABLE
    assert failed.details() == outages.MESSAGE
    assert str(port) not in str(failed.trailing_metadata())
    logged = [r for r in caplog.records if r.name == "hearth.grpc"]
    assert [r.levelno for r in logged] == [logging.WARNING]
    assert logged[0].exc_info is None
    assert f"/{CHORES}/ListChores" in logged[0].getMessage()
    assert "ConnectionRefusedError" in logged[0].getMessage() or "OSError" in logged[0].getMessage()
