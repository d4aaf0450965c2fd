"""kit.repository: keyset pages against real PostgreSQL — every row once, in order, whatever the page size."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kit import pagination
from kit.db import create_engine, session_factory
from kit.errors import InvalidArgument
from kit.ids import new_id
from kit.repository import Cursor, Page, after_key, keyset, next_token, page

metadata = sa.MetaData()
items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("household", sa.Text, nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.Column("points", sa.Integer, nullable=False),
    sa.Column("due", sa.DateTime(timezone=True), nullable=True),
)
# A nullable column sorts through an expression that is never null ("no due time" last), as task's chores do.
DUE_KEY = sa.func.coalesce(items.c.due, sa.literal_column("'infinity'::timestamptz", sa.DateTime(timezone=True)))
INFINITY = sa.literal_column("'infinity'::timestamptz", sa.DateTime(timezone=True))

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
QUERY = pagination.fingerprint("items", "h1")
BY_CREATED: Sequence[pagination.CursorPart] = (pagination.Timestamp(), pagination.Uuid())
BY_POINTS: Sequence[pagination.CursorPart] = (pagination.Integer(), pagination.Uuid())
BY_DUE: Sequence[pagination.CursorPart] = (pagination.Timestamp(nullable=True), pagination.Uuid())


@pytest.fixture
async def session(fresh_database: Any) -> AsyncIterator[AsyncSession]:
    engine = create_engine(await fresh_database("kit_repository"), pool_size=2)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with session_factory(engine)() as s:
        yield s
    await engine.dispose()


async def add(session: AsyncSession, count: int, *, household: str = "h1", points: int | None = None) -> None:
    """`count` rows, created a minute apart; points repeat (0, 1, 2, 0, …) so sort keys tie."""
    start = await session.scalar(sa.select(sa.func.count()).select_from(items)) or 0
    rows = [
        {
            "id": new_id(),
            "household": household,
            "created": T0 + timedelta(minutes=start + n),
            "points": (start + n) % 3 if points is None else points,
            "due": None if (start + n) % 4 == 0 else T0 + timedelta(days=(start + n) % 5),
        }
        for n in range(count)
    ]
    if rows:
        await session.execute(sa.insert(items), rows)
    await session.commit()


def by_created(session: AsyncSession, *, descending: bool = False) -> Any:
    async def fetch(after: Cursor | None, limit: int) -> Sequence[sa.Row[Any]]:
        statement = sa.select(items).where(items.c.household == "h1")
        statement = keyset(statement, (items.c.created, items.c.id), after=after, limit=limit, descending=descending)
        return (await session.execute(statement)).all()

    return fetch


async def walk(fetch: Any, *, size: int, cursor: Sequence[pagination.CursorPart], key: Any) -> list[list[Any]]:
    """Every page of a list, following the tokens until the last page."""
    pages: list[list[Any]] = []
    token = ""
    while True:
        result = await page(fetch, page_size=size, page_token=token, query=QUERY, cursor=cursor, key=key)
        pages.append(result.items)
        token = result.next_page_token
        if not token:
            return pages
        assert len(pages) < 1000, "the tokens never end"


def created_key(row: Any) -> tuple[datetime, uuid.UUID]:
    return row.created, row.id


async def all_rows(session: AsyncSession, *order: Any) -> list[Any]:
    return list((await session.execute(sa.select(items).where(items.c.household == "h1").order_by(*order))).all())


@pytest.mark.parametrize("size", [1, 2, 3, 7, 10, 11])
async def test_walking_the_pages_yields_every_row_once_in_order(session: AsyncSession, size: int) -> None:
    await add(session, 10)
    await add(session, 3, household="h2")  # another list's rows stay out
    pages = await walk(by_created(session), size=size, cursor=BY_CREATED, key=created_key)
    assert [row.id for p in pages for row in p] == [row.id for row in await all_rows(session, items.c.created)]
    assert all(len(p) == size for p in pages[:-1])
    assert 1 <= len(pages[-1]) <= size
    assert len(pages) == -(-10 // size)


async def test_descending_pages_go_newest_first(session: AsyncSession) -> None:
    await add(session, 7)
    pages = await walk(by_created(session, descending=True), size=3, cursor=BY_CREATED, key=created_key)
    expected = await all_rows(session, items.c.created.desc())
    assert [[row.id for row in p] for p in pages] == [
        [row.id for row in expected[0:3]],
        [row.id for row in expected[3:6]],
        [row.id for row in expected[6:7]],
    ]


async def test_ties_on_the_sort_value_are_broken_by_the_id(session: AsyncSession) -> None:
    await add(session, 12)  # points 0, 1, 2 four times each

    async def fetch(after: Cursor | None, limit: int) -> Sequence[sa.Row[Any]]:
        statement = keyset(sa.select(items), (items.c.points, items.c.id), after=after, limit=limit)
        return (await session.execute(statement)).all()

    pages = await walk(fetch, size=5, cursor=BY_POINTS, key=lambda row: (row.points, row.id))
    assert [row.id for p in pages for row in p] == [
        row.id for row in await all_rows(session, items.c.points, items.c.id)
    ]


async def test_a_nullable_sort_value_pages_through_a_never_null_expression(session: AsyncSession) -> None:
    await add(session, 9)  # every fourth has no due time: sorts last, its token holds null

    async def fetch(after: Cursor | None, limit: int) -> Sequence[sa.Row[Any]]:
        bound = None if after is None else (INFINITY if after[0] is None else after[0], after[1])
        statement = keyset(sa.select(items), (DUE_KEY, items.c.id), after=bound, limit=limit)
        return (await session.execute(statement)).all()

    pages = await walk(fetch, size=2, cursor=BY_DUE, key=lambda row: (row.due, row.id))
    expected = await all_rows(session, DUE_KEY, items.c.id)
    assert [row.id for p in pages for row in p] == [row.id for row in expected]
    assert expected[-1].due is None


async def test_the_last_page_has_no_token_even_when_it_is_full(session: AsyncSession) -> None:
    await add(session, 6)
    first = await page(by_created(session), page_size=3, page_token="", query=QUERY, cursor=BY_CREATED, key=created_key)
    assert first.next_page_token
    second = await page(
        by_created(session),
        page_size=3,
        page_token=first.next_page_token,
        query=QUERY,
        cursor=BY_CREATED,
        key=created_key,
    )
    assert len(second.items) == 3
    assert second.next_page_token == ""


async def test_an_empty_list_is_one_empty_page(session: AsyncSession) -> None:
    result = await page(
        by_created(session), page_size=0, page_token="", query=QUERY, cursor=BY_CREATED, key=created_key
    )
    assert result == Page([], "")


async def test_fetch_is_asked_for_one_row_more_than_the_page_with_a_typed_cursor(session: AsyncSession) -> None:
    await add(session, 5)
    calls: list[tuple[Cursor | None, int]] = []
    inner = by_created(session)

    async def fetch(after: Cursor | None, limit: int) -> Sequence[sa.Row[Any]]:
        calls.append((after, limit))
        return await inner(after, limit)  # type: ignore[no-any-return]

    first = await page(fetch, page_size=2, page_token="", query=QUERY, cursor=BY_CREATED, key=created_key)
    await page(fetch, page_size=2, page_token=first.next_page_token, query=QUERY, cursor=BY_CREATED, key=created_key)
    assert calls[0] == (None, 3)
    after, limit = calls[1]
    assert limit == 3
    assert after == (first.items[-1].created, first.items[-1].id)
    assert isinstance(after[0], datetime)
    assert isinstance(after[1], uuid.UUID)


async def test_page_size_defaults_to_50_and_is_capped_at_200(session: AsyncSession) -> None:
    await add(session, 205)
    default = await page(
        by_created(session), page_size=0, page_token="", query=QUERY, cursor=BY_CREATED, key=created_key
    )
    capped = await page(
        by_created(session), page_size=1000, page_token="", query=QUERY, cursor=BY_CREATED, key=created_key
    )
    assert len(default.items) == 50
    assert len(capped.items) == 200
    assert capped.next_page_token


async def test_a_negative_page_size_is_refused(session: AsyncSession) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await page(by_created(session), page_size=-1, page_token="", query=QUERY, cursor=BY_CREATED, key=created_key)
    assert [v.field for v in raised.value.violations] == ["page_size"]


async def test_a_token_of_another_query_is_refused(session: AsyncSession) -> None:
    await add(session, 3)
    first = await page(by_created(session), page_size=1, page_token="", query=QUERY, cursor=BY_CREATED, key=created_key)
    other = pagination.fingerprint("items", "h2")
    with pytest.raises(InvalidArgument) as raised:
        await page(
            by_created(session),
            page_size=1,
            page_token=first.next_page_token,
            query=other,
            cursor=BY_CREATED,
            key=created_key,
        )
    assert [v.field for v in raised.value.violations] == ["page_token"]


@pytest.mark.parametrize(
    "key",
    [["not a time", str(uuid.uuid4())], ["2026-03-01T08:00:00+00:00", "not a uuid"], ["0001-01-01T00:00:00+00:00"]],
)
async def test_a_forged_token_is_refused_before_any_query(session: AsyncSession, key: list[Any]) -> None:
    fetched: list[int] = []

    async def fetch(after: Cursor | None, limit: int) -> Sequence[Any]:
        fetched.append(limit)
        return []

    with pytest.raises(InvalidArgument) as raised:
        await page(
            fetch,
            page_size=1,
            page_token=pagination.encode_token(key, QUERY),
            query=QUERY,
            cursor=BY_CREATED,
            key=created_key,
        )
    assert [v.field for v in raised.value.violations] == ["page_token"]
    assert fetched == []


async def test_rows_added_behind_the_cursor_neither_repeat_nor_shift_the_next_page(session: AsyncSession) -> None:
    await add(session, 4)
    first = await page(by_created(session), page_size=2, page_token="", query=QUERY, cursor=BY_CREATED, key=created_key)
    # A row that sorts before the cursor (OFFSET would repeat one row for it) and one after everything.
    early = new_id()
    await session.execute(
        sa.insert(items).values(id=early, household="h1", created=T0 - timedelta(days=1), points=0, due=None)
    )
    await session.commit()
    await add(session, 1)
    rest = await walk(by_created(session), size=2, cursor=BY_CREATED, key=created_key)
    second = await page(
        by_created(session),
        page_size=10,
        page_token=first.next_page_token,
        query=QUERY,
        cursor=BY_CREATED,
        key=created_key,
    )
    seen_first = [row.id for row in first.items]
    assert early not in [row.id for row in second.items]
    assert not set(seen_first) & {row.id for row in second.items}
    assert len(second.items) == 3  # the two after the cursor, and the one added after everything
    assert rest[0][0].id == early  # a fresh walk starts with it


async def test_rows_of_several_entities_page_like_one(session: AsyncSession) -> None:
    # A select of (row, extra column), as user's households come with the caller's role.
    await add(session, 5)
    label = sa.literal("owner").label("role")

    async def fetch(after: Cursor | None, limit: int) -> Sequence[sa.Row[Any]]:
        statement = keyset(
            sa.select(items.c.id, items.c.created, label), (items.c.created, items.c.id), after=after, limit=limit
        )
        return (await session.execute(statement)).all()

    pages = await walk(fetch, size=2, cursor=BY_CREATED, key=lambda row: (row.created, row.id))
    assert [len(p) for p in pages] == [2, 2, 1]
    assert {row.role for p in pages for row in p} == {"owner"}


# --- the pieces ----------------------------------------------------------------------------------------


def test_next_token_holds_iso_times_and_uuid_strings() -> None:
    row_id = uuid.UUID("0190f0a2-7c1e-7000-8000-000000000001")
    token = next_token((T0, row_id), QUERY)
    assert pagination.decode_token(token, QUERY) == ["2026-03-01T08:00:00+00:00", str(row_id)]
    assert pagination.decode_cursor(token, QUERY, BY_CREATED) == (T0, row_id)


def test_next_token_keeps_ints_texts_and_nulls() -> None:
    token = next_token((7, "Vacuum", None), QUERY)
    assert pagination.decode_token(token, QUERY) == [7, "Vacuum", None]


def test_next_token_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_token((datetime(2026, 3, 1),), QUERY)


def test_next_token_refuses_what_no_cursor_part_reads() -> None:
    with pytest.raises(TypeError, match="float"):
        next_token((1.5,), QUERY)


def test_after_key_needs_one_value_per_column() -> None:
    with pytest.raises(ValueError, match="2 sort columns"):
        after_key((items.c.created, items.c.id), (T0,))


def test_after_key_compares_the_row_as_a_whole() -> None:
    ascending = str(after_key((items.c.created, items.c.id), (T0, uuid.uuid4())).compile())
    descending = str(after_key((items.c.created, items.c.id), (T0, uuid.uuid4()), descending=True).compile())
    assert "(items.created, items.id) >" in ascending
    assert "(items.created, items.id) <" in descending
