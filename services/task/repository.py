"""SQL of the task service: chores (keyset-paginated, filtered, full-text searched), completions, away periods.
(What names a person across the tables, for erasure and export, is services.task.privacy's.)"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from kit import outbox
from kit.ids import new_id
from kit.repository import Cursor, keyset
from services.task import scheduling
from services.task.assignment import COUNTING, WINDOW, Assignment, AwayPeriod, Tally
from services.task.models import (
    ACTIVE,
    APPROVED,
    DUE_KEY_SQL,
    OUTCOME_MISSED,
    REJECTED,
    Away,
    CalendarFeed,
    Chore,
    Completion,
    Occurrence,
)

ChoreOrder = Literal["due_at", "created_at", "points", "title"]
# Where "no due time" (a done one-off chore) sorts: last. A cursor holds None for it (see `sort_value`).
_INFINITY: sa.ColumnElement[Any] = sa.literal_column("'infinity'::timestamp with time zone")

# Must be the very expression of ix_chores_household_id_state_due, so the planner uses that index; typed, so a
# cursor's due time is bound as a timestamp.
_DUE_KEY: sa.ColumnElement[Any] = sa.literal_column(
    DUE_KEY_SQL.replace("next_due_time", "chores.next_due_time"), sa.DateTime(timezone=True)
)


# Exactly what a Chore resource shows (converters.chore_row_to_proto), read as plain rows — no ORM instance per
# chore on the read paths (GetChore, ListChores). The JSONB columns come as their text, parsed once per distinct
# value by the converter; the other column names are the model's, so a row reads like a Chore.
RESOURCE_COLUMNS: tuple[sa.ColumnElement[Any], ...] = (
    Chore.id.expression,
    Chore.household_id.expression,
    Chore.title.expression,
    Chore.description.expression,
    Chore.category.expression,
    Chore.labels.expression,
    Chore.points.expression,
    Chore.estimated_minutes.expression,
    sa.cast(Chore.recurrence.expression, sa.Text).label("recurrence"),
    sa.cast(Chore.assignment.expression, sa.Text).label("assignment"),
    Chore.assignee_id.expression,
    Chore.reminders.expression,
    Chore.requires_photo.expression,
    Chore.requires_approval.expression,
    Chore.state.expression,
    Chore.creator_id.expression,
    Chore.next_due_time.expression,
    Chore.last_completion_time.expression,
    Chore.create_time.expression,
    Chore.update_time.expression,
    Chore.version.expression,
    sa.cast(Chore.subtasks.expression, sa.Text).label("subtasks"),
    sa.cast(Chore.ticks.expression, sa.Text).label("ticks"),
)
# A row of RESOURCE_COLUMNS.
ChoreRow = sa.Row[Any]

_chores = Chore.metadata.tables[Chore.__tablename__]
_completions = Completion.metadata.tables[Completion.__tablename__]
_occurrences = Occurrence.metadata.tables[Occurrence.__tablename__]
# Every column of a chore but the generated search vector (never loaded), JSONB decoded: a row of them is what
# `Chore(**row._mapping)` needs.
_CHORE_COLUMNS = tuple(column for column in _chores.c if column.name != "search")
# Built once: the write path's read of a chore under its row lock, as a plain row (no ORM unit of work).
_LOCKED = (
    sa.select(*_CHORE_COLUMNS)
    .where(_chores.c.id == sa.bindparam("chore_id"), _chores.c.household_id == sa.bindparam("household_id"))
    .with_for_update()
)

# What a completion changes on its chore (scheduling.complete's outcome, the version and the update time).
COMPLETION_CHANGES = (
    "next_due_time",
    "state",
    "assignee_id",
    "open_time",
    "last_completion_time",
    "version",
    "update_time",
)
_COMPLETION_NAMES = tuple(column.name for column in _completions.c)
# Built once: a completion, its chore's new schedule state and the chore.completed event, in one statement (one
# round trip). The two writes touch different tables, so the snapshot PostgreSQL runs them on is no concern.
# Built once: a locked chore's COMPLETION_CHANGES written back (skip, snooze, undo: the changes without a completion).
_WRITE_SCHEDULE = (
    sa.update(_chores)
    .where(_chores.c.id == sa.bindparam("chore_id"))
    .values({name: sa.bindparam(f"chore_{name}", type_=_chores.c[name].type) for name in COMPLETION_CHANGES})
)
_OCCURRENCE_NAMES = tuple(column.name for column in _occurrences.c)
# The ended occurrence's row goes in the same statement: its reference to the completion is checked at the end of
# the statement, when the completion row is there.
_RECORD_COMPLETION = outbox.with_event(
    sa.insert(_completions).values(
        {name: sa.bindparam(f"completion_{name}", type_=_completions.c[name].type) for name in _COMPLETION_NAMES}
    ),
    sa.update(_chores)
    .where(_chores.c.id == sa.bindparam("chore_id"))
    .values({name: sa.bindparam(f"chore_{name}", type_=_chores.c[name].type) for name in COMPLETION_CHANGES}),
    sa.insert(_occurrences).values(
        {name: sa.bindparam(f"occurrence_{name}", type_=_occurrences.c[name].type) for name in _OCCURRENCE_NAMES}
    ),
)


@dataclass(frozen=True)
class ChoreFilter:
    """Every condition is optional and they combine with AND; `states` is always applied."""

    states: Sequence[str]
    assignee_id: uuid.UUID | None = None
    category: str | None = None
    label: str | None = None
    # next_due_time >= due_after and < due_before
    due_after: datetime | None = None
    due_before: datetime | None = None
    # websearch syntax ("vacuum -stairs", "\"fix the tap\"", "dishes or laundry")
    query: str | None = None


def sort_key(order: ChoreOrder) -> sa.ColumnElement[Any]:
    columns: dict[ChoreOrder, sa.ColumnElement[Any]] = {
        "due_at": _DUE_KEY,
        "created_at": Chore.create_time.expression,
        "points": Chore.points.expression,
        "title": Chore.title.expression,
    }
    return columns[order]


def sort_value(chore: Chore | ChoreRow, order: ChoreOrder) -> Any:
    """`chore`'s value of the sort key `order` (None for no due time), as a keyset cursor holds it."""
    if order == "due_at":
        return chore.next_due_time
    if order == "created_at":
        return chore.create_time
    if order == "points":
        return chore.points
    return chore.title


class ChoreRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, chore: Chore) -> None:
        self._session.add(chore)

    async def get(self, household_id: uuid.UUID, chore_id: uuid.UUID, *, lock: bool = False) -> Chore | None:
        """The chore, only if it belongs to `household_id`; `lock` takes the row lock (FOR UPDATE)."""
        query = sa.select(Chore).where(Chore.id == chore_id, Chore.household_id == household_id)
        if lock:
            query = query.with_for_update()
        return (await self._session.scalars(query)).one_or_none()

    async def locked(self, household_id: uuid.UUID, chore_id: uuid.UUID) -> Chore | None:
        """The chore, only if it belongs to `household_id`, under its row lock (FOR UPDATE) — read as a plain row
        and returned as a transient Chore: what it holds is the caller's to change and write (see
        `CompletionRepository.record`); the session never flushes it."""
        connection = await self._session.connection()
        row = (await connection.execute(_LOCKED, {"chore_id": chore_id, "household_id": household_id})).one_or_none()
        return None if row is None else Chore(**row._mapping)

    async def write_schedule(self, chore: Chore) -> None:
        """Write back the COMPLETION_CHANGES of a chore `locked` read (its lock held by this transaction)."""
        params: dict[str, Any] = {f"chore_{name}": getattr(chore, name) for name in COMPLETION_CHANGES}
        params["chore_id"] = chore.id
        connection = await self._session.connection()
        await connection.execute(_WRITE_SCHEDULE, params)

    async def write_ticks(self, chore_id: uuid.UUID, ticks: dict[str, Any]) -> None:
        """Write back the ticks of a chore `locked` read (its lock held by this transaction)."""
        statement = sa.update(Chore).where(Chore.id == chore_id).values(ticks=ticks)
        await self._session.execute(statement.execution_options(synchronize_session=False))

    async def get_row(self, household_id: uuid.UUID, chore_id: uuid.UUID) -> ChoreRow | None:
        """The chore's RESOURCE_COLUMNS, only if it belongs to `household_id` (the read path of `get`)."""
        query = sa.select(*RESOURCE_COLUMNS).where(Chore.id == chore_id, Chore.household_id == household_id)
        return (await self._rows(query)).one_or_none()

    async def page(
        self,
        household_id: uuid.UUID,
        where: ChoreFilter,
        *,
        order: ChoreOrder,
        descending: bool,
        after: Cursor | None,
        limit: int,
    ) -> list[ChoreRow]:
        """One page of RESOURCE_COLUMNS rows in (sort key, id) order, strictly after the `after` cursor (sort
        value, id) — keyset, never OFFSET; a due time of None in the cursor is "no due time", which sorts last."""
        query = page_query(household_id, where, order=order, descending=descending, after=after, limit=limit)
        return list(await self._rows(query))

    async def agenda(
        self, user_id: uuid.UUID, *, until: datetime | None, after: Cursor | None, limit: int
    ) -> list[ChoreRow]:
        """The active chores assigned to `user_id` in any household, by (next due time, id), strictly after the
        `after` cursor: RESOURCE_COLUMNS rows (ix_chores_agenda)."""
        return list(await self._rows(agenda_query(user_id, until=until, after=after, limit=limit)))

    async def _rows(self, query: sa.Select[Any]) -> sa.CursorResult[Any]:
        """A Core select run on the session's connection (its transaction), past the ORM's result machinery:
        plain rows, none of the ORM's per-row loading."""
        connection = await self._session.connection()
        result: sa.CursorResult[Any] = await connection.execute(query)
        return result


