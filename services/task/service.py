"""Use cases of the task service: chores and their completions — transactions, authorization, idempotency
and the outbox. The rules they apply live beside them, pure: `validation` (what a request may hold),
`scheduling` (what a completion changes), `events` (the payloads). They take ids: the servicer has read
the resource names.

Authorization (through the user service, cached): any member of a household reads its chores; owners,
admins and members create, update and archive them (a child gets PERMISSION_DENIED); an outsider gets
NOT_FOUND for everything in the household, chore ids of another household included. Adults complete
any chore, and may record a completion for another member; a child completes only the chores assigned
to them, as themselves. Adults skip and snooze (a child gets PERMISSION_DENIED); adults undo any completion,
everyone else only one they did or recorded (the lifecycle: scheduling's module docstring).

ListChores `status` (times in the household's time zone):
- "" (default): every active chore (not done, not archived);
- "overdue": active and next_due_time < now;
- "due": active and due before the end of today (so overdue ones are "due" too);
- "upcoming": active and due tomorrow or later (the complement of "due");
- "archived": archived chores; "done": one-off chores that have been done.
`due_after` is inclusive, `due_before` exclusive. `query` is PostgreSQL full-text search (websearch
syntax, 'simple' configuration) over title and description.

Archived chores cannot be completed or updated (FAILED_PRECONDITION, reason GONE); nor can a one-off
chore that is already done. A recurring chore's next occurrence cannot be completed before it opens
(FAILED_PRECONDITION, reason NOT_DUE_YET, REST 409 `not_due_yet`: the window is scheduling's), checked after a
retry is recognised, so a replayed request_id still gets its first answer. Archiving twice is a no-op.

UpdateChore merges nested update_mask paths (`assignment.grace_minutes`, `recurrence.weekly.days`,
`recurrence.rolling`: validation.merged) into the stored recurrence and assignment: it reads the chore, merges,
validates (assignees asked of the user service, no lock held), then locks it and writes only if its version is still
the one merged into (else it merges again, up to _MERGE_ATTEMPTS times, then ABORTED). A recurrence of another kind
replaces the stored one whole.

ClaimChore: any member (a child too) takes a chore nobody holds; ABORTED when someone else holds it, unchanged when
the caller does. TickSubtask: whoever may complete the chore ticks its subtasks for the open occurrence
(services.task.subtasks). A chore's category name makes its category when new (services.task.categories.ensure).

Review (chores with `requires_approval`): a completion a child records is PENDING — the occurrence ends and the
schedule moves on as for any completion, but it earns no points and is no chore.completed yet (CompleteChore writes
completion.submitted instead); an adult approves it (its points are booked, chore.completed and completion.approved
are written) or rejects it (completion.rejected; it never counts, and the occurrence opens again if nothing changed
the chore since, else it stays ended as missed). A completion an adult records is approved at once: adults are the
approvers. ListCompletions `status=PENDING` is what waits for approval.

Events, each in the transaction of its change: CreateChore writes chore.created, CompleteChore chore.completed
(completion.submitted when pending), UpdateChore chore.updated (naming the fields whose values changed; none when
no value did) and DeleteChore chore.archived (not again when the chore is already archived); SkipChore
chore.skipped, SnoozeChore chore.snoozed, DeleteCompletion (undo) completion.undone, ApproveCompletion
chore.completed and completion.approved, RejectCompletion completion.rejected, ClaimChore chore.assigned (a new
category: category.created). CompleteChore and SkipChore also write the ended occurrence's row (models.Occurrence)
in their transaction.

Assignment (services.task.assignment): CreateChore, UpdateChore (when it sets the assignment: the rotation goes on
from the current assignee) and CompleteChore choose the assignee from what `repository.Tallies` reads in the same
transaction — nothing for fixed and unassigned chores, else the away periods and the listed members' 30-day counts;
a completion counts itself in. Each completion records who held its occurrence (`Completion.assignee_id`).

A completion may be dated up to 5 minutes ahead (clock skew) and back to one day before the chore was
created or its schedule started, whichever is earlier (logged the day after is normal; older is not, or a
late completion could be made on time). Every timestamp a client sends lies in 1900..2200 UTC
(kit.timestamps.EARLIEST..LATEST).

Request ids (kit.idempotency, AIP-155) are the caller's own — CreateChore's the creator's, CompleteChore's the
recorder's — and kept 24 h: a retry with the same request_id gets the first result (and writes no second
event); the same id with a different request (another household, chore or body) is INVALID_ARGUMENT on
request_id. A retry is recognised after the request is validated and, for a completion, after the chore is
locked and the caller's right to complete it checked.
"""

from __future__ import annotations

import asyncio
import copy
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import idempotency, pagination, timestamps
from kit.db import utcnow
from kit.errors import (
    Conflict,
    FieldViolation,
    Gone,
    HearthError,
    NotDueYet,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    invalid,
)
from kit.ids import new_id
from kit.outbox import add_event, new_envelope
from kit.repository import Cursor, Page, page
from kit.validation import Violations, caller_id
from services.task import assignment as assigning
from services.task import categories, events, photos, points, scheduling, subtasks, validation
from services.task.inputs import ME, ChoreInput, ChoreUpdate, CompleteInput, ListChoresQuery, PhotoRef
from services.task.lists import ChoreLists
from services.task.models import (
    ACTIVE,
    APPROVED,
    ARCHIVED,
    COMPLETION_POINTS,
    DONE,
    OUTCOME_DONE,
    OUTCOME_MISSED,
    OUTCOME_SKIPPED,
    PENDING,
    REJECTED,
    UNDO,
    Chore,
    Completion,
    Occurrence,
    etag_of,
)
from services.task.repository import (
    ChoreOrder,
    ChoreRepository,
    ChoreRow,
    CompletionRepository,
    OccurrenceRepository,
    Tallies,
    ended_occurrence,
    sort_value,
)
from services.task.validation import UPDATABLE, zone
from services.user.client import PERMISSIONS, MembershipClient

