"""What a chore request may hold: the checks that turn the servicer's inputs (services.task.inputs, resource
names already read into ids) into validated values. Pure: no I/O, no clock (the use case passes `now`).

Every check gathers its field problems in a `kit.validation.Violations`, so a client sees every bad field of
a request at once; the use case raises them (after adding what only I/O can tell, such as "not a member").
A reference the servicer could not read as a resource name arrives as `Unreadable` and is reported here, by
the field it was sent in, only when that field matters to the request (an update that does not touch the
assignment ignores its assignees).

Checks that need the chore's stored state (a completion dated before the chore existed, a photo the chore
requires) belong to the use case, which holds the row.
"""

from __future__ import annotations

import re
import uuid
from calendar import monthrange
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kit import timestamps
from kit.errors import InvalidArgument, invalid
from kit.field_mask import UpdateMask
from kit.ids import parse_id
from kit.text import CONTROL_CHARACTERS_MESSAGE, has_control_characters
from kit.validation import Violations
from services.task import assignment as assigning
from services.task import scheduling, subtasks
from services.task.inputs import (
    AssignmentInput,
    ChoreInput,
    ChoreUpdate,
    CompleteInput,
    ListChoresQuery,
    RecurrenceInput,
    SubtaskInput,
    Unreadable,
)
from services.task.models import ACTIVE, ARCHIVED, DONE
from services.task.repository import ChoreFilter, ChoreOrder

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
MAX_QUERY = 200
# A completion may be stamped slightly in the future (clock skew between devices), not more.
FUTURE_TOLERANCE = timedelta(minutes=5)
# First due times further than this from now are surely a mistake (and would overflow the calendar).
MAX_DUE_DISTANCE = timedelta(days=100 * 366)
# A completion may be logged a day after it was done, but not dated before the chore existed: no earlier
# than its creation or its first due time (whichever is earlier) minus this.
BACKDATE_TOLERANCE = timedelta(days=1)

# Recurrences: every N years at most this (a yearly rule is searched a century ahead), an RRULE this long.
MAX_EVERY_YEARS = 50
MAX_RRULE = 500
KINDS_HINT = "once, interval, weekly, monthly, yearly, rrule or adaptive"
TIME_OF_DAY = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")

# on_completion is what every strategy does; daily/weekly is the rotation scan's (services.task.jobs), which goes
# round the assignees in list order: round_robin's order, so only that strategy may rotate on a schedule.
SCHEDULED_ROTATE = ("daily", "weekly")
SUPPORTED_ROTATE = ("", "on_completion", *SCHEDULED_ROTATE)
# At most this many people in one rotation (a household is rarely a tenth of it).
MAX_ASSIGNEES = 50
SUPPORTED_ON_MISS = ("", "keep", "advance")
# A miss penalty is at most what a chore can earn.
MAX_MISS_PENALTY = MAX_POINTS

# The members of a recurrence kind's message (task.proto Recurrence.<Kind>), and every kind's own members.
RECURRENCE_MEMBERS: dict[str, tuple[str, ...]] = {
    "once": (),
    "interval": ("every", "unit"),
    "weekly": ("every", "days", "time"),
    "monthly": ("every", "day_of_month", "weekday", "week"),
    "yearly": ("every", "month", "day"),
    "rrule": ("rrule",),
    "adaptive": ("every", "unit"),
}
RECURRENCE_COMMON = ("rolling", "months")
ASSIGNMENT_MEMBERS = ("strategy", "assignees", "rotate", "on_miss", "grace_minutes", "miss_penalty_points")

# The chore's update mask (AIP-134); each updatable field is a column of the same name. The recurrence and the
# assignment also take their members ("assignment.grace_minutes", "recurrence.weekly.days", "recurrence.rolling"),
# merged into the stored value (`merged`): RFC 7396 merge patches inside them.
CHORE_MASK = UpdateMask(
    updatable=(
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
        "subtasks",
    ),
    output_only=("name", "assignee", "state", "creator", "last_completion_time", "create_time", "update_time", "etag"),
    nested={
        "recurrence": frozenset(
            RECURRENCE_COMMON
            + tuple(RECURRENCE_MEMBERS)
            + tuple(f"{kind}.{member}" for kind, members in RECURRENCE_MEMBERS.items() for member in members)
        ),
        "assignment": frozenset(ASSIGNMENT_MEMBERS),
    },
)
UPDATABLE = CHORE_MASK.updatable
STATUSES = ("", "due", "overdue", "upcoming", "archived", "done")
ORDERS: tuple[ChoreOrder, ...] = get_args(ChoreOrder)


