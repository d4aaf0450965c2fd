"""Use cases of the task service: chores and their completions.

Authorization (through the user service, cached): any member of a household reads its chores; owners,
admins and members create, update and archive them (a child gets PERMISSION_DENIED); an outsider gets
NOT_FOUND for everything in the household, chore ids of another household included. Adults complete
any chore, and may record a completion for another member; a child completes only the chores assigned
to them, as themselves.

ListChores `status` (times in the household's time zone):
- "" (default): every active chore (not done, not archived);
- "overdue": active and next_due_time < now;
- "due": active and due before the end of today (so overdue ones are "due" too);
- "upcoming": active and due tomorrow or later (the complement of "due");
- "archived": archived chores; "done": one-off chores that have been done.
`due_after` is inclusive, `due_before` exclusive. `query` is PostgreSQL full-text search (websearch
syntax, 'simple' configuration) over title and description.

Archived chores cannot be completed or updated (FAILED_PRECONDITION, reason GONE); nor can a one-off
chore that is already done. Archiving twice is a no-op.

Events, each in the transaction of its change: CreateChore writes chore.created, CompleteChore
chore.completed, UpdateChore chore.updated (naming the fields whose values changed; none when no value
did) and DeleteChore chore.archived (not again when the chore is already archived).

A completion may be dated up to 5 minutes ahead (clock skew) and back to one day before the chore was
created or its schedule started, whichever is earlier (logged the day after is normal; older is not, or a
late completion could be made on time). Every timestamp a client sends lies in 1900..2200 UTC
(kit.timestamps.EARLIEST..LATEST). Request ids (idempotency) are the caller's own: CreateChore's are
scoped to (household, creator), CompleteChore's to (chore, recorder).
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hearth.events.v1 import events_pb2
from opentelemetry import trace
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context, pagination, timestamps
from kit.db import utcnow
from kit.errors import FieldViolation, Gone, InvalidArgument, NotFound, PermissionDenied, PreconditionFailed, invalid
from kit.ids import new_id, parse_id
from kit.names import parse_ids, parse_name
from kit.outbox import add_event
from kit.text import CONTROL_CHARACTERS_MESSAGE, has_control_characters
from services.task import scheduling
from services.task.models import ACTIVE, ARCHIVED, DONE, Chore, Completion
from services.task.repository import INFINITY, ChoreFilter, ChoreOrder, ChoreRepository, CompletionRepository
from services.task.repository import cursor_value as chore_cursor_value
from services.user.client import ADULT_ROLES, Membership, MembershipClient

HOUSEHOLD = "households/{household}"
CHORE = "households/{household}/chores/{chore}"
ALL_CHORES = "-"  # AIP-159: households/{h}/chores/- lists completions of every chore

MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_CATEGORY = 50
MAX_LABELS = 20
MAX_LABEL = 50
MAX_POINTS = 1000
MAX_ESTIMATED_MINUTES = 24 * 60
MAX_EVERY = 1000
MAX_REMINDERS = 10
MAX_REMINDER_MINUTES = 7 * 24 * 60
MAX_GRACE_MINUTES = 7 * 24 * 60
MAX_NOTE = 1000
MAX_REQUEST_ID = 128
MAX_QUERY = 200
# A completion may be stamped slightly in the future (clock skew between devices), not more.
FUTURE_TOLERANCE = timedelta(minutes=5)
# First due times further than this from now are surely a mistake (and would overflow the calendar).
MAX_DUE_DISTANCE = timedelta(days=100 * 366)
# A completion may be logged a day after it was done, but not dated before the chore existed: no earlier
# than its creation or its first due time (whichever is earlier) minus this.
BACKDATE_TOLERANCE = timedelta(days=1)
# Every instant a client sends must lie in kit.pagination's range (what every driver and zone can hold).

# Proto names of the recurrence kinds and assignment settings the slice does not implement yet.
UNSUPPORTED_KINDS = ("weekly", "monthly", "yearly", "rrule", "adaptive")
UNSUPPORTED_STRATEGIES = (
    "round_robin",
    "least_completed",
    "least_assigned",
    "least_points",
    "random",
    "random_except_last",
)
SUPPORTED_ROTATE = ("", "on_completion")
SUPPORTED_ON_MISS = ("", "keep")

UPDATABLE = (
    "title",
    "description",
    "category",
    "labels",
    "points",
    "estimated_minutes",
    "recurrence",
    "assignment",
    "next_due_time",
    "reminders",
    "requires_photo",
    "requires_approval",
)
# Output-only fields named in an update mask are ignored (AIP-161), not refused.
OUTPUT_ONLY = (
    "name",
    "assignee",
    "state",
    "creator",
    "last_completion_time",
    "create_time",
    "update_time",
    "etag",
)
STATUSES = ("", "due", "overdue", "upcoming", "archived", "done")
ORDERS: tuple[ChoreOrder, ...] = get_args(ChoreOrder)


# --- inputs (what the servicer hands over, unvalidated) ----------------------------------------------


@dataclass(frozen=True)
class RecurrenceInput:
    # The proto oneof's case ("once", "interval", "weekly", ...); "" when none is set.
    kind: str = ""
    every: int = 0
    # "hours" … "years"; "" when unspecified.
    unit: str = ""
    rolling: bool = False
    months: tuple[int, ...] = ()


@dataclass(frozen=True)
class AssignmentInput:
    # "fixed", "unassigned", "round_robin", ...; "" when unspecified.
    strategy: str = ""
    # users/{user} (a bare user id is accepted too)
    assignees: tuple[str, ...] = ()
    rotate: str = ""
    on_miss: str = ""
    grace_minutes: int = 0
    miss_penalty_points: int = 0


@dataclass(frozen=True)
class ChoreInput:
    title: str = ""
    description: str = ""
    category: str = ""
    labels: tuple[str, ...] = ()
    points: int = 0
    estimated_minutes: int | None = None
    recurrence: RecurrenceInput | None = None
    assignment: AssignmentInput | None = None
    next_due_time: datetime | None = None
    reminders: tuple[int, ...] = ()
    requires_photo: bool = False
    requires_approval: bool = False


@dataclass(frozen=True)
class ChoreUpdate:
    chore: ChoreInput
    # The update mask's paths; empty = every field in `populated` (AIP-134); "*" = every updatable field.
    mask: tuple[str, ...] = ()
    populated: frozenset[str] = frozenset()
    # When set, must match the chore's current etag.
    etag: str = ""


@dataclass(frozen=True)
class ListChoresQuery:
    page_size: int = 0
    page_token: str = ""
    assignee: str = ""
    category: str = ""
    label: str = ""
    status: str = ""
    due_before: datetime | None = None
    due_after: datetime | None = None
    query: str = ""
    order_by: str = ""


@dataclass(frozen=True)
class CompleteInput:
    complete_time: datetime | None = None
    note: str = ""
    photo: str = ""
    # users/{user}; "" = the caller
    completed_by: str = ""
    request_id: str = ""


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChorePage:
    chores: list[Chore]
    next_page_token: str


@dataclass(frozen=True)
class CompletionPage:
    completions: list[Completion]
    next_page_token: str


@dataclass(frozen=True)
class CompleteResult:
    completion: Completion
    chore: Chore


# --- validation ------------------------------------------------------------------------------------


@dataclass
class _Violations:
    items: list[FieldViolation] = field(default_factory=list)

    def add(self, field_name: str, message: str) -> None:
        self.items.append(FieldViolation(field_name, message))

    def raise_if_any(self) -> None:
        if self.items:
            summary = "; ".join(f"{v.field}: {v.message}" for v in self.items)
            raise InvalidArgument(f"invalid request: {summary}", list(self.items))


@dataclass
class _Changes:
    """Validated values of the fields an operation sets (column name → value), plus the schedule parts."""

    columns: dict[str, Any] = field(default_factory=dict)
    recurrence: scheduling.Recurrence | None = None
    assignment: scheduling.Assignment | None = None
    next_due_time: datetime | None = None


def _user_id(value: str) -> uuid.UUID | None:
    """The id in "users/{id}" (or a bare id); None when it is neither."""
    return parse_id(value.removeprefix("users/"))


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _validate_text(value: str, name: str, limit: int, errors: _Violations, *, required: bool = False) -> str:
    text = value.strip()
    if required and not text:
        errors.add(name, "is required")
    elif len(text) > limit:
        errors.add(name, f"must be at most {limit} characters")
    elif has_control_characters(text):
        errors.add(name, CONTROL_CHARACTERS_MESSAGE)
    return text


def _check_filter_text(value: str, name: str, limit: int | None = None) -> None:
    """A free-text ListChores filter: bounded, and nothing PostgreSQL refuses (NUL) or nobody can see."""
    if limit is not None and len(value) > limit:
        raise invalid(name, f"must be at most {limit} characters")
    if has_control_characters(value):
        raise invalid(name, CONTROL_CHARACTERS_MESSAGE)


def _check_request_id(request_id: str, errors: _Violations) -> None:
    if len(request_id) > MAX_REQUEST_ID:
        errors.add("request_id", f"must be at most {MAX_REQUEST_ID} characters")
    elif has_control_characters(request_id):
        errors.add("request_id", CONTROL_CHARACTERS_MESSAGE)


def _validate_labels(labels: Sequence[str], errors: _Violations) -> list[str]:
    if len(labels) > MAX_LABELS:
        errors.add("labels", f"at most {MAX_LABELS} labels")
    result: list[str] = []
    for index, raw in enumerate(labels):
        label = raw.strip()
        if not label or len(label) > MAX_LABEL:
            errors.add(f"labels[{index}]", f"must be 1 to {MAX_LABEL} characters")
        elif has_control_characters(label):
            errors.add(f"labels[{index}]", CONTROL_CHARACTERS_MESSAGE)
        elif label not in result:
            result.append(label)
    return result


def _validate_range(value: int, name: str, low: int, high: int, errors: _Violations) -> int:
    if not low <= value <= high:
        errors.add(name, f"must be between {low} and {high}")
    return value


def _validate_recurrence(data: RecurrenceInput | None, errors: _Violations) -> scheduling.Recurrence | None:
    if data is None or not data.kind:
        errors.add("recurrence", "is required (once or interval)")
        return None
    if data.kind in UNSUPPORTED_KINDS:
        errors.add("recurrence", f"recurrence kind {data.kind!r} is not supported yet (use once or interval)")
        return None
    if data.kind not in scheduling.KINDS:
        errors.add("recurrence", f"unknown recurrence kind {data.kind!r}")
        return None
    ok = True
    if any(not 1 <= month <= 12 for month in data.months):
        errors.add("recurrence.months", "months are 1 to 12")
        ok = False
    elif len(set(data.months)) != len(data.months):
        errors.add("recurrence.months", "must not repeat a month")
        ok = False
    if data.kind == "interval":
        if not 1 <= data.every <= MAX_EVERY:
            errors.add("recurrence.every", f"must be between 1 and {MAX_EVERY}")
            ok = False
        if data.unit not in scheduling.UNITS:
            errors.add("recurrence.unit", "is required (hours, days, weeks, months or years)")
            ok = False
    if not ok:
        return None
    return scheduling.Recurrence(
        kind=data.kind,
        every=data.every if data.kind == "interval" else 1,
        unit=cast(scheduling.Unit, data.unit) if data.kind == "interval" else None,
        rolling=data.rolling,
        months=tuple(sorted(data.months)),
    )


def _validate_assignment(data: AssignmentInput | None, errors: _Violations) -> scheduling.Assignment | None:
    if data is None or not data.strategy:
        errors.add("assignment.strategy", "is required (fixed or unassigned)")
        return None
    if data.strategy in UNSUPPORTED_STRATEGIES:
        errors.add("assignment.strategy", f"strategy {data.strategy!r} is not supported yet (use fixed or unassigned)")
        return None
    if data.strategy not in scheduling.STRATEGIES:
        errors.add("assignment.strategy", f"unknown strategy {data.strategy!r}")
        return None
    ok = True
    assignees: list[uuid.UUID] = []
    for index, raw in enumerate(data.assignees):
        user_id = _user_id(raw)
        if user_id is None:
            errors.add(f"assignment.assignees[{index}]", f"{raw!r} is not a user (users/{{id}})")
            ok = False
        elif user_id in assignees:
            errors.add(f"assignment.assignees[{index}]", "is listed twice")
            ok = False
        else:
            assignees.append(user_id)
    if data.strategy == "fixed" and not data.assignees:
        errors.add("assignment.assignees", "a fixed assignment needs one assignee")
        ok = False
    if data.strategy == "unassigned" and data.assignees:
        errors.add("assignment.assignees", "an unassigned chore takes no assignees")
        ok = False
    if data.rotate not in SUPPORTED_ROTATE:
        errors.add("assignment.rotate", f"rotate {data.rotate!r} is not supported yet")
        ok = False
    if data.on_miss not in SUPPORTED_ON_MISS:
        errors.add("assignment.on_miss", f"on_miss {data.on_miss!r} is not supported yet")
        ok = False
    if data.miss_penalty_points:
        errors.add("assignment.miss_penalty_points", "miss penalties are not supported yet")
        ok = False
    if not 0 <= data.grace_minutes <= MAX_GRACE_MINUTES:
        errors.add("assignment.grace_minutes", f"must be between 0 and {MAX_GRACE_MINUTES}")
        ok = False
    if not ok:
        return None
    return scheduling.Assignment(
        strategy=data.strategy,
        assignees=tuple(assignees),
        rotate=data.rotate,
        on_miss=data.on_miss,
        grace_minutes=data.grace_minutes,
    )


def _validate_fields(data: ChoreInput, paths: Iterable[str], now: datetime) -> tuple[_Changes, _Violations]:
    """Validate the fields named in `paths`; field violations name the field ("recurrence.every")."""
    errors = _Violations()
    changes = _Changes()
    columns = changes.columns
    for path in paths:
        if path == "title":
            columns["title"] = _validate_text(data.title, "title", MAX_TITLE, errors, required=True)
        elif path == "description":
            columns["description"] = _validate_text(data.description, "description", MAX_DESCRIPTION, errors)
        elif path == "category":
            columns["category"] = _validate_text(data.category, "category", MAX_CATEGORY, errors)
        elif path == "labels":
            columns["labels"] = _validate_labels(data.labels, errors)
        elif path == "points":
            columns["points"] = _validate_range(data.points, "points", 0, MAX_POINTS, errors)
        elif path == "estimated_minutes":
            minutes = data.estimated_minutes
            if minutes is not None:
                _validate_range(minutes, "estimated_minutes", 0, MAX_ESTIMATED_MINUTES, errors)
            columns["estimated_minutes"] = minutes
        elif path == "reminders":
            if len(data.reminders) > MAX_REMINDERS:
                errors.add("reminders", f"at most {MAX_REMINDERS} reminders")
            for index, minutes in enumerate(data.reminders):
                _validate_range(minutes, f"reminders[{index}].before_minutes", 0, MAX_REMINDER_MINUTES, errors)
            columns["reminders"] = sorted(set(data.reminders), reverse=True)
        elif path == "requires_photo":
            columns["requires_photo"] = data.requires_photo
        elif path == "requires_approval":
            if data.requires_approval:
                errors.add("requires_approval", "approval of completions is not supported yet")
            columns["requires_approval"] = False
        elif path == "recurrence":
            changes.recurrence = _validate_recurrence(data.recurrence, errors)
        elif path == "assignment":
            changes.assignment = _validate_assignment(data.assignment, errors)
        elif path == "next_due_time":
            due = data.next_due_time
            if due is not None and not timestamps.in_range(due):
                errors.add("next_due_time", timestamps.RANGE_MESSAGE)
            elif due is not None and abs(_aware(due) - now) > MAX_DUE_DISTANCE:
                errors.add("next_due_time", "must be within 100 years from now")
            changes.next_due_time = _aware(due) if due is not None else None
    return changes, errors


def _update_paths(update: ChoreUpdate) -> list[str]:
    """The fields an update sets, from its mask (AIP-134 semantics)."""
    if not update.mask:
        return [path for path in UPDATABLE if path in update.populated]
    if "*" in update.mask:
        if len(update.mask) > 1:
            raise invalid("update_mask", '"*" cannot be combined with other paths')
        return list(UPDATABLE)
    paths: list[str] = []
    for path in update.mask:
        if path in OUTPUT_ONLY:
            continue
        if path not in UPDATABLE:
            top = path.split(".", 1)[0]
            hint = f" (replace the whole {top!r})" if top in UPDATABLE else ""
            raise invalid("update_mask", f"cannot update {path!r}{hint}")
        if path not in paths:
            paths.append(path)
    return paths


def _updatable_values(chore: Chore) -> dict[str, Any]:
    """The chore's updatable fields (each a column of the same name), copied, to tell what an update changed."""
    return {path: copy.deepcopy(getattr(chore, path)) for path in UPDATABLE}


