"""Read models fed by events: one row per key, where the newest event wins — with tombstones.

Events reach a consumer at least once and in no guaranteed order across streams (a member.updated may be
handled before the member.joined it follows). A projection row therefore keeps the time of the newest event
applied to it (`as_of`) and each `apply` is one upsert whose outcome does not depend on arrival order:

- an event newer than the row (or as new) overwrites every column it speaks about;
- an older event only fills columns no event has spoken about yet (still NULL), and changes nothing else;
- a removal is a tombstone (`tombstone` column set to the event's time), not a DELETE, so an older event
  arriving late cannot resurrect the row; a newer non-removal clears it (e.g. a member who re-joins);
- `as_of` only moves forward.
Applying the same event twice is a no-op, so redelivery is harmless even without the consumer's inbox.

Value columns other than the key must be nullable: NULL is "no event has said yet".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession


class Projection:
    def __init__(
        self, table: sa.FromClause, *, key: Sequence[str], as_of: str = "as_of", tombstone: str | None = None
    ) -> None:
        # A model's __table__ is typed FromClause; a projection needs a real table to upsert into.
        self._table = cast(sa.Table, table)
        self._key = tuple(key)
        self._as_of = as_of
        self._tombstone = tombstone
        for column in (*self._key, as_of, *([tombstone] if tombstone else [])):
            if column not in self._table.c:
                raise ValueError(f"{self._table.name} has no column {column!r}")

    async def apply(
        self,
        session: AsyncSession,
        key: Mapping[str, Any],
        *,
        at: datetime,
        values: Mapping[str, Any] | None = None,
        removed: bool = False,
    ) -> None:
        """Apply what one event says about the row `key`, as of `at` (the event's time)."""
        if set(key) != set(self._key):
            raise ValueError(f"key must name exactly {self._key}")
        values = dict(values or {})
        if removed and self._tombstone is None:
            raise ValueError(f"{self._table.name} has no tombstone column")
        table = self._table
        row: dict[str, Any] = {**key, **values, self._as_of: at}
        if self._tombstone is not None:
            row[self._tombstone] = at if removed else None
        stmt = insert(table).values(row)
        new = stmt.excluded
        newer = new[self._as_of] >= table.c[self._as_of]
        updates: dict[str, Any] = {
            name: sa.case((sa.or_(newer, table.c[name].is_(None)), new[name]), else_=table.c[name]) for name in values
        }
        updates[self._as_of] = sa.func.greatest(table.c[self._as_of], new[self._as_of])
        if self._tombstone is not None:
            updates[self._tombstone] = sa.case((newer, new[self._tombstone]), else_=table.c[self._tombstone])
        await session.execute(stmt.on_conflict_do_update(index_elements=list(self._key), set_=updates))


__all__ = ["Projection"]