# The kind of each sort value a page token holds (with the chore id after it); a forged token whose values
# do not fit is INVALID_ARGUMENT, never a value PostgreSQL or the driver chokes on.
_CHORE_CURSOR: dict[ChoreOrder, Sequence[pagination.CursorPart]] = {
    # null: no due time (a done one-off chore), which sorts last
    "due_at": (pagination.Timestamp(nullable=True), pagination.Uuid()),
    "created_at": (pagination.Timestamp(), pagination.Uuid()),
    "points": (pagination.Integer(), pagination.Uuid()),
    "title": (pagination.Text(), pagination.Uuid()),
}
_COMPLETION_CURSOR: Sequence[pagination.CursorPart] = (pagination.Timestamp(), pagination.Uuid())
# An agenda shows active chores only, and an active chore always has a due time.
_AGENDA_CURSOR: Sequence[pagination.CursorPart] = (pagination.Timestamp(), pagination.Uuid())
# The most chores one BatchCreateChores may hold.
BATCH_LIMIT = 500
# How often an update merging into the stored recurrence/assignment reads again when the chore changed in between.
_MERGE_ATTEMPTS = 3
# A row of a chore's history (a completion, an occurrence).
_Row = TypeVar("_Row")


@dataclass(frozen=True)
class CompleteResult:
    completion: Completion
    chore: Chore


def _updatable_values(chore: Chore) -> dict[str, Any]:
    """The chore's updatable fields (each a column of the same name), copied, to tell what an update changed."""
    return {path: copy.deepcopy(getattr(chore, path)) for path in UPDATABLE}


def _new_subtasks(
    sent: Sequence[tuple[uuid.UUID | None, str]], existing: Sequence[Mapping[str, str]]
) -> list[dict[str, str]]:
    """The chore's new subtask list (subtasks.replaced); INVALID_ARGUMENT naming each id the chore does not have."""
    items, unknown = subtasks.replaced(sent, existing)
    with Violations() as errors:
        for index in unknown:
            errors.add(f"subtasks[{index}].id", "is not a subtask of this chore")
    return items


def _annotate(household_id: uuid.UUID, chore_id: uuid.UUID | None = None) -> None:
    """Domain attributes on the RPC's span, so traces can be searched by household and chore."""
    span = trace.get_current_span()
    span.set_attribute("hearth.household_id", str(household_id))
    if chore_id is not None:
        span.set_attribute("hearth.chore_id", str(chore_id))


def _reschedule(chore: Chore, changes: validation.Changes, now: datetime, tz: tzinfo) -> None:
    """A new schedule (or a new due time) starts counting afresh; a done one-off chore comes back."""
    start = changes.next_due_time or chore.next_due_time or now
    recurrence = scheduling.Recurrence.from_json(chore.recurrence)
    due = scheduling.first_due(recurrence, start=start, tz=tz)
    if due is None:
        raise validation.never_due(recurrence)
    chore.anchor_time = start
    chore.next_due_time = due
    chore.open_time = None  # a new schedule's first occurrence is open at once
    chore.state = ACTIVE


def _counting(
    tally: assigning.Tally, *, completed_by: uuid.UUID, assignee_id: uuid.UUID | None, points: int
) -> assigning.Tally:
    """`tally` (read before the completion is written) with the completion being made counted in, and its doer as
    the last completer: the next assignee is chosen as if it were already recorded."""

    def plus(counts: Mapping[uuid.UUID, int], member: uuid.UUID | None, amount: int) -> dict[uuid.UUID, int]:
        counted = dict(counts)
        if member is not None:
            counted[member] = counted.get(member, 0) + amount
        return counted

    return replace(
        tally,
        completed=plus(tally.completed, completed_by, 1),
        assigned=plus(tally.assigned, assignee_id, 1),
        points=plus(tally.points, completed_by, points),
        last=completed_by,
    )


def _open_occurrence(chore: Chore, now: datetime) -> datetime:
    """The due time of the chore's open occurrence, once it may be ended at `now` (else GONE / NOT_DUE_YET)."""
    if chore.state == ARCHIVED:
        raise Gone("the chore is archived")
    if chore.state == DONE or chore.next_due_time is None:
        raise Gone("this one-off chore is already done")
    if not scheduling.is_open(chore.open_time, now):
        raise NotDueYet("the next occurrence of this chore is not open yet")
    return chore.next_due_time


class _Stale(Exception):
    """UpdateChore's merge read a version of the chore that changed before the lock: its transaction is rolled back
    and the merge made again."""


def _restore(chore: Chore, occurrence: Occurrence, *, now: datetime) -> None:
    """Put `chore`'s schedule back to what it was before `occurrence` ended (undo; a rejection that reopens it)."""
    chore.next_due_time = occurrence.prior_next_due_time
    chore.open_time = occurrence.prior_open_time
    chore.assignee_id = occurrence.prior_assignee_id
    chore.state = occurrence.prior_state
    chore.last_completion_time = occurrence.prior_last_completion_time
    chore.version += 1
    chore.update_time = now