def agenda_query(user_id: uuid.UUID, *, until: datetime | None, after: Cursor | None, limit: int) -> sa.Select[Any]:
    query = sa.select(*RESOURCE_COLUMNS).where(Chore.assignee_id == user_id, Chore.state == ACTIVE)
    if until is not None:
        query = query.where(Chore.next_due_time < until)
    return keyset(query, (Chore.next_due_time.expression, Chore.id.expression), after=after, limit=limit)


def page_query(
    household_id: uuid.UUID,
    where: ChoreFilter,
    *,
    order: ChoreOrder,
    descending: bool,
    after: Cursor | None,
    limit: int,
) -> sa.Select[Any]:
    query = sa.select(*RESOURCE_COLUMNS).where(Chore.household_id == household_id, Chore.state.in_(list(where.states)))
    if where.assignee_id is not None:
        query = query.where(Chore.assignee_id == where.assignee_id)
    if where.category is not None:
        query = query.where(Chore.category == where.category)
    if where.label is not None:
        query = query.where(Chore.labels.contains([where.label]))
    if where.due_after is not None:
        query = query.where(Chore.next_due_time >= where.due_after)
    if where.due_before is not None:
        query = query.where(Chore.next_due_time < where.due_before)
    if where.query is not None:
        query = query.where(Chore.search.bool_op("@@")(sa.func.websearch_to_tsquery("simple", where.query)))
    if after is not None and order == "due_at" and after[0] is None:
        after = (_INFINITY, *after[1:])
    return keyset(query, (sort_key(order), Chore.id.expression), after=after, limit=limit, descending=descending)


class CompletionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(
        self, completion: Completion, chore: Chore, occurrence: Occurrence, envelope: events_pb2.Envelope
    ) -> None:
        """Insert `completion` and the row of the `occurrence` it ended, write `chore`'s COMPLETION_CHANGES and
        `envelope`'s outbox row, and wake the outbox relay: one statement. `chore` is the one
        `ChoreRepository.locked` read, its lock held by this transaction."""
        params: dict[str, Any] = {f"completion_{name}": getattr(completion, name) for name in _COMPLETION_NAMES}
        params.update({f"chore_{name}": getattr(chore, name) for name in COMPLETION_CHANGES})
        params.update({f"occurrence_{name}": getattr(occurrence, name) for name in _OCCURRENCE_NAMES})
        params["chore_id"] = chore.id
        params.update(outbox.event_row(envelope))
        connection = await self._session.connection()
        await connection.execute(_RECORD_COMPLETION, params)

    async def get(self, household_id: uuid.UUID, completion_id: uuid.UUID, *, lock: bool = False) -> Completion | None:
        query = sa.select(Completion).where(Completion.id == completion_id, Completion.household_id == household_id)
        if lock:
            query = query.with_for_update()
        return (await self._session.scalars(query)).one_or_none()

    async def delete(self, completion: Completion) -> None:
        """Delete an undone completion (its occurrence row goes with it: ON DELETE CASCADE)."""
        await self._session.execute(sa.delete(Completion).where(Completion.id == completion.id))

    async def schedule_state(self, chore: Chore, due: datetime, assignment: Assignment) -> scheduling.ScheduleState:
        """The locked chore's schedule with its open occurrence due at `due` (what scheduling.complete takes)."""
        recurrence = scheduling.Recurrence.from_json(chore.recurrence)
        # Only an adaptive chore learns from its history: the newest few completions, one bounded query.
        history = (
            await self.recent_times(chore.household_id, chore.id, scheduling.ADAPTIVE_HISTORY)
            if recurrence.kind == "adaptive"
            else ()
        )
        return scheduling.ScheduleState(
            recurrence=recurrence,
            assignment=assignment,
            due=due,
            anchor=chore.anchor_time,
            assignee_id=chore.assignee_id,
            last_completion_time=chore.last_completion_time,
            history=history,
        )

    async def recent_times(self, household_id: uuid.UUID, chore_id: uuid.UUID, limit: int) -> tuple[datetime, ...]:
        """The complete times of the chore's newest `limit` completions (what an adaptive schedule learns from)."""
        query = (
            sa.select(Completion.complete_time)
            .where(
                Completion.household_id == household_id,
                Completion.chore_id == chore_id,
                Completion.status != REJECTED,  # what was not done is no interval to learn from
            )
            .order_by(Completion.complete_time.desc())
            .limit(limit)
        )
        return tuple(await self._session.scalars(query))

    async def page(
        self,
        household_id: uuid.UUID,
        chore_id: uuid.UUID | None,
        *,
        after: Cursor | None,
        limit: int,
        status: str | None = None,
    ) -> list[Completion]:
        """Newest first, of one chore or (chore_id None) of the whole household, strictly after the `after`
        cursor (complete time, id); only those of review `status` when given."""
        query: sa.Select[Any] = sa.select(Completion).where(Completion.household_id == household_id)
        if chore_id is not None:
            query = query.where(Completion.chore_id == chore_id)
        if status is not None:
            query = query.where(Completion.status == status)
        order = (Completion.complete_time.expression, Completion.id.expression)
        return list(await self._session.scalars(keyset(query, order, after=after, limit=limit, descending=True)))


def ended_occurrence(
    chore: Chore,
    *,
    due: datetime,
    outcome: str,
    completed_by: uuid.UUID | None,
    recorder_id: uuid.UUID | None,
    end_time: datetime,
    completion_id: uuid.UUID | None,
    now: datetime,
) -> Occurrence:
    """The row of `chore`'s open occurrence ending, made BEFORE the chore is changed: it keeps what an undo restores,
    and the version the change will leave."""
    return Occurrence(
        id=new_id(),
        household_id=chore.household_id,
        chore_id=chore.id,
        due_time=due,
        assignee_id=chore.assignee_id,
        outcome=outcome,
        completed_by=completed_by,
        recorder_id=recorder_id,
        end_time=end_time,
        completion_id=completion_id,
        prior_next_due_time=chore.next_due_time,
        prior_open_time=chore.open_time,
        prior_assignee_id=chore.assignee_id,
        prior_state=chore.state,
        prior_last_completion_time=chore.last_completion_time,
        after_version=chore.version + 1,
        create_time=now,
    )


