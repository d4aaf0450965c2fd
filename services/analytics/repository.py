"""SQL of the analytics service: the members read model, the completions and missed-occurrences fact tables, and
the aggregates."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, UUID, Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.projection import Projection
from services.analytics.models import (
    DELETED_USER,
    Completion,
    DeletedHousehold,
    ErasedUser,
    Member,
    MissedOccurrence,
    erasure_key,
)
from services.analytics.stats import Tally

# The members read model (fed by services.user.client.membership_mirror).
MEMBERS = Projection(Member.__table__, key=("household_id", "user_id"), tombstone="left_at")


def _erasure_aware_insert(table: sa.Table) -> Insert:
    """An INSERT of every column of `table` from bind parameters that also honours erasure: a row about a person
    since erased (their `erasure_key` in `erased_users`, bound as `user_key`) is recorded as DELETED_USER's, and
    one of a deleted household is not recorded at all. Built once per table: the consumer runs it for every
    event, and building an upsert costs more than running it."""
    values: dict[str, sa.ColumnElement[Any]] = {
        column.name: sa.bindparam(column.name, type_=column.type) for column in table.c
    }
    erased = sa.exists().where(ErasedUser.user_key == sa.bindparam("user_key", type_=BYTEA))
    values["user_id"] = sa.case((erased, sa.literal(DELETED_USER, UUID(as_uuid=True))), else_=values["user_id"])
    household_gone = sa.exists().where(DeletedHousehold.household_id == values["household_id"])
    rows = sa.select(*(value.label(name) for name, value in values.items())).where(~household_gone)
    return insert(table).from_select(list(values), rows)


def _upsert_completion() -> sa.Insert:
    """The same completion again (a redelivered or re-published event) overwrites it."""
    table = cast(sa.Table, Completion.__table__)
    stmt = _erasure_aware_insert(table)
    updates = {column.name: stmt.excluded[column.name] for column in table.c if column.name != "completion_id"}
    return stmt.on_conflict_do_update(index_elements=["completion_id"], set_=updates)


def _insert_miss() -> sa.Insert:
    """A missed occurrence is a fact that does not change: the same one again (redelivered, re-published) is
    ignored, which also keeps a row anonymised since as it is."""
    return _erasure_aware_insert(cast(sa.Table, MissedOccurrence.__table__)).on_conflict_do_nothing(
        index_elements=["occurrence_id"]
    )


_UPSERT_COMPLETION = _upsert_completion()
_INSERT_MISS = _insert_miss()


class MemberRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def current(self, household_id: uuid.UUID) -> list[Member]:
        """The household's members now, in the order they joined."""
        result = await self._session.scalars(
            sa.select(Member)
            .where(Member.household_id == household_id, Member.left_at.is_(None))
            .order_by(Member.joined_at.asc().nulls_last(), Member.user_id)
        )
        return list(result)


class CompletionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def upsert(self, values: dict[str, Any]) -> None:
        """Record a completion (`values`: every column); the same completion again (a redelivered or
        re-published event) overwrites it. A completion of an erased person is recorded as DELETED_USER's; one
        of a deleted household is dropped."""
        connection = await self._session.connection()
        await connection.execute(_UPSERT_COMPLETION, {**values, "user_key": erasure_key(values["user_id"])})

    async def forget(self, completion_id: uuid.UUID) -> None:
        """A completion that was undone: it counts for nobody any more (its points went back in the task ledger)."""
        await self._session.execute(sa.delete(Completion).where(Completion.completion_id == completion_id))

    async def tallies(self, household_id: uuid.UUID, start: datetime, end: datetime) -> dict[str, Tally]:
        """Per person (former members too): completions, on-time ones, points and minutes in `[start, end)`."""
        rows = await self._session.execute(
            sa.select(
                Completion.user_id,
                sa.func.count(),
                sa.func.count().filter(Completion.on_time),
                sa.func.coalesce(sa.func.sum(Completion.points), 0),
                sa.func.coalesce(sa.func.sum(Completion.estimated_minutes), 0),
            )
            .where(
                Completion.household_id == household_id,
                Completion.completed_at >= start,
                Completion.completed_at < end,
            )
            .group_by(Completion.user_id)
        )
        return {
            str(user_id): Tally(int(count), int(on_time), int(points), int(minutes))
            for user_id, count, on_time, points, minutes in rows.all()
        }

    async def active_days(self, household_id: uuid.UUID, time_zone: str) -> dict[str, set[date]]:
        """Per person, the calendar days (in `time_zone`, an IANA name) with at least one completion, ever."""
        day = sa.cast(sa.func.timezone(time_zone, Completion.completed_at), sa.Date)
        rows = await self._session.execute(
            sa.select(Completion.user_id, day).where(Completion.household_id == household_id).distinct()
        )
        days: dict[str, set[date]] = defaultdict(set)
        for user_id, value in rows.all():
            days[str(user_id)].add(value)
        return dict(days)


class MissRepository:
    """Missed occurrences (chore.overdue)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, values: dict[str, Any]) -> None:
        """Record a missed occurrence (`values`: every column; `user_id` None when nobody held it). Once per
        occurrence; one held by an erased person is recorded as DELETED_USER's, one of a deleted household dropped."""
        user_id = values["user_id"]
        key = erasure_key(user_id) if user_id is not None else None
        connection = await self._session.connection()
        await connection.execute(_INSERT_MISS, {**values, "user_key": key})

    async def counts(self, household_id: uuid.UUID, start: datetime, end: datetime) -> dict[str | None, int]:
        """Per person who held them (None: nobody; former members too), the misses due in `[start, end)` that
        stayed undone: a one-off chore keeps its due time when missed, so a completion of the same chore and due
        time (done late after all, and not undone) takes its miss out."""
        done_late = sa.exists().where(
            Completion.chore_id == MissedOccurrence.chore_id, Completion.due_at == MissedOccurrence.due_at
        )
        rows = await self._session.execute(
            sa.select(MissedOccurrence.user_id, sa.func.count())
            .where(
                MissedOccurrence.household_id == household_id,
                MissedOccurrence.due_at >= start,
                MissedOccurrence.due_at < end,
                ~done_late,
            )
            .group_by(MissedOccurrence.user_id)
        )
        return {str(user_id) if user_id is not None else None: int(count) for user_id, count in rows.all()}