# --- validated values --------------------------------------------------------------------------------


@dataclass
class Changes:
    """Validated values of the fields an operation sets (column name → value), plus the schedule parts."""

    columns: dict[str, Any] = field(default_factory=dict)
    recurrence: scheduling.Recurrence | None = None
    assignment: assigning.Assignment | None = None
    next_due_time: datetime | None = None
    # (the id of a subtask the chore has, or None for a new one; title): the use case makes the list
    subtasks: list[tuple[uuid.UUID | None, str]] | None = None


@dataclass(frozen=True)
class ValidCompletion:
    completed_at: datetime
    note: str
    # the photo's name, or ""
    photo: str
    # None: the caller
    completed_by: uuid.UUID | None


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def zone(name: str) -> tzinfo:
    """The household's time zone (UTC when the user service names none it can open)."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


# --- chores ------------------------------------------------------------------------------------------


def _labels(labels: Sequence[str], errors: Violations) -> list[str]:
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


def _subtasks(data: Sequence[SubtaskInput], errors: Violations) -> list[tuple[uuid.UUID | None, str]]:
    """Each subtask's id (None: a new one) and trimmed title; whether the chore has the ids is the use case's."""
    if len(data) > subtasks.MAX_SUBTASKS:
        errors.add("subtasks", f"at most {subtasks.MAX_SUBTASKS} subtasks")
    result: list[tuple[uuid.UUID | None, str]] = []
    seen: set[uuid.UUID] = set()
    for index, item in enumerate(data[: subtasks.MAX_SUBTASKS]):
        title = errors.text(f"subtasks[{index}].title", item.title, max_length=subtasks.MAX_TITLE, required=True)
        given: uuid.UUID | None = None
        if item.id:
            given = parse_id(item.id.strip())
            if given is None:
                errors.add(f"subtasks[{index}].id", "is not a subtask id")
            elif given in seen:
                errors.add(f"subtasks[{index}].id", "is listed twice")
            else:
                seen.add(given)
        result.append((given, title))
    return result


def _in_range(value: int, name: str, low: int, high: int, errors: Violations) -> int:
    if not low <= value <= high:
        errors.add(name, f"must be between {low} and {high}")
    return value


def _every(data: RecurrenceInput, high: int, errors: Violations) -> int:
    """A calendar kind's `every`: 1 when left out (proto3 sends 0), else 1..`high`."""
    if data.every == 0:
        return 1
    if not 1 <= data.every <= high:
        errors.add("recurrence.every", f"must be between 1 and {high}")
    return data.every


def _weekday(value: str, name: str, errors: Violations) -> None:
    if value not in scheduling.WEEKDAYS:
        errors.add(name, f"must be one of {', '.join(scheduling.WEEKDAYS)}")


def _weekly(data: RecurrenceInput, errors: Violations) -> None:
    if not data.days:
        errors.add("recurrence.days", f"a weekly chore needs at least one day ({', '.join(scheduling.WEEKDAYS)})")
    for index, day in enumerate(data.days):
        _weekday(day, f"recurrence.days[{index}]", errors)
    if len(set(data.days)) != len(data.days):
        errors.add("recurrence.days", "must not repeat a day")
    if data.time and not TIME_OF_DAY.fullmatch(data.time):
        errors.add("recurrence.time", "must be a time of day HH:MM (00:00 to 23:59)")


def _monthly(data: RecurrenceInput, errors: Violations) -> None:
    by_weekday = bool(data.weekday) or data.week != 0
    if by_weekday and data.day_of_month:
        errors.add("recurrence.day_of_month", "give either day_of_month, or weekday and week, not both")
    elif by_weekday:
        if not data.weekday:
            errors.add("recurrence.weekday", "is required with week (mon..sun)")
        else:
            _weekday(data.weekday, "recurrence.weekday", errors)
        if data.week not in (1, 2, 3, 4, -1):
            errors.add("recurrence.week", "is required with weekday: 1 to 4, or -1 for the last")
    elif not (data.day_of_month == -1 or 1 <= data.day_of_month <= 31):
        errors.add(
            "recurrence.day_of_month",
            "is required: 1 to 31 (a short month's last day stands in), -1 for the last day, or weekday and week",
        )