class OccurrenceRepository:
    """The occurrences that ended (models.Occurrence): written with the change that ended them, read as history."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, occurrence: Occurrence) -> None:
        """Insert `occurrence` now (after its completion, which it references), past the ORM's unit of work."""
        connection = await self._session.connection()
        await connection.execute(
            sa.insert(_occurrences).values({column.name: getattr(occurrence, column.name) for column in _occurrences.c})
        )

    async def delete(self, occurrence: Occurrence) -> None:
        """Delete the row of an occurrence that is open again (a rejected completion reopened it)."""
        await self._session.execute(sa.delete(Occurrence).where(Occurrence.id == occurrence.id))

    async def carry(self, chore_id: uuid.UUID, version: int) -> None:
        """The chore moves from `version` to the next by a change that leaves its schedule alone (a claim, a tick): the
        occurrence that left `version` still describes the chore's schedule, so an undo or a rejection of its
        completion may still put it back (their "nothing changed since" is about the schedule)."""
        await self._session.execute(
            sa.update(Occurrence)
            .where(Occurrence.chore_id == chore_id, Occurrence.after_version == version)
            .values(after_version=version + 1)
        )

    async def missed(self, chore_id: uuid.UUID, due_time: datetime) -> bool:
        """Whether the chore's occurrence due at `due_time` has been marked missed (by the miss scan)."""
        found = await self._session.scalar(
            sa.select(sa.literal(True)).where(
                Occurrence.chore_id == chore_id, Occurrence.due_time == due_time, Occurrence.outcome == OUTCOME_MISSED
            )
        )
        return bool(found)

    async def of_completion(self, completion_id: uuid.UUID) -> Occurrence | None:
        query = sa.select(Occurrence).where(Occurrence.completion_id == completion_id)
        return (await self._session.scalars(query)).one_or_none()

    async def page(
        self, household_id: uuid.UUID, chore_id: uuid.UUID, *, after: Cursor | None, limit: int
    ) -> list[Occurrence]:
        """Newest first (by end time, id), strictly after the `after` cursor."""
        query: sa.Select[Any] = sa.select(Occurrence).where(
            Occurrence.household_id == household_id, Occurrence.chore_id == chore_id
        )
        order = (Occurrence.end_time.expression, Occurrence.id.expression)
        return list(await self._session.scalars(keyset(query, order, after=after, limit=limit, descending=True)))


class AwayRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def household(self, household_id: uuid.UUID) -> dict[uuid.UUID, AwayPeriod]:
        """The household's members who have an away period (not cleared), for `scheduling.is_away`/`available`."""
        rows = await self._session.execute(
            sa.select(Away.user_id, Away.start_time, Away.end_time).where(
                Away.household_id == household_id, Away.cleared_at.is_(None)
            )
        )
        return {user_id: AwayPeriod(start, end) for user_id, start, end in rows.all()}