def etag_of(chore: Chore) -> str:
    return str(chore.version)


def _start_of_tomorrow(now: datetime, tz: tzinfo) -> datetime:
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=tz).astimezone(UTC)


def _parse_order(order_by: str) -> tuple[ChoreOrder, bool]:
    words = order_by.split()
    if not words:
        return "due_at", False
    name, direction = words[0], [w.lower() for w in words[1:]]
    if name not in ORDERS or direction not in ([], ["asc"], ["desc"]):
        raise invalid("order_by", f'must be one of {", ".join(ORDERS)}, optionally followed by " desc"')
    return name, direction == ["desc"]


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


def _chore_cursor(token: str, fingerprint: str, order: ChoreOrder) -> tuple[Any, uuid.UUID] | None:
    """The (sort value, id) a page token holds, each part checked against its kind."""
    key = pagination.decode_cursor(token, fingerprint, _CHORE_CURSOR[order])
    if key is None:
        return None
    value, chore_id = key
    if order == "due_at" and value is None:
        value = INFINITY
    return value, chore_id


def _completion_cursor(token: str, fingerprint: str) -> tuple[datetime, uuid.UUID] | None:
    key = pagination.decode_cursor(token, fingerprint, _COMPLETION_CURSOR)
    if key is None:
        return None
    complete_time, completion_id = key
    return complete_time, completion_id


