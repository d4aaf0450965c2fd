"""The task service's event payloads (hearth.events.v1), built from the rows as they are after the change.

The use case writes each with `kit.outbox.add_event(session, payload, ...)` in the transaction of its change;
the event type follows from the payload (the catalogue, kit.catalogue).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from hearth.events.v1 import events_pb2

from services.task.models import APPROVED, Chore, Completion, Occurrence

# chore.assigned's reasons.
ASSIGNED_MISSED, ASSIGNED_ROTATION, ASSIGNED_CLAIM = "missed", "rotation", "claim"


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
    """`chore` after the completion was applied: its next due time and next assignee (none once done); for a pending
    completion approved later, the chore as it is at the approval."""
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
        # What is taken back: nothing for a pending completion, which had earned nothing yet.
        points=completion.points if completion.status == APPROVED else 0,
        assignee_id=_id(chore.assignee_id),
    )
    _set(payload.next_due_at, chore.next_due_time)
    return payload


def completion_submitted(chore: Chore, completion: Completion) -> events_pb2.CompletionSubmitted:
    payload = events_pb2.CompletionSubmitted(
        household_id=str(chore.household_id),
        chore_id=str(chore.id),
        completion_id=str(completion.id),
        title=chore.title,
        completed_by=str(completion.completed_by),
        points=completion.points,
    )
    _set(payload.completed_at, completion.complete_time)
    return payload


def completion_approved(chore: Chore, completion: Completion, reviewer: uuid.UUID) -> events_pb2.CompletionApproved:
    return events_pb2.CompletionApproved(
        household_id=str(chore.household_id),
        chore_id=str(chore.id),
        completion_id=str(completion.id),
        title=chore.title,
        completed_by=str(completion.completed_by),
        approved_by=str(reviewer),
        points=completion.points,
    )


def completion_rejected(
    chore: Chore, completion: Completion, reviewer: uuid.UUID, *, reopened: bool, missed: Occurrence | None = None
) -> events_pb2.CompletionRejected:
    """`chore` after the rejection (reopened: its schedule as before the completion; else `missed`, the occurrence
    that now counts as missed, when it was not marked missed already)."""
    payload = events_pb2.CompletionRejected(
        household_id=str(chore.household_id),
        chore_id=str(chore.id),
        completion_id=str(completion.id),
        title=chore.title,
        completed_by=str(completion.completed_by),
        rejected_by=str(reviewer),
        note=completion.review_note,
        reopened=reopened,
        assignee_id=_id(chore.assignee_id),
    )
    _set(payload.next_due_at, chore.next_due_time)
    if missed is not None:
        payload.missed_occurrence_id = str(missed.id)
        payload.missed_assignee_id = _id(missed.assignee_id)
        _set(payload.missed_due_at, missed.due_time)
    return payload


def chore_overdue(
    chore: Chore,
    *,
    due: datetime,
    held_by: object | None,
    penalty: int,
    occurrence_id: object,
    grace_minutes: int,
) -> events_pb2.ChoreOverdue:
    """`chore` after its occurrence due at `due` was marked missed: its next occurrence (unset when a one-off chore
    stays overdue) and who has it; `held_by` held the missed one."""
    moved_on = chore.next_due_time is not None and chore.next_due_time != due
    payload = events_pb2.ChoreOverdue(
        household_id=str(chore.household_id),
        chore_id=str(chore.id),
        title=chore.title,
        assignee_id=_id(held_by),
        grace_minutes=grace_minutes,
        penalty_points=penalty,
        next_assignee_id=_id(chore.assignee_id),
        occurrence_id=str(occurrence_id),
    )
    _set(payload.due_at, due)
    if moved_on:
        _set(payload.next_due_at, chore.next_due_time)
    return payload


def chore_due_soon(chore: Chore, *, due: datetime, before_minutes: int) -> events_pb2.ChoreDueSoon:
    payload = events_pb2.ChoreDueSoon(
        household_id=str(chore.household_id),
        chore_id=str(chore.id),
        title=chore.title,
        assignee_id=_id(chore.assignee_id),
        before_minutes=before_minutes,
    )
    _set(payload.due_at, due)
    return payload


def chore_assigned(chore: Chore, *, previous: object | None, reason: str) -> events_pb2.ChoreAssigned:
    """`chore` after its assignee changed by itself or was claimed (`reason`: "missed", "rotation" or "claim")."""
    payload = events_pb2.ChoreAssigned(
        household_id=str(chore.household_id),
        chore_id=str(chore.id),
        title=chore.title,
        assignee_id=_id(chore.assignee_id),
        previous_assignee_id=_id(previous),
        reason=reason,
    )
    _set(payload.next_due_at, chore.next_due_time)
    return payload
