"""The chore queries against a real, migrated database: keyset paging where due times are missing
(done one-off chores sort last), and every list order and filter is served by an index."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from kit.db import session_factory
from kit.ids import new_id
from services.task.models import ACTIVE, ARCHIVED, DONE, Chore
from services.task.repository import (
    ChoreFilter,
    ChoreOrder,
    ChoreRepository,
    agenda_query,
    page_query,
    sort_value,
)

SERVICE_DIR = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)


class Explain(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(Explain)
def _explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN " + compiler.process(element.statement, **kw)


@pytest.fixture
async def sessions(
    service_database: Callable[[str], Awaitable[str]],
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = await service_database("task")  # task's schema at head, cloned from its template
    engine = create_async_engine(url)
    yield session_factory(engine)
    await engine.dispose()


def chore(household_id: uuid.UUID, title: str, *, state: str = ACTIVE, due: datetime | None = None, **kw: Any) -> Chore:
    values: dict[str, Any] = {
        "description": "",
        "category": "",
        "labels": [],
        "points": 0,
        "recurrence": {"kind": "once"},
        "assignment": {"strategy": "unassigned"},
        "reminders": [],
        "requires_photo": False,
        "requires_approval": False,
        "creator_id": new_id(),
        "create_time": T0,
        "update_time": T0,
        "version": 1,
    }
    values.update(kw)
    return Chore(id=new_id(), household_id=household_id, title=title, state=state, next_due_time=due, **values)


async def all_pages(
    sessions: async_sessionmaker[AsyncSession],
    household_id: uuid.UUID,
    where: ChoreFilter,
    descending: bool = False,
) -> list[str]:
    order: ChoreOrder = "due_at"
    seen: list[str] = []
    after = None
    while True:
        async with sessions() as session:
            rows = await ChoreRepository(session).page(
                household_id, where, order=order, descending=descending, after=after, limit=1
            )
        if not rows:
            return seen
        seen.append(rows[0].title)
        # A cursor holds the due time, None for none (which sorts last).
        assert sort_value(rows[0], order) == rows[0].next_due_time
        after = (sort_value(rows[0], order), rows[0].id)


async def test_keyset_pages_over_chores_without_a_due_time(sessions: async_sessionmaker[AsyncSession]) -> None:
    home, other = new_id(), new_id()
    async with sessions() as session, session.begin():
        session.add_all(
            [
                chore(home, "done 1", state=DONE),
                chore(home, "archived late", state=ARCHIVED, due=T0 + timedelta(days=3)),
                chore(home, "done 2", state=DONE),
                chore(home, "archived early", state=ARCHIVED, due=T0 - timedelta(days=3)),
                chore(home, "done 3", state=DONE),
                chore(home, "active", due=T0),
                chore(other, "someone else's", state=DONE),
            ]
        )
    done_and_archived = ChoreFilter(states=(DONE, ARCHIVED))
    ascending = await all_pages(sessions, home, done_and_archived)
    assert ascending == ["archived early", "archived late", "done 1", "done 2", "done 3"]  # no due time: last
    assert await all_pages(sessions, home, done_and_archived, descending=True) == list(reversed(ascending))
    assert await all_pages(sessions, home, ChoreFilter(states=(ACTIVE,))) == ["active"]


async def test_every_list_order_and_filter_is_served_by_an_index(sessions: async_sessionmaker[AsyncSession]) -> None:
    home, someone = new_id(), new_id()
    rows = [
        chore(
            home,
            "unusual chore" if n % 500 == 0 else f"chore {n}",
            due=T0 + timedelta(hours=n),
            points=n % 7,
            labels=["rare"] if n % 500 == 0 else ["common"],
            category="garden" if n % 500 == 0 else "cleaning",
            assignee_id=someone if n % 500 == 0 else None,
        )
        for n in range(2000)
    ]
    async with sessions() as session, session.begin():
        session.add_all(rows)
    async with sessions() as session:
        await session.execute(sa.text("ANALYZE chores"))
        await session.commit()

    active = ChoreFilter(states=(ACTIVE,))
    orders: list[tuple[ChoreFilter, ChoreOrder, bool, tuple[Any, uuid.UUID] | None, str]] = [
        (active, "due_at", False, None, "ix_chores_household_id_state_due"),
        (active, "due_at", True, (T0, new_id()), "ix_chores_household_id_state_due"),
        (ChoreFilter(states=(DONE,)), "due_at", False, (None, new_id()), "ix_chores_household_id_state_due"),
        (active, "created_at", True, None, "ix_chores_household_id_state_create_time_id"),
        (active, "points", False, (3, new_id()), "ix_chores_household_id_state_points_id"),
        (active, "title", False, ("m", new_id()), "ix_chores_household_id_state_title_id"),
    ]
    filters = [
        (ChoreFilter(states=(ACTIVE,), label="rare"), "ix_chores_labels"),
        (ChoreFilter(states=(ACTIVE,), query="unusual"), "ix_chores_search"),
        # Either index on the assignee serves it (the agenda's holds a person's active chores of every household).
        (
            ChoreFilter(states=(ACTIVE,), assignee_id=someone),
            ("ix_chores_household_id_assignee_id_next_due_time", "ix_chores_agenda"),
        ),
        (ChoreFilter(states=(ACTIVE,), category="garden"), "ix_chores_household_id_category"),
    ]
    async with sessions() as session:

        async def plan(query: Any) -> str:
            return "\n".join(row[0] for row in await session.execute(Explain(query)))

        for where, order, descending, after, index in orders:
            explained = await plan(page_query(home, where, order=order, descending=descending, after=after, limit=50))
            assert index in explained, (order, explained)
            assert "Seq Scan" not in explained
            assert "Sort" not in explained  # the index delivers the order: no sort of the whole household
        for where, indexes in filters:
            explained = await plan(page_query(home, where, order="due_at", descending=False, after=None, limit=50))
            assert any(index in explained for index in ([indexes] if isinstance(indexes, str) else indexes)), (
                where,
                explained,
            )
            assert "Seq Scan" not in explained
        # A person's agenda across households (ChoreRepository.agenda), in its order, after a cursor.
        explained = await plan(agenda_query(someone, until=None, after=(T0, new_id()), limit=50))
        assert "ix_chores_agenda" in explained, explained
        assert "Sort" not in explained