def _yearly(data: RecurrenceInput, errors: Violations) -> None:
    if not 1 <= data.month <= 12:
        errors.add("recurrence.month", "is required: 1 to 12")
    else:
        # 29 February is allowed (28 February in common years).
        last = monthrange(2000, data.month)[1]
        if not 1 <= data.day <= last:
            errors.add("recurrence.day", f"must be between 1 and {last} for month {data.month}")


def _rrule(data: RecurrenceInput, errors: Violations) -> None:
    if not data.rrule.strip():
        errors.add("recurrence.rrule", "is required (RFC 5545, e.g. FREQ=WEEKLY;BYDAY=MO,TH)")
    elif len(data.rrule) > MAX_RRULE:
        errors.add("recurrence.rrule", f"must be at most {MAX_RRULE} characters")
    else:
        try:
            scheduling.parse_rrule(data.rrule, datetime(2000, 1, 1))
        except ValueError as error:
            errors.add("recurrence.rrule", str(error))


def recurrence(data: RecurrenceInput | None, errors: Violations) -> scheduling.Recurrence | None:
    if data is None or not data.kind:
        errors.add("recurrence", f"is required ({KINDS_HINT})")
        return None
    if data.kind not in scheduling.KINDS:
        errors.add("recurrence", f"unknown recurrence kind {data.kind!r} ({KINDS_HINT})")
        return None
    before = len(errors)
    if any(not 1 <= month <= 12 for month in data.months):
        errors.add("recurrence.months", "months are 1 to 12")
    elif len(set(data.months)) != len(data.months):
        errors.add("recurrence.months", "must not repeat a month")
    every = 1
    if data.kind == "interval":
        if not 1 <= data.every <= MAX_EVERY:
            errors.add("recurrence.every", f"must be between 1 and {MAX_EVERY}")
        if data.unit not in scheduling.UNITS:
            errors.add("recurrence.unit", "is required (hours, days, weeks, months or years)")
        every = data.every
    elif data.kind in ("weekly", "monthly", "yearly"):
        every = _every(data, MAX_EVERY_YEARS if data.kind == "yearly" else MAX_EVERY, errors)
        {"weekly": _weekly, "monthly": _monthly, "yearly": _yearly}[data.kind](data, errors)
    elif data.kind == "rrule":
        _rrule(data, errors)
    elif data.kind == "adaptive" and (data.unit or data.every):
        # The first guess of the interval: both or neither.
        if not 1 <= data.every <= MAX_EVERY:
            errors.add("recurrence.every", f"must be between 1 and {MAX_EVERY}")
        if data.unit not in scheduling.UNITS:
            errors.add("recurrence.unit", "is required (hours, days, weeks, months or years)")
        every = data.every
    if len(errors) > before:
        return None
    kind = data.kind
    return scheduling.Recurrence(
        kind=kind,
        every=every,
        unit=cast(scheduling.Unit, data.unit) if kind == "interval" or (kind == "adaptive" and data.unit) else None,
        rolling=data.rolling,
        months=tuple(sorted(data.months)),
        days=data.days if kind == "weekly" else (),
        time=data.time if kind == "weekly" else "",
        day_of_month=data.day_of_month if kind == "monthly" and not data.weekday else 0,
        weekday=data.weekday if kind == "monthly" else "",
        week=data.week if kind == "monthly" and data.weekday else 0,
        month=data.month if kind == "yearly" else 0,
        day=data.day if kind == "yearly" else 0,
        rrule=data.rrule.strip() if kind == "rrule" else "",
    )


def never_due(recurrence: scheduling.Recurrence) -> InvalidArgument:
    """The refusal of a schedule with no due time at all (`scheduling.first_due` gave None)."""
    if recurrence.kind == "rrule" and not recurrence.months:
        return invalid("recurrence.rrule", "the rule never falls due after the first due time")
    return invalid("recurrence.months", "the schedule never falls in these months")


