from sqlalchemy import text

from kit.db import create_engine


async def test_fresh_database_is_real_postgres(fresh_database) -> None:
    url = await fresh_database("kit")
    engine = create_engine(url)
    async with engine.connect() as conn:
        version = (await conn.execute(text("SHOW server_version_num"))).scalar_one()
    await engine.dispose()
    assert int(version) >= 150000
