"""Protobuf ↔ domain for the task service: requests into service inputs, rows into resources.

Resource names are read here, and only here: the use cases take ids. A request's own name or parent that does
not parse is INVALID_ARGUMENT at once (nothing else can be checked without it); a reference inside the request
(an assignee, a photo, `completed_by`) that does not parse travels on as `validation.Unreadable`, so it is
reported with every other bad field of the request (and only when the field matters to it).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

from google.protobuf.timestamp_pb2 import Timestamp
from hearth.task.v1 import task_pb2

from kit import timestamps
from kit.errors import InvalidArgument, invalid
from kit.field_mask import present_fields
from kit.ids import parse_id
from kit.names import parse_ids, parse_name, user_name
from services.task import scheduling, subtasks
from services.task.categories import Listed
from services.task.inputs import (
    AssignmentInput,
    ChoreInput,
    ChoreUpdate,
    CompleteInput,
    ListChoresQuery,
    PhotoRef,
    RecurrenceInput,
    SubtaskInput,
    Unreadable,
)
from services.task.models import (
    ACTIVE,
    APPROVED,
    ARCHIVED,
    DONE,
    OUTCOME_DONE,
    OUTCOME_MISSED,
    OUTCOME_SKIPPED,
    PENDING,
    REJECTED,
    THUMBNAIL_FAILED,
    THUMBNAIL_PENDING,
    THUMBNAIL_READY,
    Chore,
    Completion,
    Occurrence,
    Photo,
    PointEntry,
    Reward,
    etag_of,
)

HOUSEHOLD = "households/{household}"
CHORE = "households/{household}/chores/{chore}"
PHOTO = "households/{household}/photos/{photo}"
USER = "users/{user}"
COMPLETION = "households/{household}/chores/{chore}/completions/{completion}"
OUTCOMES = {
    OUTCOME_DONE: task_pb2.Occurrence.DONE,
    OUTCOME_SKIPPED: task_pb2.Occurrence.SKIPPED,
    OUTCOME_MISSED: task_pb2.Occurrence.MISSED,
}
# A completion's review (models.Completion.status) on the wire, and back (ListCompletions' status filter).
REVIEW_STATUSES = {
    APPROVED: task_pb2.Completion.APPROVED,
    PENDING: task_pb2.Completion.PENDING,
    REJECTED: task_pb2.Completion.REJECTED,
}
REVIEW_STATUS_NAMES = {value: key for key, value in REVIEW_STATUSES.items()}
ALL_CHORES = "-"  # AIP-159: households/{h}/chores/- lists completions of every chore

Recurrence = task_pb2.Recurrence
Assignment = task_pb2.Assignment

STATES = {ACTIVE: task_pb2.Chore.ACTIVE, DONE: task_pb2.Chore.DONE, ARCHIVED: task_pb2.Chore.ARCHIVED}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _set_time(target: Timestamp, value: datetime | None) -> None:
    """Timestamp.FromDatetime's result for an aware datetime, in integer arithmetic (exact, and about twice as
    fast: this runs four times per chore of every list)."""
    if value is not None:
        delta = value - _EPOCH
        target.seconds = delta.days * 86400 + delta.seconds
        target.nanos = delta.microseconds * 1000


def _enum_name(enum: Any, value: int, prefix: str = "") -> str:
    """UNIT_UNSPECIFIED/0 → ""; HOURS → "hours"; an unknown number → its number (refused by validation)."""
    if value == 0:
        return ""
    try:
        return str(enum.Name(value)).removeprefix(prefix).lower()
    except ValueError:
        return str(value)


# --- names → ids -----------------------------------------------------------------------------------


# Every list and create names its household: the same few parents, parsed once each (a bad one raises, and
# raising is never cached).
@functools.lru_cache(maxsize=4096)
def household_id(parent: str) -> uuid.UUID:
    """The household of `parent` (households/{household}); INVALID_ARGUMENT on `parent`."""
    return parse_ids(parent, HOUSEHOLD, field="parent")["household"]


def chore_ids(name: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(household, chore) of households/{household}/chores/{chore}; INVALID_ARGUMENT on `name`."""
    ids = parse_ids(name, CHORE)
    return ids["household"], ids["chore"]