class ChoreService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        membership: MembershipClient,
        *,
        lists: ChoreLists | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        # What the random assignment strategies draw from (tests pass a seeded one).
        self._rng = rng or random.SystemRandom()
        self._membership = membership
        # Every chore write goes through `self._lists.writing(...)`, which drops the household's cached pages.
        self._lists = lists or ChoreLists(None)
        self._clock = clock

    async def _validated(
        self, household_id: uuid.UUID, data: ChoreInput, paths: Sequence[str], now: datetime
    ) -> validation.Changes:
        """The fields in `paths`, validated, and every assignee a member of the household (asked before any row
        is locked); every problem at once."""
        errors = Violations()
        changes = validation.chore_fields(data, paths, now, errors)
        if changes.assignment is not None:
            found = await asyncio.gather(
                *(self._membership.get(household_id, user_id) for user_id in changes.assignment.assignees)
            )
            errors.extend(
                FieldViolation(f"assignment.assignees[{index}]", "is not a member of this household")
                for index, member in enumerate(found)
                if member is None
            )
        errors.raise_if_any()
        return changes

    # --- chores -------------------------------------------------------------------------------------

    async def create_chore(self, household_id: uuid.UUID, data: ChoreInput, *, request_id: str = "") -> Chore:
        _annotate(household_id)
        membership = await self._membership.require(household_id, roles=PERMISSIONS["chore.create"])
        with Violations() as errors:
            errors.request_id(request_id)
        creator_id = caller_id()
        now = self._clock()
        chore, assignment = await self._new_chore(household_id, data, zone(membership.time_zone), creator_id, now)
        async with self._lists.writing(self._sessions, household_id) as session:
            repository = ChoreRepository(session)
            earlier = await idempotency.claim(
                session,
                scope="CreateChore",
                caller=creator_id,
                request_id=request_id,
                fingerprint=idempotency.fingerprint(household_id, data),
                resource_id=chore.id,
            )
            if earlier is not None:  # a retry: the first answer, and no second event
                return await self._chore(repository, household_id, earlier)
            await self._insert(session, chore, assignment, now)
        return chore

    async def _new_chore(
        self, household_id: uuid.UUID, data: ChoreInput, tz: tzinfo, creator_id: uuid.UUID, now: datetime
    ) -> tuple[Chore, assigning.Assignment]:
        """The chore `data` describes, validated (INVALID_ARGUMENT), not yet stored or assigned."""
        changes = await self._validated(household_id, data, UPDATABLE, now)
        assert changes.recurrence is not None  # or it raised
        assert changes.assignment is not None
        start = changes.next_due_time or now
        due = scheduling.first_due(changes.recurrence, start=start, tz=tz)
        if due is None:
            raise validation.never_due(changes.recurrence)
        chore = Chore(
            id=new_id(),
            household_id=household_id,
            **changes.columns,
            recurrence=changes.recurrence.as_json(),
            assignment=changes.assignment.as_json(),
            anchor_time=start,
            next_due_time=due,
            assignee_id=None,
            open_time=None,
            state=ACTIVE,
            creator_id=creator_id,
            last_completion_time=None,
            create_time=now,
            update_time=now,
            version=1,
            subtasks=_new_subtasks(changes.subtasks or [], []),
            ticks={},
        )
        return chore, changes.assignment

    async def _insert(
        self, session: AsyncSession, chore: Chore, assignment: assigning.Assignment, now: datetime
    ) -> None:
        """Store a new chore with its first assignee and its chore.created event (the caller's transaction)."""
        assert chore.next_due_time is not None
        tally = await Tallies(session).tally(chore.household_id, None, assignment, now=now)
        chore.assignee_id = assigning.initial_assignee(assignment, at=chore.next_due_time, tally=tally, rng=self._rng)
        chore.category = await categories.ensure(session, chore.household_id, chore.category, now)
        ChoreRepository(session).add(chore)
        await session.flush()
        await add_event(session, events.chore_created(chore), household_id=chore.household_id)

    async def batch_create_chores(
        self, household_id: uuid.UUID, items: Sequence[ChoreInput], *, atomic: bool = False
    ) -> list[Chore | HearthError]:
        """Create up to BATCH_LIMIT chores (chore.create), each validated as CreateChore validates one; the result of
        each item in order — its chore, or the error CreateChore would have raised for it. `atomic`: one refused
        item and none is created (the valid ones answer ABORTED, naming the refused items); otherwise the valid ones
        are created and the refused ones say why. Either way the created chores are written in one transaction,
        each with its chore.created event. (No request_id: a retried batch is recognised by the gateway's
        Idempotency-Key, which keeps the whole response.)"""
        _annotate(household_id)
        membership = await self._membership.require(household_id, roles=PERMISSIONS["chore.create"])
        with Violations() as errors:
            if not items:
                errors.add("chores", "at least one chore is required")
            elif len(items) > BATCH_LIMIT:
                errors.add("chores", f"at most {BATCH_LIMIT} chores in one batch")
        creator_id = caller_id()
        now = self._clock()
        tz = zone(membership.time_zone)
        results: list[tuple[Chore, assigning.Assignment] | HearthError] = []
        for data in items:
            try:
                results.append(await self._new_chore(household_id, data, tz, creator_id, now))
            except HearthError as refused:  # its field paths are the item's own, as CreateChore would name them
                results.append(refused)
        failed = [index for index, result in enumerate(results) if isinstance(result, HearthError)]
        if atomic and failed:
            shown = ", ".join(str(index) for index in failed[:10]) + (" …" if len(failed) > 10 else "")
            aborted = Conflict(f"not created: this atomic batch has refused items ({shown})")
            return [result if isinstance(result, HearthError) else aborted for result in results]
        async with self._lists.writing(self._sessions, household_id) as session:
            for result in results:
                if not isinstance(result, HearthError):
                    await self._insert(session, *result, now)
        return [result if isinstance(result, HearthError) else result[0] for result in results]

    @staticmethod
    async def _chore(repository: ChoreRepository, household_id: uuid.UUID, chore_id: uuid.UUID) -> Chore:
        chore = await repository.get(household_id, chore_id)
        if chore is None:
            raise NotFound("chore not found")
        return chore

    async def get_chore(self, household_id: uuid.UUID, chore_id: uuid.UUID) -> ChoreRow:
        """The chore's columns as a plain row (repository.RESOURCE_COLUMNS; converters.chore_row_to_proto)."""
        _annotate(household_id, chore_id)
        await self._membership.require(household_id, roles=PERMISSIONS["chore.read"])
        async with self._sessions() as session:
            row = await ChoreRepository(session).get_row(household_id, chore_id)
        if row is None:
            raise NotFound("chore not found")
        return row

    async def list_chores(
        self, household_id: uuid.UUID, query: ListChoresQuery, render: Callable[[Page[ChoreRow]], bytes]
    ) -> bytes:
        """A page of plain rows (repository.RESOURCE_COLUMNS), as `render` serializes it (the servicer's
        ListChoresResponse): cached per household and query (services.task.lists) once the caller's membership
        is checked."""
        _annotate(household_id)
        membership = await self._membership.require(household_id, roles=PERMISSIONS["chore.read"])
        errors = Violations()
        order, descending = validation.order(query.order_by, errors)
        assignee_id: uuid.UUID | None = None
        if query.assignee == ME:
            assignee_id = caller_id()
        elif isinstance(query.assignee, uuid.UUID):
            assignee_id = query.assignee
        where = validation.chore_filter(
            query,
            assignee_id=assignee_id,
            now=self._clock(),
            tz=zone(membership.time_zone),
            errors=errors,
        )
        errors.raise_if_any()
        fingerprint = pagination.fingerprint(
            "chores",
            str(household_id),
            str(where.assignee_id or ""),
            query.category.strip(),
            query.label.strip(),
            query.status,
            query.due_before.isoformat() if query.due_before else "",
            query.due_after.isoformat() if query.due_after else "",
            query.query.strip(),
            order,
            descending,
        )

        async def read() -> bytes:
            async with self._sessions() as session:
                chores = ChoreRepository(session)
                # Chores hold their category's spelling: the filter matches it whatever the case it is given in.
                spelt = replace(where, category=await categories.spelling(session, household_id, where.category))
                found = await page(
                    lambda after, limit: chores.page(
                        household_id, spelt, order=order, descending=descending, after=after, limit=limit
                    ),
                    page_size=query.page_size,
                    page_token=query.page_token,
                    query=fingerprint,
                    cursor=_CHORE_CURSOR[order],
                    key=lambda chore: (sort_value(chore, order), chore.id),
                )
            return render(found)

        return await self._lists.page(
            household_id,
            status=query.status,
            parts=(fingerprint, query.page_token, pagination.page_size(query.page_size)),
            render=read,
        )

    async def list_agenda(self, *, until: datetime | None, page_size: int = 0, page_token: str = "") -> Page[ChoreRow]:
        """The caller's agenda: the active chores assigned to them in every household, by due time then id (keyset
        pages), only those due before `until` when given. A chore of a household they are no longer a member of
        (its reassignment still on its way from the user service's event) is left out: each household on a page is
        checked with the membership cache, as every household read is."""
        caller = caller_id()
        with Violations() as errors:
            if until is not None and not timestamps.in_range(until):
                errors.add("until", timestamps.RANGE_MESSAGE)
        fingerprint = pagination.fingerprint("agenda", str(caller), until.isoformat() if until else "")
        async with self._sessions() as session:
            chores = ChoreRepository(session)
            found = await page(
                lambda after, limit: chores.agenda(caller, until=until, after=after, limit=limit),
                page_size=page_size,
                page_token=page_token,
                query=fingerprint,
                cursor=_AGENDA_CURSOR,
                key=lambda chore: (chore.next_due_time, chore.id),
            )
        households = list({row.household_id for row in found.items})
        members = await asyncio.gather(*(self._membership.get(household, caller) for household in households))
        mine = {household for household, member in zip(households, members, strict=True) if member is not None}
        return replace(found, items=[row for row in found.items if row.household_id in mine])

    async def update_chore(self, household_id: uuid.UUID, chore_id: uuid.UUID, update: ChoreUpdate) -> Chore:
        _annotate(household_id, chore_id)
        membership = await self._membership.require(household_id, roles=PERMISSIONS["chore.update"])
        paths = validation.update_paths(update)
        members = validation.merged_members(update)
        now = self._clock()
        for _ in range(_MERGE_ATTEMPTS):
            data, read_version = update.chore, None
            if members:  # a merge into the stored recurrence/assignment: read them first (the lock comes later)
                async with self._sessions() as session:
                    stored = await ChoreRepository(session).get(household_id, chore_id)
                if stored is None:
                    raise NotFound("chore not found")
                if update.etag and update.etag != etag_of(stored):
                    raise PreconditionFailed("the chore has changed since it was read (etag mismatch)")
                data = validation.merged(data, members, recurrence=stored.recurrence, assignment=stored.assignment)
                read_version = stored.version
            # Validated (and assignees checked with the user service) before the row is locked.
            changes = await self._validated(household_id, data, paths, now)
            try:
                async with self._lists.writing(self._sessions, household_id) as session:
                    if changes.columns.get("category"):
                        # Before the chore's lock: a category rename locks the category, then its chores (this order).
                        changes.columns["category"] = await categories.ensure(
                            session, household_id, changes.columns["category"], now
                        )
                    chore = await ChoreRepository(session).get(household_id, chore_id, lock=True)
                    if chore is None:
                        raise NotFound("chore not found")
                    if update.etag and update.etag != etag_of(chore):
                        raise PreconditionFailed("the chore has changed since it was read (etag mismatch)")
                    if read_version is not None and read_version != chore.version:
                        raise _Stale  # changed since the merge read it: roll back (a category made too), merge again
                    return await self._apply(session, chore, paths, changes, membership.time_zone, now)
            except _Stale:
                continue
        raise Conflict("the chore kept changing while it was being updated; try again")

    async def _apply(
        self,
        session: AsyncSession,
        chore: Chore,
        paths: Sequence[str],
        changes: validation.Changes,
        time_zone: str,
        now: datetime,
    ) -> Chore:
        """Write the validated `changes` of `paths` into the locked `chore`, with chore.updated naming what changed."""
        household_id = chore.household_id
        if chore.state == ARCHIVED:
            raise Gone("the chore is archived")
        if not paths:  # nothing to change (e.g. only output-only fields named): not a new version
            return chore
        before = _updatable_values(chore)
        for column, value in changes.columns.items():
            setattr(chore, column, value)
        if changes.subtasks is not None:
            chore.subtasks = _new_subtasks(changes.subtasks, chore.subtasks)
            chore.ticks = subtasks.kept(chore.ticks, chore.subtasks)
        if changes.recurrence is not None:
            chore.recurrence = changes.recurrence.as_json()
        if "recurrence" in paths or "next_due_time" in paths:
            _reschedule(chore, changes, now, zone(time_zone))
        if changes.assignment is not None:
            # An edit continues the rotation (assignment.reassigned), judged at the open occurrence's due time.
            tally = await Tallies(session).tally(household_id, chore.id, changes.assignment, now=now)
            chore.assignee_id = assigning.reassigned(
                assigning.Assignment.from_json(chore.assignment),
                changes.assignment,
                current=chore.assignee_id,
                at=chore.next_due_time or now,
                tally=tally,
                rng=self._rng,
            )
            chore.assignment = changes.assignment.as_json()
            # A daily/weekly rotation starts afresh from the assignee the edit left (services.task.jobs).
            chore.rotation_time = chore.rotation_next_time = chore.rotation_index = None
        chore.version += 1
        chore.update_time = now
        after = _updatable_values(chore)
        changed = [path for path in UPDATABLE if before[path] != after[path]]
        if changed:  # values set to what they were already: nothing to announce
            await session.flush()
            await add_event(session, events.chore_updated(chore, changed), household_id=household_id)
        return chore

    async def delete_chore(self, household_id: uuid.UUID, chore_id: uuid.UUID, *, etag: str = "") -> None:
        """Archive the chore (soft delete): it stays readable, with state ARCHIVED."""
        _annotate(household_id, chore_id)
        await self._membership.require(household_id, roles=PERMISSIONS["chore.delete"])
        async with self._lists.writing(self._sessions, household_id) as session:
            chore = await ChoreRepository(session).get(household_id, chore_id, lock=True)
            if chore is None:
                raise NotFound("chore not found")
            if etag and etag != etag_of(chore):
                raise PreconditionFailed("the chore has changed since it was read (etag mismatch)")
            if chore.state == ARCHIVED:
                return
            chore.state = ARCHIVED
            chore.version += 1
            chore.update_time = self._clock()
            await session.flush()
            await add_event(session, events.chore_archived(chore), household_id=household_id)

    # --- completions --------------------------------------------------------------------------------

    async def complete_chore(self, household_id: uuid.UUID, chore_id: uuid.UUID, data: CompleteInput) -> CompleteResult:
        _annotate(household_id, chore_id)
        membership = await self._membership.require(household_id, roles=PERMISSIONS["chore.complete_own"])
        recorder_id = caller_id()
        # Completing a chore assigned to someone else, or recording one for someone else (chore.complete_own is
        # every member's: a member completes what is assigned to them).
        adult = membership.role in PERMISSIONS["chore.complete_any"]
        now = self._clock()
        with Violations() as errors:
            valid = validation.completion(data, household_id, now, errors)
        completed_by = valid.completed_by or recorder_id
        if completed_by != recorder_id:
            if not adult:
                raise PermissionDenied("a child may only record their own completions")
            if await self._membership.get(household_id, completed_by) is None:
                raise invalid("completed_by", "is not a member of this household")

        async with self._lists.writing(self._sessions, household_id) as session:
            # A plain row under the lock, written back in one statement with the completion and its event
            # (CompletionRepository.record): none of the ORM's unit of work on the hottest write.
            chore = await ChoreRepository(session).locked(household_id, chore_id)
            if chore is None:
                raise NotFound("chore not found")
            if not adult and chore.assignee_id != recorder_id:
                raise PermissionDenied("a child may only complete chores assigned to them")
            completions = CompletionRepository(session)
            completion_id = new_id()
            # Under the chore's row lock, so concurrent retries are answered in turn.
            earlier = await idempotency.claim(
                session,
                scope="CompleteChore",
                caller=recorder_id,
                request_id=data.request_id,
                fingerprint=idempotency.fingerprint(
                    household_id, chore_id, data.complete_time, data.note, data.photo, data.completed_by
                ),
                resource_id=completion_id,
            )
            if earlier is not None:  # a retry: the first answer, and no second event
                first = await completions.get(household_id, earlier)
                if first is None:
                    raise NotFound("completion not found")
                return CompleteResult(first, chore)
            due = _open_occurrence(chore, now)
            if chore.requires_photo and not valid.photo:
                raise invalid("photo", "this chore requires a photo")
            # The photo must be one the household's store holds (any member's upload): a made-up id, or another
            # household's photo, is refused like a malformed one.
            if isinstance(data.photo, PhotoRef) and not await photos.exists(session, household_id, data.photo.photo_id):
                raise invalid("photo", "must be a photo uploaded to this household")
            earliest = validation.earliest_completion(create_time=chore.create_time, anchor_time=chore.anchor_time)
            if valid.completed_at < earliest:
                raise invalid(
                    "complete_time",
                    f"must not be before {earliest.astimezone(UTC).isoformat()}: a completion may be dated "
                    "at most one day before the chore was created or first due",
                )
            assignment = assigning.Assignment.from_json(chore.assignment)
            tally = _counting(
                await Tallies(session).tally(household_id, chore.id, assignment, now=now),
                completed_by=completed_by,
                assignee_id=chore.assignee_id,
                points=chore.points,
            )
            state = await completions.schedule_state(chore, due, assignment)
            change = scheduling.complete(
                state, completed_at=valid.completed_at, tz=zone(membership.time_zone), tally=tally, rng=self._rng
            )
            occurrence = ended_occurrence(
                chore,
                due=change.due,
                outcome=OUTCOME_DONE,
                completed_by=completed_by,
                recorder_id=recorder_id,
                end_time=valid.completed_at,
                completion_id=completion_id,
                now=now,
            )
            completion = Completion(
                id=completion_id,
                household_id=household_id,
                chore_id=chore.id,
                completed_by=completed_by,
                recorder_id=recorder_id,
                assignee_id=chore.assignee_id,
                complete_time=valid.completed_at,
                note=valid.note,
                photo=valid.photo,
                points=chore.points,
                due_time=change.due,
                on_time=change.on_time,
                create_time=now,
                # A child's word needs an adult's approval where the chore asks for it; an adult's is the approval.
                status=PENDING if chore.requires_approval and not adult else APPROVED,
                reviewer_id=None,
                review_time=None,
                review_note="",
                subtasks_done=[
                    dict(item) for item in chore.subtasks if item["id"] in subtasks.done_ids(chore.ticks, due)
                ],
            )
            chore.next_due_time = change.next_due
            chore.open_time = scheduling.opens_at(due=change.due, next_due=change.next_due, ended_at=now)
            chore.state = DONE if change.done else ACTIVE
            chore.assignee_id = change.assignee_id
            chore.last_completion_time = change.last_completion_time
            chore.version += 1
            chore.update_time = now
            # A pending completion is not yet a chore.completed (notify and analytics count those): that is published
            # when it is approved (review_completion), and never when it is rejected.
            payload = (
                events.completion_submitted(chore, completion)
                if completion.status == PENDING
                else events.chore_completed(chore, completion)
            )
            await completions.record(completion, chore, occurrence, new_envelope(payload, household_id=household_id))
            if completion.points and completion.status == APPROVED:
                await points.record(
                    session,
                    household_id,
                    completed_by,
                    completion.points,
                    COMPLETION_POINTS,
                    completion_id=completion.id,
                    actor_id=recorder_id,
                    now=now,
                )
        return CompleteResult(completion, chore)

    async def list_completions(
        self,
        household_id: uuid.UUID,
        chore_id: uuid.UUID | None,
        *,
        page_size: int = 0,
        page_token: str = "",
        status: str | None = None,
    ) -> Page[Completion]:
        """Completions of one chore, or (chore_id None) of every chore of the household, newest first; only those of
        review `status` when given (PENDING: what waits for an adult's approval)."""
        return await self._history(
            household_id,
            chore_id,
            "completions" if status is None else f"completions:{status}",
            lambda session, after, limit: CompletionRepository(session).page(
                household_id, chore_id, after=after, limit=limit, status=status
            ),
            lambda completion: (completion.complete_time, completion.id),
            page_size=page_size,
            page_token=page_token,
        )

    async def _history(
        self,
        household_id: uuid.UUID,
        chore_id: uuid.UUID | None,
        kind: str,
        read: Callable[[AsyncSession, Cursor | None, int], Awaitable[list[_Row]]],
        key: Callable[[_Row], tuple[datetime, uuid.UUID]],
        *,
        page_size: int,
        page_token: str,
    ) -> Page[_Row]:
        """A keyset page (by time, id; newest first) of `kind` rows `read` returns, of one chore (NOT_FOUND unless
        it is the household's) or (chore_id None) of the whole household; for members only."""
        _annotate(household_id, chore_id)
        await self._membership.require(household_id, roles=PERMISSIONS["chore.read"])
        fingerprint = pagination.fingerprint(kind, str(household_id), str(chore_id or "-"))
        async with self._sessions() as session:

            async def fetch(after: Cursor | None, limit: int) -> list[_Row]:
                if chore_id is not None and await ChoreRepository(session).get(household_id, chore_id) is None:
                    raise NotFound("chore not found")
                return await read(session, after, limit)

            return await page(
                fetch,
                page_size=page_size,
                page_token=page_token,
                query=fingerprint,
                cursor=_COMPLETION_CURSOR,
                key=key,
            )

    # --- the occurrence lifecycle (scheduling's table) ------------------------------------------------

    async def skip_chore(self, household_id: uuid.UUID, chore_id: uuid.UUID, *, request_id: str = "") -> Chore:
        """Skip the open occurrence (adults: chore.complete_any): outcome skipped, no points; the next one is
        computed and the assignee moves on as a completion would. Not before the occurrence is open (NOT_DUE_YET),
        not for an archived or done chore (GONE). A retry with the same request_id skips once."""
        _annotate(household_id, chore_id)
        membership = await self._membership.require(household_id, roles=PERMISSIONS["chore.complete_any"])
        with Violations() as errors:
            errors.request_id(request_id)
        skipper = caller_id()
        now = self._clock()
        async with self._lists.writing(self._sessions, household_id) as session:
            repository = ChoreRepository(session)
            chore = await repository.locked(household_id, chore_id)
            if chore is None:
                raise NotFound("chore not found")
            occurrence_id = new_id()
            earlier = await idempotency.claim(
                session,
                scope="SkipChore",
                caller=skipper,
                request_id=request_id,
                fingerprint=idempotency.fingerprint(household_id, chore_id),
                resource_id=occurrence_id,
            )
            if earlier is not None:  # a retry: skipped once already, and no second event
                return chore
            due = _open_occurrence(chore, now)
            assignment = assigning.Assignment.from_json(chore.assignment)
            # The skipped occurrence counts as held by its assignee (the rotation moves on), not as done by anyone.
            tally = await Tallies(session).tally(household_id, chore.id, assignment, now=now)
            state = await CompletionRepository(session).schedule_state(chore, due, assignment)
            change = scheduling.complete(
                state, completed_at=now, tz=zone(membership.time_zone), tally=tally, rng=self._rng
            )
            occurrence = ended_occurrence(
                chore,
                due=due,
                outcome=OUTCOME_SKIPPED,
                completed_by=None,
                recorder_id=skipper,
                end_time=now,
                completion_id=None,
                now=now,
            )
            occurrence.id = occurrence_id
            chore.next_due_time = change.next_due
            chore.open_time = scheduling.opens_at(due=due, next_due=change.next_due, ended_at=now)
            chore.state = DONE if change.done else ACTIVE
            chore.assignee_id = change.assignee_id
            chore.version += 1
            chore.update_time = now
            await repository.write_schedule(chore)
            await OccurrenceRepository(session).add(occurrence)
            await add_event(
                session, events.chore_skipped(chore, due=due, skipped_by=skipper), household_id=household_id
            )
        return chore

    async def snooze_chore(self, household_id: uuid.UUID, chore_id: uuid.UUID, until: datetime | None) -> Chore:
        """Move the open occurrence's due time to `until` (adults: chore.complete_any), which must lie after now and
        before the occurrence after it would be due (for a one-off chore: within SNOOZE_LIMIT); the schedule's
        anchor, the assignee and the window stay. No occurrence row: the occurrence has not ended."""
        _annotate(household_id, chore_id)
        membership = await self._membership.require(household_id, roles=PERMISSIONS["chore.complete_any"])
        now = self._clock()
        with Violations() as errors:
            if until is None:
                errors.add("until", "is required")
            elif not timestamps.in_range(until):
                errors.add("until", timestamps.RANGE_MESSAGE)
            elif until <= now:
                errors.add("until", "must be in the future")
        assert until is not None
        async with self._lists.writing(self._sessions, household_id) as session:
            repository = ChoreRepository(session)
            chore = await repository.locked(household_id, chore_id)
            if chore is None:
                raise NotFound("chore not found")
            if chore.state == ARCHIVED:
                raise Gone("the chore is archived")
            if chore.state == DONE or chore.next_due_time is None:
                raise Gone("this one-off chore is already done")
            due = chore.next_due_time
            state = await CompletionRepository(session).schedule_state(
                chore, due, assigning.Assignment.from_json(chore.assignment)
            )
            following = scheduling.following_due(state, tz=zone(membership.time_zone))
            limit = following if following is not None else now + scheduling.SNOOZE_LIMIT
            if until >= limit:
                raise invalid(
                    "until",
                    f"must be before {limit.astimezone(UTC).isoformat()}, when the next occurrence would be due",
                )
            chore.next_due_time = until
            chore.version += 1
            chore.update_time = now
            await repository.write_schedule(chore)
            if chore.ticks:  # the same occurrence, later: its ticks go with it
                chore.ticks = subtasks.moved(chore.ticks, due, until)
                await repository.write_ticks(chore.id, chore.ticks)
            await add_event(session, events.chore_snoozed(chore, previous_due=due), household_id=household_id)
        return chore

    async def undo_completion(self, household_id: uuid.UUID, chore_id: uuid.UUID, completion_id: uuid.UUID) -> Chore:
        """Undo the chore's latest completion: the chore's next due time, window, assignee, state and last
        completion time go back to what they were before it, and the completion (with its occurrence row) is
        deleted. Only while nothing changed the chore since (else ABORTED, REST 409 `conflict`): so only the latest
        completion, and not after a skip, snooze or edit. Adults undo any (chore.complete_any); everyone else only a
        completion they did or recorded (else PERMISSION_DENIED)."""
        _annotate(household_id, chore_id)
        membership = await self._membership.require(household_id, roles=PERMISSIONS["chore.complete_own"])
        caller = caller_id()
        adult = membership.role in PERMISSIONS["chore.complete_any"]
        async with self._lists.writing(self._sessions, household_id) as session:
            repository = ChoreRepository(session)
            chore = await repository.locked(household_id, chore_id)
            if chore is None:
                raise NotFound("chore not found")
            completions = CompletionRepository(session)
            completion = await completions.get(household_id, completion_id)
            if completion is None or completion.chore_id != chore.id:
                raise NotFound("completion not found")
            if not adult and caller not in (completion.completed_by, completion.recorder_id):
                raise PermissionDenied("a child may only undo their own completions")
            if completion.status == REJECTED:
                raise Conflict("a rejected completion cannot be undone: it never counted")
            occurrence = await OccurrenceRepository(session).of_completion(completion.id)
            if occurrence is None or occurrence.after_version != chore.version:
                raise Conflict(
                    "only the chore's latest completion can be undone, and only while nothing else changed the chore"
                )
            _restore(chore, occurrence, now=self._clock())
            await repository.write_schedule(chore)
            await completions.delete(completion)
            if completion.points and completion.status == APPROVED:  # a pending one earned nothing yet
                # The ledger is append-only: the points the completion earned are taken back by an entry of their own.
                await points.record(
                    session,
                    household_id,
                    completion.completed_by,
                    -completion.points,
                    UNDO,
                    completion_id=completion.id,
                    actor_id=caller,
                    now=chore.update_time,
                )
            await add_event(session, events.completion_undone(chore, completion), household_id=household_id)
        return chore

    async def review_completion(
        self, household_id: uuid.UUID, chore_id: uuid.UUID, completion_id: uuid.UUID, *, approve: bool, note: str = ""
    ) -> Completion:
        """Approve or reject a pending completion (adults: chore.approve; the lifecycle: scheduling's table).

        Approving books its points and publishes chore.completed (with completion.approved): from now on it counts
        as if it had been approved when it was made. Rejecting publishes completion.rejected; it never counts, and
        the occurrence opens again (its due time, window, assignee and state as before the completion, its row gone)
        when nothing changed the chore since — else the chore has moved on (a later completion, skip, snooze or
        edit) and the occurrence stays ended, as missed. The same decision again is a no-op (a retried request
        gets the completion as it is, and no second event); the other decision on a reviewed completion is ABORTED
        (REST 409): undo an approved one instead."""
        _annotate(household_id, chore_id)
        await self._membership.require(household_id, roles=PERMISSIONS["chore.approve"])
        with Violations() as errors:
            note = errors.text("note", note, max_length=validation.MAX_NOTE)
        reviewer = caller_id()
        target = APPROVED if approve else REJECTED
        async with self._lists.writing(self._sessions, household_id) as session:
            repository = ChoreRepository(session)
            chore = await repository.locked(household_id, chore_id)
            if chore is None:
                raise NotFound("chore not found")
            completions = CompletionRepository(session)
            completion = await completions.get(household_id, completion_id, lock=True)
            if completion is None or completion.chore_id != chore.id:
                raise NotFound("completion not found")
            if completion.status == target:
                return completion
            if completion.status == APPROVED:
                raise Conflict("the completion was approved already (undo it instead)")
            if completion.status == REJECTED:
                raise Conflict("the completion was rejected already")
            now = self._clock()
            completion.status = target
            completion.reviewer_id = reviewer
            completion.review_time = now
            completion.review_note = note
            if approve:
                if completion.points:
                    await points.record(
                        session,
                        household_id,
                        completion.completed_by,
                        completion.points,
                        COMPLETION_POINTS,
                        completion_id=completion.id,
                        actor_id=reviewer,
                        now=now,
                    )
                await add_event(session, events.chore_completed(chore, completion), household_id=household_id)
                await add_event(
                    session, events.completion_approved(chore, completion, reviewer), household_id=household_id
                )
                return completion
            occurrences = OccurrenceRepository(session)
            occurrence = await occurrences.of_completion(completion.id)
            reopened = occurrence is not None and occurrence.after_version == chore.version
            missed: Occurrence | None = None
            if occurrence is not None and reopened:
                _restore(chore, occurrence, now=now)
                await repository.write_schedule(chore)
                await occurrences.delete(occurrence)
            elif occurrence is not None:
                if await occurrences.missed(chore.id, occurrence.due_time):
                    # Marked missed before it was (late) done: that row says it already; an occurrence is missed once.
                    await occurrences.delete(occurrence)
                else:
                    occurrence.outcome = OUTCOME_MISSED
                    occurrence.completed_by = None
                    missed = occurrence  # analytics counts it as a miss (the miss scan never saw it)
            await add_event(
                session,
                events.completion_rejected(chore, completion, reviewer, reopened=reopened, missed=missed),
                household_id=household_id,
            )
        return completion

    async def claim_chore(self, household_id: uuid.UUID, chore_id: uuid.UUID) -> Chore:
        """The caller takes a chore nobody holds (strategy unassigned, or a rotation that found nobody): they are its
        assignee until its occurrence ends (a completion or skip chooses the next by the strategy: nobody, for an
        unassigned chore). Every member may, a child too (chore.claim) — of a chore whose assignment lists members, only
        those (else PERMISSION_DENIED). The caller's own chore again: unchanged, no event (a retry is harmless);
        someone else's: ABORTED (REST 409). Not an archived or done chore (GONE). A claim leaves the schedule alone:
        the latest completion can still be undone or rejected after it (OccurrenceRepository.carry)."""
        _annotate(household_id, chore_id)
        await self._membership.require(household_id, roles=PERMISSIONS["chore.claim"])
        claimer = caller_id()
        async with self._lists.writing(self._sessions, household_id) as session:
            repository = ChoreRepository(session)
            chore = await repository.get(household_id, chore_id, lock=True)
            if chore is None:
                raise NotFound("chore not found")
            if chore.state == ARCHIVED:
                raise Gone("the chore is archived")
            if chore.state == DONE or chore.next_due_time is None:
                raise Gone("this one-off chore is already done")
            if chore.assignee_id == claimer:
                return chore
            if chore.assignee_id is not None:
                raise Conflict("the chore is assigned to someone else")
            listed = assigning.Assignment.from_json(chore.assignment).assignees
            if listed and claimer not in listed:
                # A rotation that found nobody (everyone listed away) is still the listed members' chore.
                raise PermissionDenied("only the members this chore's assignment lists may claim it")
            chore.assignee_id = claimer
            await OccurrenceRepository(session).carry(chore.id, chore.version)
            chore.version += 1
            chore.update_time = self._clock()
            await session.flush()
            await add_event(
                session,
                events.chore_assigned(chore, previous=None, reason=events.ASSIGNED_CLAIM),
                household_id=household_id,
            )
        return chore

    async def tick_subtask(
        self, household_id: uuid.UUID, chore_id: uuid.UUID, subtask_id: uuid.UUID, *, done: bool
    ) -> Chore:
        """Tick (or untick) a subtask for the chore's open occurrence (services.task.subtasks): whoever may complete
        the chore may (a child: only one assigned to them). The same tick again changes nothing (no new version).
        Not for an archived or done chore (GONE); a subtask the chore does not have is NOT_FOUND."""
        _annotate(household_id, chore_id)
        membership = await self._membership.require(household_id, roles=PERMISSIONS["chore.complete_own"])
        caller = caller_id()
        adult = membership.role in PERMISSIONS["chore.complete_any"]
        async with self._lists.writing(self._sessions, household_id) as session:
            chore = await ChoreRepository(session).get(household_id, chore_id, lock=True)
            if chore is None:
                raise NotFound("chore not found")
            if not adult and chore.assignee_id != caller:
                raise PermissionDenied("a child may only tick the subtasks of chores assigned to them")
            if chore.state == ARCHIVED:
                raise Gone("the chore is archived")
            if chore.state == DONE or chore.next_due_time is None:
                raise Gone("this one-off chore is already done")
            if str(subtask_id) not in {item["id"] for item in chore.subtasks}:
                raise NotFound("subtask not found")
            ticks = subtasks.ticked(chore.ticks, chore.subtasks, chore.next_due_time, str(subtask_id), done)
            if subtasks.done_ids(ticks, chore.next_due_time) == subtasks.done_ids(chore.ticks, chore.next_due_time):
                return chore
            chore.ticks = ticks
            await OccurrenceRepository(session).carry(chore.id, chore.version)
            chore.version += 1
            chore.update_time = self._clock()
        return chore

    async def list_occurrences(
        self, household_id: uuid.UUID, chore_id: uuid.UUID, *, page_size: int = 0, page_token: str = ""
    ) -> Page[Occurrence]:
        """The chore's ended occurrences, newest first (by when they ended)."""
        return await self._history(
            household_id,
            chore_id,
            "occurrences",
            lambda session, after, limit: OccurrenceRepository(session).page(
                household_id, chore_id, after=after, limit=limit
            ),
            lambda occurrence: (occurrence.end_time, occurrence.id),
            page_size=page_size,
            page_token=page_token,
        )
