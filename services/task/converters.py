"""Protobuf ↔ domain for the task service: requests into service inputs, rows into resources."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from hearth.task.v1 import task_pb2

from kit import timestamps
from kit.names import user_name
from services.task import scheduling
from services.task.models import ACTIVE, ARCHIVED, DONE, Chore, Completion
from services.task.service import (
    AssignmentInput,
    ChoreInput,
    ChoreUpdate,
    CompleteInput,
    ListChoresQuery,
    RecurrenceInput,
    etag_of,
)

Recurrence = task_pb2.Recurrence
Assignment = task_pb2.Assignment

STATES = {ACTIVE: task_pb2.Chore.ACTIVE, DONE: task_pb2.Chore.DONE, ARCHIVED: task_pb2.Chore.ARCHIVED}


def _set_time(target: Timestamp, value: datetime | None) -> None:
    if value is not None:
        target.FromDatetime(value.astimezone(UTC))


def _enum_name(enum: Any, value: int, prefix: str = "") -> str:
    """UNIT_UNSPECIFIED/0 → ""; HOURS → "hours"; an unknown number → its number (refused by validation)."""
    if value == 0:
        return ""
    try:
        return str(enum.Name(value)).removeprefix(prefix).lower()
    except ValueError:
        return str(value)


# --- requests → inputs -----------------------------------------------------------------------------


def recurrence_input(message: task_pb2.Recurrence) -> RecurrenceInput:
    kind = message.WhichOneof("kind") or ""
    every, unit = 0, ""
    if kind == "interval":
        every, unit = message.interval.every, _enum_name(Recurrence.Interval.Unit, message.interval.unit)
    return RecurrenceInput(kind=kind, every=every, unit=unit, rolling=message.rolling, months=tuple(message.months))


def assignment_input(message: task_pb2.Assignment) -> AssignmentInput:
    return AssignmentInput(
        strategy=_enum_name(Assignment.Strategy, message.strategy),
        assignees=tuple(message.assignees),
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
    )


def populated_fields(message: task_pb2.Chore) -> frozenset[str]:
    """The updatable fields a client set (the implied update mask when none is given, AIP-134)."""
    present = {
        "title": bool(message.title),
        "description": bool(message.description),
        "category": bool(message.category),
        "labels": bool(message.labels),
        "points": bool(message.points),
        "estimated_minutes": message.HasField("estimated_minutes"),
        "recurrence": message.HasField("recurrence"),
        "assignment": message.HasField("assignment"),
        "next_due_time": message.HasField("next_due_time"),
        "reminders": bool(message.reminders),
        "requires_photo": message.requires_photo,
        "requires_approval": message.requires_approval,
    }
    return frozenset(name for name, is_set in present.items() if is_set)


def chore_update(request: task_pb2.UpdateChoreRequest) -> ChoreUpdate:
    return ChoreUpdate(
        chore=chore_input(request.chore),
        mask=tuple(request.update_mask.paths),
        populated=populated_fields(request.chore),
        etag=request.chore.etag,
    )


def list_query(request: task_pb2.ListChoresRequest) -> ListChoresQuery:
    return ListChoresQuery(
        page_size=request.page_size,
        page_token=request.page_token,
        assignee=request.assignee,
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
        photo=request.photo,
        completed_by=request.completed_by,
        request_id=request.request_id,
    )


# --- rows → resources ------------------------------------------------------------------------------


def recurrence_to_proto(recurrence: scheduling.Recurrence) -> task_pb2.Recurrence:
    message = Recurrence(rolling=recurrence.rolling, months=list(recurrence.months))
    if recurrence.kind == "once":
        message.once.SetInParent()
    else:
        assert recurrence.unit is not None
        message.interval.CopyFrom(Recurrence.Interval(every=recurrence.every, unit=recurrence.unit.upper()))
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


def chore_to_proto(chore: Chore) -> task_pb2.Chore:
    message = task_pb2.Chore(
        name=chore_name(chore),
        title=chore.title,
        description=chore.description,
        category=chore.category,
        labels=list(chore.labels),
        points=chore.points,
        recurrence=recurrence_to_proto(scheduling.Recurrence.from_json(chore.recurrence)),
        assignment=assignment_to_proto(scheduling.Assignment.from_json(chore.assignment)),
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
    _set_time(message.next_due_time, chore.next_due_time)
    _set_time(message.last_completion_time, chore.last_completion_time)
    _set_time(message.create_time, chore.create_time)
    _set_time(message.update_time, chore.update_time)
    return message


def completion_to_proto(completion: Completion) -> task_pb2.Completion:
    message = task_pb2.Completion(
        name=f"households/{completion.household_id}/chores/{completion.chore_id}/completions/{completion.id}",
        completed_by=user_name(completion.completed_by),
        note=completion.note,
        photo=completion.photo,
        points=completion.points,
        on_time=completion.on_time,
        recorder=user_name(completion.recorder_id),
    )
    _set_time(message.complete_time, completion.complete_time)
    _set_time(message.due_time, completion.due_time)
    _set_time(message.create_time, completion.create_time)
    return message