def assignment(data: AssignmentInput | None, errors: Violations) -> assigning.Assignment | None:
    if data is None or not data.strategy:
        errors.add(
            "assignment.strategy",
            "is required (fixed, unassigned, round_robin, least_completed, least_assigned, least_points, random "
            "or random_except_last)",
        )
        return None
    if data.strategy not in assigning.STRATEGIES:
        errors.add("assignment.strategy", f"unknown strategy {data.strategy!r}")
        return None
    ok = True
    assignees: list[uuid.UUID] = []
    if len(data.assignees) > MAX_ASSIGNEES:
        errors.add("assignment.assignees", f"at most {MAX_ASSIGNEES} assignees")
        ok = False
    for index, user_id in enumerate(data.assignees[:MAX_ASSIGNEES]):
        if isinstance(user_id, Unreadable):
            errors.add(f"assignment.assignees[{index}]", f"{user_id.sent!r} is not a user (users/{{id}})")
            ok = False
        elif user_id in assignees:
            errors.add(f"assignment.assignees[{index}]", "is listed twice")
            ok = False
        else:
            assignees.append(user_id)
    if data.strategy == "fixed" and not data.assignees:
        errors.add("assignment.assignees", "a fixed assignment needs one assignee")
        ok = False
    elif data.strategy in assigning.AUTOMATIC and not data.assignees:
        errors.add("assignment.assignees", f"strategy {data.strategy!r} needs at least one assignee")
        ok = False
    if data.strategy == "unassigned" and data.assignees:
        errors.add("assignment.assignees", "an unassigned chore takes no assignees")
        ok = False
    if data.rotate not in SUPPORTED_ROTATE:
        errors.add("assignment.rotate", f"unknown rotate {data.rotate!r}")
        ok = False
    elif data.rotate in SCHEDULED_ROTATE and data.strategy != "round_robin":
        errors.add("assignment.rotate", f"rotate {data.rotate!r} goes round the assignees in order: use round_robin")
        ok = False
    if data.on_miss not in SUPPORTED_ON_MISS:
        errors.add("assignment.on_miss", f"on_miss {data.on_miss!r} is not supported yet")
        ok = False
    if not 0 <= data.miss_penalty_points <= MAX_MISS_PENALTY:
        _in_range(data.miss_penalty_points, "assignment.miss_penalty_points", 0, MAX_MISS_PENALTY, errors)
        ok = False
    if not 0 <= data.grace_minutes <= MAX_GRACE_MINUTES:
        errors.add("assignment.grace_minutes", f"must be between 0 and {MAX_GRACE_MINUTES}")
        ok = False
    if not ok:
        return None
    return assigning.Assignment(
        strategy=data.strategy,
        assignees=tuple(assignees),
        rotate=data.rotate,
        on_miss=data.on_miss,
        grace_minutes=data.grace_minutes,
        miss_penalty_points=data.miss_penalty_points,
    )


def chore_fields(data: ChoreInput, paths: Iterable[str], now: datetime, errors: Violations) -> Changes:
    """The fields named in `paths`, validated; each violation names its field ("recurrence.every")."""
    changes = Changes()
    columns = changes.columns
    for path in paths:
        if path == "title":
            columns["title"] = errors.text("title", data.title, max_length=MAX_TITLE, required=True)
        elif path == "description":
            columns["description"] = errors.text("description", data.description, max_length=MAX_DESCRIPTION)
        elif path == "category":
            columns["category"] = errors.text("category", data.category, max_length=MAX_CATEGORY)
        elif path == "labels":
            columns["labels"] = _labels(data.labels, errors)
        elif path == "points":
            columns["points"] = _in_range(data.points, "points", 0, MAX_POINTS, errors)
        elif path == "estimated_minutes":
            minutes = data.estimated_minutes
            if minutes is not None:
                _in_range(minutes, "estimated_minutes", 0, MAX_ESTIMATED_MINUTES, errors)
            columns["estimated_minutes"] = minutes
        elif path == "reminders":
            if len(data.reminders) > MAX_REMINDERS:
                errors.add("reminders", f"at most {MAX_REMINDERS} reminders")
            for index, minutes in enumerate(data.reminders):
                _in_range(minutes, f"reminders[{index}].before_minutes", 0, MAX_REMINDER_MINUTES, errors)
            columns["reminders"] = sorted(set(data.reminders), reverse=True)
        elif path == "requires_photo":
            columns["requires_photo"] = data.requires_photo
        elif path == "requires_approval":
            columns["requires_approval"] = data.requires_approval
        elif path == "recurrence":
            changes.recurrence = recurrence(data.recurrence, errors)
        elif path == "assignment":
            changes.assignment = assignment(data.assignment, errors)
        elif path == "subtasks":
            changes.subtasks = _subtasks(data.subtasks, errors)
        elif path == "next_due_time":
            due = data.next_due_time
            if due is not None and not timestamps.in_range(due):
                errors.add("next_due_time", timestamps.RANGE_MESSAGE)
            elif due is not None and abs(aware(due) - now) > MAX_DUE_DISTANCE:
                errors.add("next_due_time", "must be within 100 years from now")
            changes.next_due_time = aware(due) if due is not None else None
    return changes


