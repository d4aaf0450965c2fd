import logging

import asyncpg
import pytest
from sqlalchemy import exc, text

from kit.db import asyncpg_dsn, create_engine
from tests.support.wait import eventually


async def test_fresh_database_is_real_postgres(fresh_database) -> None:
    url = await fresh_database("kit")
    engine = create_engine(url)
    async with engine.connect() as conn:
        version = (await conn.execute(text("SHOW server_version_num"))).scalar_one()
    await engine.dispose()
    assert int(version) >= 150000


async def test_a_failing_statement_does_not_log_its_parameters(
    fresh_database, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0LWhhc2g"
    url = await fresh_database("kit")
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE users (email text PRIMARY KEY, password_hash text NOT NULL)"))
            await conn.execute(text("INSERT INTO users VALUES ('a@example.com', 'x')"))
        with caplog.at_level(logging.DEBUG), pytest.raises(exc.IntegrityError) as raised:
            async with engine.begin() as conn:
                await conn.execute(
                    text("INSERT INTO users VALUES (:email, :password_hash)"),
                    {"email": "a@example.com", "password_hash": secret},
                )
    finally:
        await engine.dispose()
    # What an unhandled-error log line carries: the exception's text and its traceback.
    logging.getLogger("hearth.test").error("statement failed", exc_info=raised.value)
    assert "duplicate key" in str(raised.value)
    assert secret not in str(raised.value)
    assert secret not in caplog.text


async def test_a_pooled_connection_the_server_closed_is_replaced_before_use(fresh_database) -> None:
    """No pre-ping: a connection asyncpg knows is closed (a restart, a terminated backend) never reaches a request."""
    url = await fresh_database("kit")
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            driver = (await conn.get_raw_connection()).driver_connection
        admin = await asyncpg.connect(asyncpg_dsn(url))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()

        async def noticed() -> bool:
            return bool(driver.is_closed())

        await eventually(noticed, timeout=5)
        async with engine.connect() as conn:  # the checkout replaces it: this request does not fail
            again = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert again != pid
    finally:
        await engine.dispose()
