"""kit.projection: whatever order events arrive in, a read-model row ends up as the newest events say."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.db import create_engine, session_factory
from kit.projection import Projection, versions_column

metadata = sa.MetaData()
members = sa.Table(
    "members",
    metadata,
    sa.Column("household_id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("role", sa.Text, nullable=True),
    sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
    versions_column(),
)
PROJECTION = Projection(members, key=("household_id", "user_id"), tombstone="left_at")
T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
KEY = {"household_id": "h", "user_id": "u"}


@dataclass(frozen=True)
class Fact:
    at: datetime
    values: dict[str, Any]
    removed: bool = False


JOINED = Fact(T0, {"role": "member", "joined_at": T0})
PROMOTED = Fact(T0 + timedelta(minutes=1), {"role": "admin"})
LEFT = Fact(T0 + timedelta(minutes=2), {}, removed=True)
REJOINED = Fact(T0 + timedelta(minutes=3), {"role": "child", "joined_at": T0 + timedelta(minutes=3)})


@pytest.fixture
async def sessions(fresh_database) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(await fresh_database("kit_projection"), pool_size=2)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield session_factory(engine)
    await engine.dispose()


async def replay(sessions: async_sessionmaker[AsyncSession], facts: tuple[Fact, ...], household: str) -> Any:
    key = {**KEY, "household_id": household}
    async with sessions() as session, session.begin():
        for fact in facts:
            await PROJECTION.apply(session, key, at=fact.at, values=fact.values, removed=fact.removed)
        return (await session.execute(sa.select(members).where(members.c.household_id == household))).one()


@pytest.mark.parametrize(
    ("facts", "role", "joined_at", "left_at"),
    [
        ((JOINED, PROMOTED), "admin", T0, None),
        ((JOINED, PROMOTED, LEFT), "admin", T0, LEFT.at),
        ((JOINED, PROMOTED, LEFT, REJOINED), "child", REJOINED.at, None),
    ],
)
async def test_every_arrival_order_gives_the_same_row(
    sessions: async_sessionmaker[AsyncSession], facts: tuple[Fact, ...], role: str, joined_at: Any, left_at: Any
) -> None:
    orders = list(itertools.permutations(facts))
    for index, order in enumerate(orders):
        row = await replay(sessions, order, household=f"h{len(facts)}-{index}")
        assert (row.role, row.joined_at, row.left_at, row.as_of) == (
            role,
            joined_at,
            left_at,
            max(f.at for f in facts),
        ), order


async def test_redelivery_is_a_no_op(sessions: async_sessionmaker[AsyncSession]) -> None:
    once = await replay(sessions, (JOINED, PROMOTED), household="a")
    twice = await replay(sessions, (JOINED, PROMOTED, PROMOTED, JOINED), household="b")
    assert (once.role, once.joined_at, once.as_of, once.left_at) == (
        twice.role,
        twice.joined_at,
        twice.as_of,
        twice.left_at,
    )


async def test_an_older_event_fills_what_no_event_said_but_overwrites_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # The promotion arrives first: it knows the role but not when they joined.
    row = await replay(sessions, (PROMOTED, JOINED), household="c")
    assert row.role == "admin"  # the older join does not demote
    assert row.joined_at == T0  # but it does say when they joined


def test_a_projection_over_a_table_it_cannot_keep_is_refused() -> None:
    with pytest.raises(ValueError, match="no column"):
        Projection(members, key=("household_id", "nope"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"removed": True}, "tombstone"),
        ({"values": {"nope": 1}}, "not a field"),
        ({"values": {"user_id": "x"}}, "not a field"),
    ],
)
async def test_misuse_of_apply_is_refused(sessions: async_sessionmaker[AsyncSession], kwargs, message) -> None:
    no_tombstone = Projection(members, key=("household_id", "user_id"))
    async with sessions() as session:
        with pytest.raises(ValueError, match=message):
            await no_tombstone.apply(session, KEY, at=T0, **kwargs)
        with pytest.raises(ValueError, match="timezone-aware"):
            await no_tombstone.apply(session, KEY, at=datetime(2026, 1, 1))