def _earliest_completion(chore: Chore) -> datetime:
    """The earliest time a completion of `chore` may be dated: its creation or the start of its schedule
    (the anchor, never after the first due time), whichever is earlier, less a day's grace for logging late."""
    start = chore.create_time if chore.anchor_time is None else min(chore.create_time, chore.anchor_time)
    return start - BACKDATE_TOLERANCE


def _caller_id() -> uuid.UUID:
    caller = context.caller.get()
    user_id = parse_id(caller.user_id) if caller is not None else None
    if user_id is None:  # require() has already refused anonymous callers
        raise PermissionDenied("the access token does not name a user")
    return user_id


def _annotate(household_id: uuid.UUID, chore_id: uuid.UUID | None = None) -> None:
    """Domain attributes on the RPC's span, so traces can be searched by household and chore."""
    span = trace.get_current_span()
    span.set_attribute("hearth.household_id", str(household_id))
    if chore_id is not None:
        span.set_attribute("hearth.chore_id", str(chore_id))


def _timestamp(value: datetime | None, target: Any) -> None:
    if value is not None:
        target.FromDatetime(value.astimezone(UTC))


class ChoreService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        membership: MembershipClient,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._membership = membership
        self._clock = clock

    # --- names and access ---------------------------------------------------------------------------

    @staticmethod
    def _household(parent: str) -> uuid.UUID:
        household_id = parse_ids(parent, HOUSEHOLD, field="parent")["household"]
        _annotate(household_id)
        return household_id

    @staticmethod
    def _chore_name(name: str) -> tuple[uuid.UUID, uuid.UUID]:
        ids = parse_ids(name, CHORE)
        _annotate(ids["household"], ids["chore"])
        return ids["household"], ids["chore"]

    async def _check_members(self, household_id: uuid.UUID, assignment: scheduling.Assignment) -> list[FieldViolation]:
        found = await asyncio.gather(*(self._membership.get(household_id, a) for a in assignment.assignees))
        return [
            FieldViolation(f"assignment.assignees[{index}]", "is not a member of this household")
            for index, member in enumerate(found)
            if member is None
        ]

    async def _validated(
        self, household_id: uuid.UUID, data: ChoreInput, paths: Sequence[str], now: datetime
    ) -> _Changes:
        changes, errors = _validate_fields(data, paths, now)
        if changes.assignment is not None:
            errors.items.extend(await self._check_members(household_id, changes.assignment))
        errors.raise_if_any()
        return changes

    # --- chores -------------------------------------------------------------------------------------

    async def create_chore(self, parent: str, data: ChoreInput, *, request_id: str = "") -> Chore:
        household_id = self._household(parent)
        membership = await self._membership.require(household_id, roles=ADULT_ROLES)
        errors = _Violations()
        _check_request_id(request_id, errors)
        errors.raise_if_any()
        creator_id = _caller_id()
        # A request id is the caller's own: another member reusing it creates their own chore.
        if request_id:
            async with self._sessions() as session:
                existing = await ChoreRepository(session).by_request_id(household_id, creator_id, request_id)
            if existing is not None:
                return existing
        now = self._clock()
        changes = await self._validated(household_id, data, UPDATABLE, now)
        assert changes.recurrence is not None  # or it raised
        assert changes.assignment is not None
        tz = _zone(membership.time_zone)
        start = changes.next_due_time or now
        due = scheduling.first_due(changes.recurrence, start=start, tz=tz)
        if due is None:
            raise invalid("recurrence.months", "the schedule never falls in these months")
        chore = Chore(
            id=new_id(),
            household_id=household_id,
            **changes.columns,
            recurrence=changes.recurrence.as_json(),
            assignment=changes.assignment.as_json(),
            anchor_time=start,
            next_due_time=due,
            assignee_id=scheduling.initial_assignee(changes.assignment),
            state=ACTIVE,
            creator_id=creator_id,
            last_completion_time=None,
            create_time=now,
            update_time=now,
            version=1,
            request_id=request_id or None,
        )
        payload = events_pb2.ChoreCreated(
            household_id=str(household_id),
            chore_id=str(chore.id),
            title=chore.title,
            assignee_id=str(chore.assignee_id or ""),
            points=chore.points,
        )
        _timestamp(due, payload.next_due_at)
        try:
            async with self._sessions() as session, session.begin():
                ChoreRepository(session).add(chore)
                await session.flush()
                await add_event(session, payload, household_id=household_id)
        except IntegrityError:
            if not request_id:
                raise
            # A concurrent retry with the same request_id won the race: its chore is the answer.
            async with self._sessions() as session:
                existing = await ChoreRepository(session).by_request_id(household_id, creator_id, request_id)
            if existing is None:
                raise
            return existing
        return chore

    async def get_chore(self, name: str) -> Chore:
        household_id, chore_id = self._chore_name(name)
        await self._membership.require(household_id)
        async with self._sessions() as session:
            chore = await ChoreRepository(session).get(household_id, chore_id)
        if chore is None:
            raise NotFound("chore not found")
        return chore

    async def list_chores(self, parent: str, query: ListChoresQuery) -> ChorePage:
        household_id = self._household(parent)
        membership = await self._membership.require(household_id)
        size = pagination.page_size(query.page_size)
        order, descending = _parse_order(query.order_by)
        where = self._filter(query, membership)
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
        after = _chore_cursor(query.page_token, fingerprint, order)
        async with self._sessions() as session:
            rows = await ChoreRepository(session).page(
                household_id, where, order=order, descending=descending, after=after, limit=size + 1
            )
        page, more = rows[:size], len(rows) > size
        token = ""
        if more:
            token = pagination.encode_token([chore_cursor_value(page[-1], order), str(page[-1].id)], fingerprint)
        return ChorePage(page, token)

    def _filter(self, query: ListChoresQuery, membership: Membership) -> ChoreFilter:
        if query.status not in STATUSES:
            raise invalid("status", "must be one of due, overdue, upcoming, archived, done (or empty)")
        _check_filter_text(query.query, "query", MAX_QUERY)
        _check_filter_text(query.category, "category", MAX_CATEGORY)
        _check_filter_text(query.label, "label", MAX_LABEL)
        for name, value in (("due_after", query.due_after), ("due_before", query.due_before)):
            if value is not None and not timestamps.in_range(value):
                raise invalid(name, timestamps.RANGE_MESSAGE)
        assignee_id: uuid.UUID | None = None
        if query.assignee:
            if query.assignee in ("me", "users/me"):
                assignee_id = _caller_id()
            else:
                assignee_id = _user_id(query.assignee)
                if assignee_id is None:
                    raise invalid("assignee", "must name a user (users/{id})")
        now = self._clock()
        due_after = _aware(query.due_after) if query.due_after else None
        due_before = _aware(query.due_before) if query.due_before else None
        states: tuple[str, ...] = (ACTIVE,)
        if query.status == "overdue":
            due_before = min(due_before, now) if due_before else now
        elif query.status == "due":
            end_of_today = _start_of_tomorrow(now, _zone(membership.time_zone))
            due_before = min(due_before, end_of_today) if due_before else end_of_today
        elif query.status == "upcoming":
            start = _start_of_tomorrow(now, _zone(membership.time_zone))
            due_after = max(due_after, start) if due_after else start
        elif query.status == "archived":
            states = (ARCHIVED,)
        elif query.status == "done":
            states = (DONE,)
        return ChoreFilter(
            states=states,
            assignee_id=assignee_id,
            category=query.category.strip() or None,
            label=query.label.strip() or None,
            due_after=due_after,
            due_before=due_before,
            query=query.query.strip() or None,
        )

    async def update_chore(self, name: str, update: ChoreUpdate) -> Chore:
        household_id, chore_id = self._chore_name(name)
        membership = await self._membership.require(household_id, roles=ADULT_ROLES)
        paths = _update_paths(update)
        now = self._clock()
        # Validated (and assignees checked with the user service) before the row is locked.
        changes = await self._validated(household_id, update.chore, paths, now)
        async with self._sessions() as session, session.begin():
            chore = await ChoreRepository(session).get(household_id, chore_id, lock=True)
            if chore is None:
                raise NotFound("chore not found")
            if update.etag and update.etag != etag_of(chore):
                raise PreconditionFailed("the chore has changed since it was read (etag mismatch)")
            if chore.state == ARCHIVED:
                raise Gone("the chore is archived")
            if not paths:  # nothing to change (e.g. only output-only fields named): not a new version
                return chore
            before = _updatable_values(chore)
            for column, value in changes.columns.items():
                setattr(chore, column, value)
            if changes.assignment is not None:
                chore.assignment = changes.assignment.as_json()
                chore.assignee_id = scheduling.initial_assignee(changes.assignment)
            if changes.recurrence is not None:
                chore.recurrence = changes.recurrence.as_json()
            if "recurrence" in paths or "next_due_time" in paths:
                self._reschedule(chore, changes, now, _zone(membership.time_zone))
            chore.version += 1
            chore.update_time = now
            after = _updatable_values(chore)
            changed = [path for path in UPDATABLE if before[path] != after[path]]
            if changed:  # values set to what they were already: nothing to announce
                payload = events_pb2.ChoreUpdated(
                    household_id=str(household_id),
                    chore_id=str(chore.id),
                    title=chore.title,
                    changed=changed,
                    assignee_id=str(chore.assignee_id or ""),
                )
                _timestamp(chore.next_due_time, payload.next_due_at)
                await session.flush()
                await add_event(session, payload, household_id=household_id)
        return chore

    @staticmethod
    def _reschedule(chore: Chore, changes: _Changes, now: datetime, tz: tzinfo) -> None:
        """A new schedule (or a new due time) starts counting afresh; a done one-off chore comes back."""
        start = changes.next_due_time or chore.next_due_time or now
        recurrence = scheduling.Recurrence.from_json(chore.recurrence)
        due = scheduling.first_due(recurrence, start=start, tz=tz)
        if due is None:
            raise invalid("recurrence.months", "the schedule never falls in these months")
        chore.anchor_time = start
        chore.next_due_time = due
        chore.state = ACTIVE

    async def delete_chore(self, name: str, *, etag: str = "") -> None:
        """Archive the chore (soft delete): it stays readable, with state ARCHIVED."""
        household_id, chore_id = self._chore_name(name)
        await self._membership.require(household_id, roles=ADULT_ROLES)
        async with self._sessions() as session, session.begin():
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
            await add_event(
                session,
                events_pb2.ChoreArchived(household_id=str(household_id), chore_id=str(chore.id), title=chore.title),
                household_id=household_id,
            )

    # --- completions --------------------------------------------------------------------------------

    async def complete_chore(self, name: str, data: CompleteInput) -> CompleteResult:
        household_id, chore_id = self._chore_name(name)
        membership = await self._membership.require(household_id)
        caller_id = _caller_id()
        adult = membership.role in ADULT_ROLES
        now = self._clock()

        errors = _Violations()
        completed_at = _aware(data.complete_time) if data.complete_time else now
        if not timestamps.in_range(completed_at):
            errors.add("complete_time", timestamps.RANGE_MESSAGE)
        elif completed_at > now + FUTURE_TOLERANCE:
            errors.add("complete_time", "must not be in the future")
        note = _validate_text(data.note, "note", MAX_NOTE, errors)
        photo = data.photo.strip()
        if photo:
            try:
                photo_ids = parse_ids(photo, "households/{household}/photos/{photo}", field="photo")
            except InvalidArgument:
                errors.add("photo", "must be households/{household}/photos/{photo}")
            else:
                if photo_ids["household"] != household_id:
                    errors.add("photo", "must be a photo of this household")
        _check_request_id(data.request_id, errors)
        completed_by = caller_id
        if data.completed_by:
            named = _user_id(data.completed_by)
            if named is None:
                errors.add("completed_by", "must name a user (users/{id})")
            else:
                completed_by = named
        errors.raise_if_any()
        if completed_by != caller_id:
            if not adult:
                raise PermissionDenied("a child may only record their own completions")
            if await self._membership.get(household_id, completed_by) is None:
                raise invalid("completed_by", "is not a member of this household")

        async with self._sessions() as session, session.begin():
            chore = await ChoreRepository(session).get(household_id, chore_id, lock=True)
            if chore is None:
                raise NotFound("chore not found")
            if not adult and chore.assignee_id != caller_id:
                raise PermissionDenied("a child may only complete chores assigned to them")
            completions = CompletionRepository(session)
            if data.request_id:
                # Scoped to the recorder: another member's completion with the same request id is not a retry.
                first = await completions.by_request_id(chore.id, caller_id, data.request_id)
                if first is not None:  # a retry: the first answer, and no second event
                    return CompleteResult(first, chore)
            if chore.state == ARCHIVED:
                raise Gone("the chore is archived")
            if chore.state == DONE or chore.next_due_time is None:
                raise Gone("this one-off chore is already done")
            if chore.requires_photo and not photo:
                raise invalid("photo", "this chore requires a photo")
            earliest = _earliest_completion(chore)
            if completed_at < earliest:
                raise invalid(
                    "complete_time",
                    f"must not be before {earliest.astimezone(UTC).isoformat()}: a completion may be dated "
                    "at most one day before the chore was created or first due",
                )

            due = chore.next_due_time
            recurrence = scheduling.Recurrence.from_json(chore.recurrence)
            assignment = scheduling.Assignment.from_json(chore.assignment)
            next_due = scheduling.next_due(
                recurrence,
                previous_due=due,
                completed_at=completed_at,
                tz=_zone(membership.time_zone),
                anchor=chore.anchor_time,
            )
            completion = Completion(
                id=new_id(),
                household_id=household_id,
                chore_id=chore.id,
                completed_by=completed_by,
                recorder_id=caller_id,
                complete_time=completed_at,
                note=note,
                photo=photo,
                points=chore.points,
                due_time=due,
                on_time=scheduling.completed_on_time(
                    due=due, completed_at=completed_at, grace_minutes=assignment.grace_minutes
                ),
                create_time=now,
                request_id=data.request_id or None,
            )
            completions.add(completion)
            chore.next_due_time = next_due
            chore.state = ACTIVE if next_due is not None else DONE
            if next_due is not None:
                chore.assignee_id = scheduling.next_assignee(assignment, current=chore.assignee_id)
            last = chore.last_completion_time
            chore.last_completion_time = completed_at if last is None else max(last, completed_at)
            chore.version += 1
            chore.update_time = now

            payload = events_pb2.ChoreCompleted(
                household_id=str(household_id),
                chore_id=str(chore.id),
                completion_id=str(completion.id),
                title=chore.title,
                completed_by=str(completed_by),
                points=completion.points,
                estimated_minutes=chore.estimated_minutes or 0,
                on_time=completion.on_time,
                next_assignee_id=str(chore.assignee_id or "") if next_due is not None else "",
            )
            _timestamp(completed_at, payload.completed_at)
            _timestamp(due, payload.due_at)
            _timestamp(next_due, payload.next_due_at)
            await session.flush()
            await add_event(session, payload, household_id=household_id)
        return CompleteResult(completion, chore)

    async def list_completions(self, parent: str, *, page_size: int = 0, page_token: str = "") -> CompletionPage:
        """Completions of one chore, or of every chore (households/{h}/chores/-), newest first."""
        names = parse_name(parent, CHORE, field="parent")
        household_id = parse_id(names["household"])
        chore_id = None if names["chore"] == ALL_CHORES else parse_id(names["chore"])
        if household_id is None or (chore_id is None and names["chore"] != ALL_CHORES):
            raise invalid("parent", f"must look like {CHORE} (chore id or -)")
        _annotate(household_id, chore_id)
        await self._membership.require(household_id)
        size = pagination.page_size(page_size)
        fingerprint = pagination.fingerprint("completions", str(household_id), str(chore_id or ALL_CHORES))
        after = _completion_cursor(page_token, fingerprint)
        async with self._sessions() as session:
            if chore_id is not None and await ChoreRepository(session).get(household_id, chore_id) is None:
                raise NotFound("chore not found")
            rows = await CompletionRepository(session).page(household_id, chore_id, after=after, limit=size + 1)
        page, more = rows[:size], len(rows) > size
        token = ""
        if more:
            token = pagination.encode_token([page[-1].complete_time.isoformat(), str(page[-1].id)], fingerprint)
        return CompletionPage(page, token)
