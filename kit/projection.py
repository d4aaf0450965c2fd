"""Read models fed by events: one row per key, where the newest event wins — field by field, with tombstones.

Events reach a consumer at least once and in no guaranteed order across streams (a member.updated may be
handled before the member.joined it follows, a member.left before a role change that happened earlier). So
"newest wins" must hold per field, not per row: a row keeps, in its `versions` JSONB column, the time of the
event that last set each field, and each `apply` is one upsert whose outcome does not depend on arrival order:

- each field the event speaks about takes the event's value if the event is as new as (or newer than) the
  one that set that field, and keeps its value otherwise — so an older event still fills a field no newer
  event has spoken about, and never overwrites one that a newer event set;
- a removal is a tombstone (the `tombstone` column set to the event's time), not a DELETE, so a late older
  event cannot resurrect the row; every other event speaks about the tombstone too (as "present"), so a newer
  one clears it (a member who re-joins) and an older one does not;
- `as_of` is the time of the newest event applied to the row (it only moves forward).
Applying the same event twice is a no-op, so redelivery is harmless even without the consumer's inbox.
"Newest" is by the events' `occurred_at`, the clock of the producing replica. Two events about one field with
the very same time go to the one applied last; and with several producer replicas, clock skew larger than the
time between two changes of one row (a member who leaves and re-joins within the skew) can order them wrongly.
Where that matters, carry a version from the producer's database in the payload and project on it instead.

The table needs, beside its key and fields: `as_of timestamptz NOT NULL`, `versions jsonb NOT NULL DEFAULT
'{}'`, and (for removals) a nullable tombstone timestamp column. Fields not yet spoken about hold their
insert value: make them nullable where "not known yet" must be told apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, insert
from sqlalchemy.ext.asyncio import AsyncSession

VERSIONS = "versions"
_TIME = TIMESTAMP(timezone=True)


class Projection:
    def __init__(
        self, table: sa.FromClause, *, key: Sequence[str], as_of: str = "as_of", tombstone: str | None = None
    ) -> None:
        # A model's __table__ is typed FromClause; a projection needs a real table to upsert into.
        self._table = cast(sa.Table, table)
        self._key = tuple(key)
        self._as_of = as_of
        self._tombstone = tombstone
        for column in (*self._key, as_of, VERSIONS, *([tombstone] if tombstone else [])):
            if column not in self._table.c:
                raise ValueError(f"{self._table.name} has no column {column!r}")

    def has_field(self, name: str) -> bool:
        return name in self._table.c and name not in (*self._key, self._as_of, VERSIONS)

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
        if at.tzinfo is None:
            raise ValueError("an event time must be timezone-aware")
        fields = dict(values or {})
        if self._tombstone is not None:
            fields[self._tombstone] = at if removed else None
        elif removed:
            raise ValueError(f"{self._table.name} has no tombstone column")
        for name in fields:
            if name in self._key or name in (self._as_of, VERSIONS) or name not in self._table.c:
                raise ValueError(f"{name!r} is not a field of {self._table.name}")
        table = self._table
        stmt = insert(table).values(
            {**key, **fields, self._as_of: at, VERSIONS: {name: at.isoformat() for name in fields}}
        )
        event_time = stmt.excluded[self._as_of]
        versions = table.c[VERSIONS]
        updates: dict[str, Any] = {}
        stamps: list[Any] = []
        for name in fields:
            # The time of the event that set this field; none yet: any event may.
            set_at = sa.func.coalesce(versions[name].astext.cast(_TIME), sa.literal("-infinity").cast(_TIME))
            newer = event_time >= set_at
            updates[name] = sa.case((newer, stmt.excluded[name]), else_=table.c[name])
            stamps += [name, sa.case((newer, sa.func.to_jsonb(event_time)), else_=versions[name])]
        updates[VERSIONS] = versions.op("||")(sa.func.jsonb_build_object(*stamps).cast(JSONB))
        updates[self._as_of] = sa.func.greatest(table.c[self._as_of], event_time)
        await session.execute(stmt.on_conflict_do_update(index_elements=list(self._key), set_=updates))


def versions_column() -> sa.Column[Any]:
    """The `versions` column a projection table needs (for models and migrations alike)."""
    return sa.Column(VERSIONS, JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))


__all__ = ["VERSIONS", "Projection", "versions_column"]