def update_paths(update: ChoreUpdate) -> list[str]:
    """The fields an update sets, by the chore's update mask (AIP-134: see kit.field_mask)."""
    return CHORE_MASK.paths(update.mask, present=update.populated)


def merged_members(update: ChoreUpdate) -> dict[str, tuple[str, ...]]:
    """The recurrence's and the assignment's members the mask names (when it does not name them whole): the
    update merges these into the stored values (`merged`)."""
    return CHORE_MASK.nested_paths(update.mask)


def stored_recurrence(data: dict[str, Any]) -> RecurrenceInput:
    """A stored recurrence (scheduling.Recurrence.as_json) as the input that would make it again."""
    stored = scheduling.Recurrence.from_json(data)
    return RecurrenceInput(
        kind=stored.kind,
        every=stored.every,
        unit=stored.unit or "",
        rolling=stored.rolling,
        months=stored.months,
        days=stored.days,
        time=stored.time,
        day_of_month=stored.day_of_month,
        weekday=stored.weekday,
        week=stored.week,
        month=stored.month,
        day=stored.day,
        rrule=stored.rrule,
    )


def stored_assignment(data: dict[str, Any]) -> AssignmentInput:
    stored = assigning.Assignment.from_json(data)
    return AssignmentInput(
        strategy=stored.strategy,
        assignees=stored.assignees,
        rotate=stored.rotate,
        on_miss=stored.on_miss,
        grace_minutes=stored.grace_minutes,
        miss_penalty_points=stored.miss_penalty_points,
    )


def merged(
    data: ChoreInput,
    members: dict[str, tuple[str, ...]],
    *,
    recurrence: dict[str, Any],
    assignment: dict[str, Any],
) -> ChoreInput:
    """`data` with its recurrence and assignment merged into the stored ones (`recurrence`, `assignment`: the
    chore's JSONB) for the members named: a named member takes the sent value (its default, when the request
    leaves it out: a merge patch's null), the others keep theirs. A recurrence of another kind than the stored
    one — the request's oneof, or the kind its member paths name — replaces the stored one whole: nothing of the
    old kind survives (rolling and months neither). Validated afterwards like any chore input."""
    if "assignment" in members:
        sent = data.assignment or AssignmentInput()
        values = {member: getattr(sent, member) for member in members["assignment"]}
        data = replace(data, assignment=replace(stored_assignment(assignment), **values))
    if "recurrence" in members:
        names = members["recurrence"]
        given = data.recurrence or RecurrenceInput()
        base = stored_recurrence(recurrence)
        kinds = {name.partition(".")[0] for name in names} - set(RECURRENCE_COMMON)
        if len(kinds | ({given.kind} if given.kind else set())) > 1:
            raise invalid("update_mask", "names the members of more than one recurrence kind")
        kind = given.kind or next(iter(kinds), base.kind)
        if kind != base.kind:
            value = replace(given, kind=kind)
        else:
            values = {}
            for name in names:
                member = name.partition(".")[2] if "." in name else name
                if member in RECURRENCE_COMMON or "." in name:
                    values[member] = getattr(given, member)
            value = replace(base, **values)
        data = replace(data, recurrence=value)
    return data