def completion_ids(name: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """(household, chore, completion) of households/{h}/chores/{c}/completions/{id}; INVALID_ARGUMENT on `name`."""
    ids = parse_ids(name, COMPLETION)
    return ids["household"], ids["chore"], ids["completion"]


def completions_parent(parent: str) -> tuple[uuid.UUID, uuid.UUID | None]:
    """(household, chore) of a ListCompletions parent; chore None for every chore (households/{h}/chores/-)."""
    names = parse_name(parent, CHORE, field="parent")
    household = parse_id(names["household"])
    chore = None if names["chore"] == ALL_CHORES else parse_id(names["chore"])
    if household is None or (chore is None and names["chore"] != ALL_CHORES):
        raise invalid("parent", f"must look like {CHORE} (chore id or -)")
    return household, chore


def user_ref(value: str) -> uuid.UUID | Unreadable:
    """The id in "users/{id}" (a bare id is accepted too)."""
    user_id = parse_id(value.removeprefix("users/"))
    return Unreadable(value) if user_id is None else user_id


def assignee_filter(value: str) -> uuid.UUID | Literal["me"] | Unreadable | None:
    if not value:
        return None
    if value in ("me", "users/me"):
        return "me"
    return user_ref(value)


def photo_ref(value: str) -> PhotoRef | Unreadable | None:
    photo = value.strip()
    if not photo:
        return None
    try:
        ids = parse_ids(photo, PHOTO, field="photo")
    except InvalidArgument:
        return Unreadable(photo)
    return PhotoRef(name=photo, household_id=ids["household"], photo_id=ids["photo"])


# --- requests → inputs -----------------------------------------------------------------------------


def recurrence_input(message: task_pb2.Recurrence) -> RecurrenceInput:
    kind = message.WhichOneof("kind") or ""
    common = RecurrenceInput(kind=kind, rolling=message.rolling, months=tuple(message.months))
    if kind == "interval":
        unit = _enum_name(Recurrence.Interval.Unit, message.interval.unit)
        return replace(common, every=message.interval.every, unit=unit)
    if kind == "adaptive":
        unit = _enum_name(Recurrence.Interval.Unit, message.adaptive.unit)
        return replace(common, every=message.adaptive.every, unit=unit)
    if kind == "weekly":
        weekly = message.weekly
        return replace(common, every=weekly.every, days=tuple(weekly.days), time=weekly.time)
    if kind == "monthly":
        monthly = message.monthly
        return replace(
            common,
            every=monthly.every,
            day_of_month=monthly.day_of_month,
            weekday=monthly.weekday,
            week=monthly.week,
        )
    if kind == "yearly":
        yearly = message.yearly
        return replace(common, every=yearly.every, month=yearly.month, day=yearly.day)
    if kind == "rrule":
        return replace(common, rrule=message.rrule.rrule)
    return common


def assignment_input(message: task_pb2.Assignment) -> AssignmentInput:
    return AssignmentInput(
        strategy=_enum_name(Assignment.Strategy, message.strategy),
        assignees=tuple(user_ref(assignee) for assignee in message.assignees),
        rotate=_enum_name(Assignment.Rotate, message.rotate),
        on_miss=_enum_name(Assignment.OnMiss, message.on_miss),
        grace_minutes=message.grace_minutes,
        miss_penalty_points=message.miss_penalty_points,
    )


def chore_input(message: task_pb2.Chore) -> ChoreInput:
    return ChoreInput(
        title=message.title,
        description=message.description,
        category=message.category,
        labels=tuple(message.labels),
        points=message.points,
        estimated_minutes=message.estimated_minutes if message.HasField("estimated_minutes") else None,
        recurrence=recurrence_input(message.recurrence) if message.HasField("recurrence") else None,
        assignment=assignment_input(message.assignment) if message.HasField("assignment") else None,
        next_due_time=timestamps.from_proto(message, "next_due_time"),
        reminders=tuple(reminder.before_minutes for reminder in message.reminders),
        requires_photo=message.requires_photo,
        requires_approval=message.requires_approval,
        subtasks=tuple(SubtaskInput(id=item.id, title=item.title) for item in message.subtasks),
    )


def chore_update(request: task_pb2.UpdateChoreRequest) -> ChoreUpdate:
    return ChoreUpdate(
        chore=chore_input(request.chore),
        mask=tuple(request.update_mask.paths),
        populated=present_fields(request.chore),
        etag=request.chore.etag,
    )


def list_query(request: task_pb2.ListChoresRequest) -> ListChoresQuery:
    return ListChoresQuery(
        page_size=request.page_size,
        page_token=request.page_token,
        assignee=assignee_filter(request.assignee),
        category=request.category,
        label=request.label,
        status=request.status,
        due_before=timestamps.from_proto(request, "due_before"),
        due_after=timestamps.from_proto(request, "due_after"),
        query=request.query,
        order_by=request.order_by,
    )


def complete_input(request: task_pb2.CompleteChoreRequest) -> CompleteInput:
    return CompleteInput(
        complete_time=timestamps.from_proto(request, "complete_time"),
        note=request.note,
        photo=photo_ref(request.photo),
        completed_by=user_ref(request.completed_by) if request.completed_by else None,
        request_id=request.request_id,
    )


# --- rows → resources ------------------------------------------------------------------------------


def recurrence_to_proto(recurrence: scheduling.Recurrence) -> task_pb2.Recurrence:
    message = Recurrence(rolling=recurrence.rolling, months=list(recurrence.months))
    every = recurrence.every
    if recurrence.kind == "once":
        message.once.SetInParent()
    elif recurrence.kind == "interval":
        assert recurrence.unit is not None
        message.interval.CopyFrom(Recurrence.Interval(every=every, unit=recurrence.unit.upper()))
    elif recurrence.kind == "weekly":
        message.weekly.CopyFrom(Recurrence.Weekly(every=every, days=recurrence.days, time=recurrence.time))
    elif recurrence.kind == "monthly":
        message.monthly.CopyFrom(
            Recurrence.Monthly(
                every=every, day_of_month=recurrence.day_of_month, weekday=recurrence.weekday, week=recurrence.week
            )
        )
    elif recurrence.kind == "yearly":
        message.yearly.CopyFrom(Recurrence.Yearly(every=every, month=recurrence.month, day=recurrence.day))
    elif recurrence.kind == "rrule":
        message.rrule.CopyFrom(Recurrence.RRule(rrule=recurrence.rrule))
    elif recurrence.unit is not None:  # adaptive, with a first guess
        message.adaptive.CopyFrom(Recurrence.Adaptive(every=every, unit=recurrence.unit.upper()))
    else:
        message.adaptive.SetInParent()
    return message


def assignment_to_proto(assignment: scheduling.Assignment) -> task_pb2.Assignment:
    return Assignment(
        # Enum fields accept their value names.
        strategy=assignment.strategy.upper(),
        assignees=[user_name(a) for a in assignment.assignees],
        rotate=assignment.rotate.upper() or None,
        on_miss=assignment.on_miss.upper() or None,
        grace_minutes=assignment.grace_minutes,
        miss_penalty_points=assignment.miss_penalty_points,
    )


def chore_name(chore: Chore) -> str:
    return f"households/{chore.household_id}/chores/{chore.id}"


# A chore's columns as a plain row (repository.RESOURCE_COLUMNS, the read paths) or as a Chore (the write paths):
# the same attribute names, except that a row holds the two JSONB columns as their text.
ChoreRow = Any


def _subtasks_of(items: Sequence[Mapping[str, str]], ticks: Mapping[str, Any], due: datetime | None) -> list[Any]:
    done = subtasks.done_ids(ticks, due)
    return [task_pb2.Subtask(id=item["id"], title=item["title"], done=item["id"] in done) for item in items]


def _chore_message(
    chore: Chore | ChoreRow,
    recurrence: Recurrence,
    assignment: Assignment,
    items: Sequence[Mapping[str, str]] = (),
    ticks: Mapping[str, Any] | None = None,
) -> task_pb2.Chore:
    """The one place a chore's columns become its resource (both `chore_to_proto` and `chore_row_to_proto`)."""
    message = task_pb2.Chore(
        name=f"households/{chore.household_id}/chores/{chore.id}",
        title=chore.title,
        description=chore.description,
        category=chore.category,
        labels=chore.labels,
        points=chore.points,
        recurrence=recurrence,
        assignment=assignment,
        assignee=user_name(chore.assignee_id),
        reminders=[task_pb2.Reminder(before_minutes=minutes) for minutes in chore.reminders],
        requires_photo=chore.requires_photo,
        requires_approval=chore.requires_approval,
        state=STATES[chore.state],
        creator=user_name(chore.creator_id),
        etag=etag_of(chore),
    )
    if chore.estimated_minutes is not None:
        message.estimated_minutes = chore.estimated_minutes
    if items:
        message.subtasks.extend(_subtasks_of(items, ticks or {}, chore.next_due_time))
    _set_time(message.next_due_time, chore.next_due_time)
    _set_time(message.last_completion_time, chore.last_completion_time)
    _set_time(message.create_time, chore.create_time)
    _set_time(message.update_time, chore.update_time)
    return message


def chore_to_proto(chore: Chore) -> task_pb2.Chore:
    return _chore_message(
        chore,
        recurrence_to_proto(scheduling.Recurrence.from_json(chore.recurrence)),
        assignment_to_proto(scheduling.Assignment.from_json(chore.assignment)),
        chore.subtasks,
        chore.ticks,
    )


# Chores of a household share a handful of schedules and assignments: each distinct JSONB text is parsed and
# converted once. Bounded; the messages are never mutated (a message field set from one is a copy).
@functools.lru_cache(maxsize=4096)
def _recurrence_of(text: str) -> Recurrence:
    return recurrence_to_proto(scheduling.Recurrence.from_json(json.loads(text)))


@functools.lru_cache(maxsize=4096)
def _assignment_of(text: str) -> Assignment:
    return assignment_to_proto(scheduling.Assignment.from_json(json.loads(text)))


def chore_row_to_proto(row: ChoreRow) -> task_pb2.Chore:
    """A row of repository.RESOURCE_COLUMNS as its resource: what chore_to_proto makes of the same chore."""
    # Most chores have no subtasks: their "[]" is not parsed.
    if row.subtasks == "[]":
        return _chore_message(row, _recurrence_of(row.recurrence), _assignment_of(row.assignment))
    return _chore_message(
        row,
        _recurrence_of(row.recurrence),
        _assignment_of(row.assignment),
        json.loads(row.subtasks),
        json.loads(row.ticks),
    )


def completion_to_proto(completion: Completion) -> task_pb2.Completion:
    message = task_pb2.Completion(
        name=f"households/{completion.household_id}/chores/{completion.chore_id}/completions/{completion.id}",
        completed_by=user_name(completion.completed_by),
        note=completion.note,
        photo=completion.photo,
        points=completion.points,
        on_time=completion.on_time,
        recorder=user_name(completion.recorder_id),
        status=REVIEW_STATUSES[completion.status],
        reviewer=user_name(completion.reviewer_id) if completion.reviewer_id is not None else "",
        review_note=completion.review_note,
        assignee=user_name(completion.assignee_id) if completion.assignee_id is not None else "",
        subtasks_done=[
            task_pb2.Subtask(id=item["id"], title=item["title"], done=True) for item in completion.subtasks_done
        ],
    )
    _set_time(message.complete_time, completion.complete_time)
    _set_time(message.due_time, completion.due_time)
    _set_time(message.create_time, completion.create_time)
    _set_time(message.review_time, completion.review_time)
    return message


# --- categories (services.task.categories) ----------------------------------------------------------------

CATEGORY = "households/{household}/categories/{category}"


def category_ids(name: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(household, category) of households/{household}/categories/{category}; INVALID_ARGUMENT on `name`."""
    ids = parse_ids(name, CATEGORY)
    return ids["household"], ids["category"]


def category_to_proto(listed: Listed) -> task_pb2.Category:
    category = listed.category
    message = task_pb2.Category(
        name=f"households/{category.household_id}/categories/{category.id}",
        display_name=category.name,
        chore_count=listed.chore_count,
    )
    _set_time(message.create_time, category.create_time)
    _set_time(message.update_time, category.update_time)
    return message


# --- points and rewards (services.task.points) ------------------------------------------------------------

REWARD = "households/{household}/rewards/{reward}"


SUBTASK = "households/{household}/chores/{chore}/subtasks/{subtask}"


def subtask_ids(name: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """(household, chore, subtask) of households/{h}/chores/{c}/subtasks/{s}; INVALID_ARGUMENT on `name`."""
    ids = parse_ids(name, SUBTASK)
    return ids["household"], ids["chore"], ids["subtask"]


def reward_ids(name: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(household, reward) of households/{household}/rewards/{reward}; INVALID_ARGUMENT on `name`."""
    ids = parse_ids(name, REWARD)
    return ids["household"], ids["reward"]


def optional_user(value: str, *, field: str = "user") -> uuid.UUID | None:
    """users/{user}, or None when empty; INVALID_ARGUMENT on `field` when it does not parse."""
    return parse_ids(value, USER, field=field)["user"] if value else None


def point_entry_to_proto(entry: PointEntry) -> task_pb2.PointEntry:
    message = task_pb2.PointEntry(
        name=f"households/{entry.household_id}/points/{entry.id}",
        user=user_name(entry.user_id),
        delta=entry.delta,
        reason=task_pb2.PointEntry.Reason.Name(task_pb2.PointEntry.Reason.Value(entry.reason.upper())),
        completion_id=str(entry.completion_id or ""),
        reward_id=str(entry.reward_id or ""),
        balance=entry.balance,
    )
    _set_time(message.create_time, entry.create_time)
    return message


def reward_to_proto(reward: Reward) -> task_pb2.Reward:
    message = task_pb2.Reward(
        name=f"households/{reward.household_id}/rewards/{reward.id}",
        title=reward.title,
        description=reward.description,
        cost=reward.cost,
        creator=user_name(reward.creator_id),
    )
    _set_time(message.create_time, reward.create_time)
    return message


def redemption_to_proto(entry: PointEntry, cost: int) -> task_pb2.Redemption:
    message = task_pb2.Redemption(
        name=f"households/{entry.household_id}/rewards/{entry.reward_id}/redemptions/{entry.id}",
        user=user_name(entry.user_id),
        cost=cost,
        balance=entry.balance,
    )
    _set_time(message.create_time, entry.create_time)
    return message


def occurrence_to_proto(occurrence: Occurrence) -> task_pb2.Occurrence:
    chore = f"households/{occurrence.household_id}/chores/{occurrence.chore_id}"
    message = task_pb2.Occurrence(
        name=f"{chore}/occurrences/{occurrence.id}",
        assignee=user_name(occurrence.assignee_id),
        outcome=OUTCOMES[occurrence.outcome],
        completed_by=user_name(occurrence.completed_by),
        recorder=user_name(occurrence.recorder_id),
        completion=f"{chore}/completions/{occurrence.completion_id}" if occurrence.completion_id else "",
    )
    _set_time(message.due_time, occurrence.due_time)
    _set_time(message.end_time, occurrence.end_time)
    return message


# --- photos (services.task.photos) --------------------------------------------------------------------------------

_THUMBNAIL_STATES = {
    THUMBNAIL_PENDING: task_pb2.Photo.PENDING,
    THUMBNAIL_READY: task_pb2.Photo.READY,
    THUMBNAIL_FAILED: task_pb2.Photo.FAILED,
}


def photo_to_proto(photo: Photo) -> task_pb2.Photo:
    message = task_pb2.Photo(
        name=f"households/{photo.household_id}/photos/{photo.id}",
        uploader=user_name(photo.uploaded_by) if photo.uploaded_by is not None else "",
        content_type=photo.content_type,
        size=photo.size,
        sha256=photo.sha256,
        width=photo.width,
        height=photo.height,
        thumbnail_state=_THUMBNAIL_STATES[photo.thumbnail_state],
    )
    _set_time(message.create_time, photo.create_time)
    return message
