"""Searching a whole database for what names someone: the check behind every erasure test (GDPR)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine


async def rows_naming(url: str, *needles: str) -> dict[str, int]:
    """Per table of the database at `url` (every schema but PostgreSQL's own), how many rows hold any of `needles`
    anywhere: in any column's text, or in a bytea column's bytes (a row's text shows those as hex)."""
    found: dict[str, int] = {}
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = (
                await conn.execute(
                    sa.text(
                        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
                        " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
                    )
                )
            ).all()
            assert tables
            for schema, table in tables:
                conditions = " OR ".join(
                    f"strpos(t::text, :text_{n}) > 0 OR strpos(t::text, :hex_{n}) > 0" for n in range(len(needles))
                )
                params = {f"text_{n}": needle for n, needle in enumerate(needles)}
                params.update({f"hex_{n}": needle.encode().hex() for n, needle in enumerate(needles)})
                count = await conn.scalar(
                    sa.text(f'SELECT count(*) FROM "{schema}"."{table}" AS t WHERE {conditions}'), params
                )
                if count:
                    found[f"{schema}.{table}"] = int(count)
    finally:
        await engine.dispose()
    return found


__all__ = ["rows_naming"]
