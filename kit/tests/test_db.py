import logging

import pytest
from sqlalchemy import exc, text

from kit.db import create_engine


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