# --- completions -------------------------------------------------------------------------------------


def completion(data: CompleteInput, household_id: uuid.UUID, now: datetime, errors: Violations) -> ValidCompletion:
    completed_at = aware(data.complete_time) if data.complete_time else now
    if not timestamps.in_range(completed_at):
        errors.add("complete_time", timestamps.RANGE_MESSAGE)
    elif completed_at > now + FUTURE_TOLERANCE:
        errors.add("complete_time", "must not be in the future")
    note = errors.text("note", data.note, max_length=MAX_NOTE)
    photo = ""
    if isinstance(data.photo, Unreadable):
        errors.add("photo", "must be households/{household}/photos/{photo}")
    elif data.photo is not None:
        if data.photo.household_id != household_id:
            errors.add("photo", "must be a photo of this household")
        photo = data.photo.name
    errors.request_id(data.request_id)
    completed_by: uuid.UUID | None = None
    if isinstance(data.completed_by, Unreadable):
        errors.add("completed_by", "must name a user (users/{id})")
    else:
        completed_by = data.completed_by
    return ValidCompletion(completed_at=completed_at, note=note, photo=photo, completed_by=completed_by)


def earliest_completion(*, create_time: datetime, anchor_time: datetime | None) -> datetime:
    """The earliest time a completion of a chore may be dated: its creation or the start of its schedule (the
    anchor, never after the first due time), whichever is earlier, less a day's grace for logging late."""
    start = create_time if anchor_time is None else min(create_time, anchor_time)
    return start - BACKDATE_TOLERANCE


# --- lists -------------------------------------------------------------------------------------------


def order(order_by: str, errors: Violations) -> tuple[ChoreOrder, bool]:
    """ListChores `order_by`: a sort key, optionally followed by "asc" or "desc" (default: due_at ascending)."""
    words = order_by.split()
    if not words:
        return "due_at", False
    name, direction = words[0], [w.lower() for w in words[1:]]
    if name not in ORDERS or direction not in ([], ["asc"], ["desc"]):
        errors.add("order_by", f'must be one of {", ".join(ORDERS)}, optionally followed by " desc"')
        return "due_at", False
    return name, direction == ["desc"]


def _filter_text(value: str, name: str, limit: int, errors: Violations) -> None:
    """A free-text filter: bounded, and nothing PostgreSQL refuses (NUL) or nobody can see."""
    if len(value) > limit:
        errors.add(name, f"must be at most {limit} characters")
    elif has_control_characters(value):
        errors.add(name, CONTROL_CHARACTERS_MESSAGE)


def start_of_tomorrow(now: datetime, tz: tzinfo) -> datetime:
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=tz).astimezone(UTC)


def chore_filter(
    query: ListChoresQuery, *, assignee_id: uuid.UUID | None, now: datetime, tz: tzinfo, errors: Violations
) -> ChoreFilter:
    """ListChores' filters as repository conditions (`status` bounds the due time in the household's zone:
    see service.py). `assignee_id` is the assignee filter with ME already resolved to the caller."""
    if query.status not in STATUSES:
        errors.add("status", "must be one of due, overdue, upcoming, archived, done (or empty)")
    _filter_text(query.query, "query", MAX_QUERY, errors)
    _filter_text(query.category, "category", MAX_CATEGORY, errors)
    _filter_text(query.label, "label", MAX_LABEL, errors)
    for name, value in (("due_after", query.due_after), ("due_before", query.due_before)):
        if value is not None and not timestamps.in_range(value):
            errors.add(name, timestamps.RANGE_MESSAGE)
    if isinstance(query.assignee, Unreadable):
        errors.add("assignee", "must name a user (users/{id})")
    due_after = aware(query.due_after) if query.due_after else None
    due_before = aware(query.due_before) if query.due_before else None
    states: tuple[str, ...] = (ACTIVE,)
    if query.status == "overdue":
        due_before = min(due_before, now) if due_before else now
    elif query.status == "due":
        end_of_today = start_of_tomorrow(now, tz)
        due_before = min(due_before, end_of_today) if due_before else end_of_today
    elif query.status == "upcoming":
        start = start_of_tomorrow(now, tz)
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
