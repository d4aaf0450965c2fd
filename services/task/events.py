"""The task service's event payloads (hearth.events.v1), built from the rows as they are after the change.

The use case writes each with `kit.outbox.add_event(session, payload, ...)` in the transaction of its change;
the event type follows from the payload (the catalogue, kit.catalogue).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from hearth.events.v1 import events_pb2

from services.task.models import Chore, Completion


def _set(target: Timestamp, value: datetime | None) -> None:
    if value is not None:
        target.FromDatetime(value.astimezone(UTC))


def _id(value: object | None) -> str:
    return "" if value is None else str(value)


def chore_created(chore: Chore) -> events_pb2.ChoreCreated:
    payload = events_pb2.ChoreCreated(
        household_id=str(chore.household_id),
        chore_id=str(chore.id),
        title=chore.title,
        assignee_id=_id(chore.assignee_id),
        points=chore.points,
    )
    _set(payload.next_due_at, chore.next_due_time)
    return payload


def chore_completed(chore: Chore, completion: Completion) -> events_pb2.ChoreCompleted:
    """`chore` after the completion was applied: its next due time and next assignee (none once done)."""
    payload = events_pb2.ChoreCompleted(
        household_id=str(chore.household_id),
        chore_id=str(chore.id),
        completion_id=str(completion.id),
        title=chore.title,
        completed_by=str(completion.completed_by),
        points=completion.points,
        estimated_minutes=chore.estimated_minutes or 0,
        on_time=completion.on_time,
        next_assignee_id=_id(chore.assignee_id) if chore.next_due_time is not None else "",
    )
    _set(payload.completed_at, completion.complete_time)
    _set(payload.due_at, completion.due_time)
    _set(payload.next_due_at, chore.next_due_time)
    return payload


def chore_updated(chore: Chore, changed: Sequence[str]) -> events_pb2.ChoreUpdated:
    """`changed`: the update mask paths whose values changed."""
    payload = events_pb2.ChoreUpdated(
        household_id=str(chore.household_id),
        chore_id=str(chore.id),
        title=chore.title,
        changed=list(changed),
        assignee_id=_id(chore.assignee_id),
    )
    _set(payload.next_due_at, chore.next_due_time)
    return payload


def chore_assigned(chore: Chore) -> events_pb2.ChoreAssigned:
    payload = events_pb2.ChoreAssigned(
        household_id=str(chore.household_id),
        chore_id=str(chore.id),
        title=chore.title,
        assignee_id=_id(chore.assignee_id),
    )
    _set(payload.next_due_at, chore.next_due_time)
    return payload


def chore_archived(chore: Chore) -> events_pb2.ChoreArchived:
    return events_pb2.ChoreArchived(household_id=str(chore.household_id), chore_id=str(chore.id), title=chore.title)


def chore_skipped(chore: Chore, *, due: datetime, skipped_by: object) -> events_pb2.ChoreSkipped:
    """`chore` after the skip: its next due time and next assignee."""
    payload = events_pb2.ChoreSkipped(
        household_id=str(chore.household_id),
        chore_id=str(chore.id),
        title=chore.title,
        skipped_by=str(skipped_by),
        next_assignee_id=_id(chore.assignee_id) if chore.next_due_time is not None else "",
    )
    _set(payload.due_at, due)
    _set(payload.next_due_at, chore.next_due_time)
    return payload


def chore_snoozed(chore: Chore, *, previous_due: datetime | None) -> events_pb2.ChoreSnoozed:
    payload = events_pb2.ChoreSnoozed(
        household_id=str(chore.household_id),
        chore_id=str(chore.id),
        title=chore.title,
        assignee_id=_id(chore.assignee_id),
    )
    _set(payload.previous_due_at, previous_due)
    _set(payload.next_due_at, chore.next_due_time)
    return payload


def completion_undone(chore: Chore, completion: Completion) -> events_pb2.CompletionUndone:
    """`chore` as the undo restored it."""
    payload = events_pb2.CompletionUndone(
        household_id=str(chore.household_id),
        chore_id=str(chore.id),
        completion_id=str(completion.id),
        title=chore.title,
        completed_by=str(completion.completed_by),
        points=completion.points,
        assignee_id=_id(chore.assignee_id),
    )
    _set(payload.next_due_at, chore.next_due_time)
    return payload