class Tallies:
    """What an assignment strategy chooses by (`assignment.Tally`), each part read only when the strategy needs
    it, each a bounded query: the household's away periods (one row per member), and the last WINDOW's counts of
    the listed members only — by the chore's completions (ix_completions_chore_id_complete_time_id) or the
    household's (ix_completions_household_id_complete_time_id)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def tally(
        self, household_id: uuid.UUID, chore_id: uuid.UUID | None, assignment: Assignment, *, now: datetime
    ) -> Tally:
        """The tally of `assignment` for the chore `chore_id` (None: a chore not created yet, which has no
        history) as of `now`."""
        strategy, members = assignment.strategy, list(assignment.assignees)
        if strategy in ("fixed", "unassigned") or not members:
            return Tally()
        away = await AwayRepository(self._session).household(household_id)
        since = now - WINDOW
        counts: dict[uuid.UUID, int] = {}
        if strategy in COUNTING and (chore_id is not None or strategy == "least_points"):
            counts = await self._counts(household_id, chore_id, strategy, members, since)
        last = await self._last_completer(chore_id) if chore_id is not None and strategy != "least_points" else None
        return Tally(
            away=away,
            completed=counts if strategy == "least_completed" else {},
            assigned=counts if strategy == "least_assigned" else {},
            points=counts if strategy == "least_points" else {},
            last=last,
        )

    async def _counts(
        self,
        household_id: uuid.UUID,
        chore_id: uuid.UUID | None,
        strategy: str,
        members: list[uuid.UUID],
        since: datetime,
    ) -> dict[uuid.UUID, int]:
        who: sa.ColumnElement[Any] = Completion.completed_by.expression
        value: sa.ColumnElement[Any] = sa.func.count()
        scope: sa.ColumnElement[bool] = sa.and_(
            Completion.household_id == household_id, Completion.chore_id == chore_id
        )
        # A rejected completion never counts; a pending one counts as done (the rotation moved on when it was made)
        # but has earned no points yet.
        counted = Completion.status != REJECTED
        if strategy == "least_points":  # the household's points, not the chore's (see services.task.assignment)
            value, scope = sa.func.sum(Completion.points), Completion.household_id == household_id
            counted = Completion.status == APPROVED
        elif strategy == "least_assigned":
            who = Completion.assignee_id.expression
        rows = await self._session.execute(
            sa.select(who, value)
            .where(scope, counted, Completion.complete_time >= since, who.in_(members))
            .group_by(who)
        )
        return {member: int(total) for member, total in rows.all()}

    async def _last_completer(self, chore_id: uuid.UUID) -> uuid.UUID | None:
        latest: uuid.UUID | None = await self._session.scalar(
            sa.select(Completion.completed_by)
            .where(Completion.chore_id == chore_id, Completion.status != REJECTED)
            .order_by(Completion.complete_time.desc(), Completion.id.desc())
            .limit(1)
        )
        return latest


class CalendarFeedRepository:
    """Members' calendar feed tokens (their hashes) and the chores a feed shows."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def put(self, household_id: uuid.UUID, user_id: uuid.UUID, token_hash: bytes, now: datetime) -> None:
        """The member's feed, with this token from now on (an earlier token stops opening it)."""
        insert = postgresql.insert(CalendarFeed).values(
            household_id=household_id, user_id=user_id, token_hash=token_hash, create_time=now
        )
        await self._session.execute(
            insert.on_conflict_do_update(
                index_elements=[CalendarFeed.household_id, CalendarFeed.user_id],
                set_={"token_hash": insert.excluded.token_hash, "create_time": insert.excluded.create_time},
            )
        )

    async def delete(self, household_id: uuid.UUID, user_id: uuid.UUID) -> None:
        await self._session.execute(
            sa.delete(CalendarFeed).where(CalendarFeed.household_id == household_id, CalendarFeed.user_id == user_id)
        )

    async def delete_everywhere(
        self, *, user_id: uuid.UUID | None = None, household_id: uuid.UUID | None = None
    ) -> None:
        """Every feed of a person (user.deleted) or of a household (household.deleted)."""
        query = sa.delete(CalendarFeed)
        if user_id is not None:
            query = query.where(CalendarFeed.user_id == user_id)
        if household_id is not None:
            query = query.where(CalendarFeed.household_id == household_id)
        await self._session.execute(query)

    async def find(self, token_hash: bytes) -> CalendarFeed | None:
        query = sa.select(CalendarFeed).where(CalendarFeed.token_hash == token_hash)
        return (await self._session.scalars(query)).one_or_none()

    async def chores(self, household_id: uuid.UUID, limit: int) -> list[Chore]:
        """The household's active chores with a due time, soonest first, at most `limit`."""
        query = (
            sa.select(Chore)
            .where(Chore.household_id == household_id, Chore.state == ACTIVE, Chore.next_due_time.is_not(None))
            .order_by(Chore.next_due_time, Chore.id)
            .limit(limit)
        )
        return list(await self._session.scalars(query))
