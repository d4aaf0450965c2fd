"""Keyset pages over SQLAlchemy selects, written once: fetch one row more than the page, keep the page,
and turn the last row's sort key into the next page token (kit.pagination holds the tokens and cursors).

The service owns the list's rules (filters, order, the fingerprint of its query); the repository owns
the SQL; `page()` joins them:

    async with self._sessions() as session:
        result = await page(
            lambda after, limit: NotificationRepository(session).page(user_id, after=after, limit=limit),
            page_size=request.page_size,
            page_token=request.page_token,
            query=pagination.fingerprint("notifications", str(user_id), unread_only),
            cursor=(pagination.Timestamp(), pagination.Uuid()),
            key=lambda n: (n.create_time, n.id),
        )

and the repository orders and bounds its select with `keyset()`:

    statement = sa.select(Notification).where(Notification.user_id == user_id)
    statement = keyset(statement, (Notification.create_time, Notification.id), after=after, descending=True,
                       limit=limit)

The sort key must end in a unique column (the id), so the order is total and no row is skipped or
repeated across pages; every key expression must be NOT NULL (coalesce a nullable one, and map the
cursor's null to the same value, as task's "no due time" sorts as 'infinity').
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from kit import pagination

T = TypeVar("T")
# Any select — of rows or of entities (select(Chore)); keyset returns the same type it was given.
S = TypeVar("S", bound=sa.Select[*tuple[Any, ...]])
# A previous page's last sort key, each part in its Python type (decoded by kit.pagination.decode_cursor).
Cursor = tuple[Any, ...]
Fetch = Callable[[Cursor | None, int], Awaitable[Sequence[T]]]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    # "" on the last page (AIP-158)
    next_page_token: str


def _token_value(value: Any) -> Any:
    """A sort-key value as a page token holds it (what kit.pagination's cursor parts parse back)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a timestamp sort key must be timezone-aware")
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if value is None or isinstance(value, (str, int)):
        return value
    raise TypeError(f"cannot put a {type(value).__name__} in a page token")


def next_token(key: Sequence[Any], query: str) -> str:
    """The page token that continues after a row whose sort key is `key`."""
    return pagination.encode_token([_token_value(value) for value in key], query)


async def page(
    fetch: Fetch[T],
    *,
    page_size: int,
    page_token: str,
    query: str,
    cursor: Sequence[pagination.CursorPart],
    key: Callable[[T], Sequence[Any]],
) -> Page[T]:
    """One page of a keyset-paginated list.

    `fetch(after, limit)` returns up to `limit` rows in sort order strictly after the `after` key (None: from
    the start). `page_size` is the request's (0 → 50, capped at 200, negative refused); `page_token` is
    checked against `query` (the list's fingerprint) and decoded by the `cursor` parts, so a forged or foreign
    token is INVALID_ARGUMENT on `page_token`; `key(row)` is the row's sort key, in the cursor's order."""
    size = pagination.page_size(page_size)
    after = pagination.decode_cursor(page_token, query, cursor)
    rows = await fetch(after, size + 1)
    items = list(rows[:size])
    if len(rows) <= size:
        return Page(items, "")
    return Page(items, next_token(key(items[-1]), query))


def _bound(column: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[Any]:
    # Typed like its column, so the driver sends what the index compares (an untyped literal column takes the
    # value's own type; pass a SQL expression to bind something else, e.g. 'infinity').
    if isinstance(value, sa.ColumnElement):
        return value
    return sa.literal(value, column.type)


def after_key(
    order: Sequence[sa.ColumnElement[Any]], after: Cursor, *, descending: bool = False
) -> sa.ColumnElement[bool]:
    """The condition "strictly after `after` in `order`" as one row comparison, which PostgreSQL answers from
    an index on the same columns."""
    if len(order) != len(after):
        raise ValueError(f"a key of {len(after)} values for {len(order)} sort columns")
    current = sa.tuple_(*order)
    mark = sa.tuple_(*(_bound(column, value) for column, value in zip(order, after, strict=True)))
    return current < mark if descending else current > mark


def keyset(
    statement: S,
    order: Sequence[sa.ColumnElement[Any]],
    *,
    after: Cursor | None,
    limit: int,
    descending: bool = False,
) -> S:
    """`statement` ordered by `order` (all ascending or all descending), strictly after `after`, at most
    `limit` rows: the fetch a keyset page needs (never OFFSET)."""
    if after is not None:
        statement = statement.where(after_key(order, after, descending=descending))
    directions = [column.desc() if descending else column.asc() for column in order]
    return statement.order_by(*directions).limit(limit)


__all__ = ["Cursor", "Fetch", "Page", "after_key", "keyset", "next_token", "page"]
