"""Event handlers of the analytics service, run by `kit.events.EventConsumer` inside its transaction.

Everything analytics knows comes from here. Handlers are idempotent on their own (upserts keyed by
member, by completion and by missed occurrence), beyond the consumer's inbox, and tolerate events out of
order — erasure included: user.deleted and household.deleted (services.analytics.privacy) leave a mark that a
late chore.completed or chore.overdue from the task stream respects.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from hearth.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import utcnow
from kit.events import Event, Handlers, combine, required_id
from services.analytics import privacy
from services.analytics.repository import MEMBERS, CompletionRepository, MissRepository
from services.user.client import MembershipClient, membership_mirror


def _time(stamp: Timestamp, present: bool, default: datetime) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC) if present else default


async def on_chore_completed(session: AsyncSession, event: Event[events_pb2.ChoreCompleted]) -> None:
    completed = event.payload
    await CompletionRepository(session).upsert(
        {
            "completion_id": required_id(completed.completion_id),
            "household_id": required_id(completed.household_id, event.household_id),
            "chore_id": required_id(completed.chore_id),
            "user_id": required_id(completed.completed_by, event.actor_id),
            "completed_at": _time(completed.completed_at, completed.HasField("completed_at"), event.occurred_at),
            "due_at": completed.due_at.ToDatetime(tzinfo=UTC) if completed.HasField("due_at") else None,
            "on_time": completed.on_time,
            "points": completed.points,
            "estimated_minutes": max(0, completed.estimated_minutes),
            "event_id": event.event_id,
        }
    )


async def on_completion_undone(session: AsyncSession, event: Event[events_pb2.CompletionUndone]) -> None:
    """An undone completion leaves the stats (task publishes completion.undone after the chore.completed it takes
    back, on the same stream: the order holds)."""
    await CompletionRepository(session).forget(required_id(event.payload.completion_id))


async def _record_miss(
    session: AsyncSession,
    event: Event[events_pb2.ChoreOverdue] | Event[events_pb2.CompletionRejected],
    occurrence_id: str,
    chore_id: str,
    assignee_id: str,
    due_at: datetime,
    *,
    penalty_points: int,
) -> None:
    """One missed occurrence in the read model, whichever event told of it (`assignee_id` "": nobody held it). The due
    time decides the window the miss counts in; the event's time stands in when the event has none."""
    await MissRepository(session).record(
        {
            "occurrence_id": required_id(occurrence_id),
            "household_id": required_id(event.payload.household_id, event.household_id),
            "chore_id": required_id(chore_id),
            "user_id": uuid.UUID(assignee_id) if assignee_id else None,
            "due_at": due_at,
            "penalty_points": max(0, penalty_points),
            "event_id": event.event_id,
        }
    )


async def on_chore_overdue(session: AsyncSession, event: Event[events_pb2.ChoreOverdue]) -> None:
    """A missed occurrence (task's miss scan publishes one per occurrence, once): overdue, missed and the
    completion rate count it. chore.skipped needs nothing: a skip is an adult's decision, not a miss."""
    overdue = event.payload
    await _record_miss(
        session,
        event,
        overdue.occurrence_id,
        overdue.chore_id,
        overdue.assignee_id,
        _time(overdue.due_at, overdue.HasField("due_at"), event.occurred_at),
        penalty_points=overdue.penalty_points,
    )


async def on_completion_rejected(session: AsyncSession, event: Event[events_pb2.CompletionRejected]) -> None:
    """A rejected completion whose chore had moved on: its occurrence now counts as missed (task marks it so; the miss
    scan, which publishes chore.overdue, never saw it as open). A reopened one is open again: nothing to count yet.
    The completion itself never reached analytics (chore.completed waits for an approval)."""
    rejected = event.payload
    if rejected.reopened or not rejected.missed_occurrence_id:
        return
    await _record_miss(
        session,
        event,
        rejected.missed_occurrence_id,
        rejected.chore_id,
        rejected.missed_assignee_id,
        _time(rejected.missed_due_at, rejected.HasField("missed_due_at"), event.occurred_at),
        penalty_points=0,
    )


def erasure_handlers(membership: MembershipClient | None = None, *, clock: Callable[[], datetime] = utcnow) -> Handlers:
    """user.deleted and household.deleted; with `membership`, a deleted user's cached answers (they carry their
    display name) are dropped in every household they were in."""

    async def on_user_deleted(session: AsyncSession, event: Event[events_pb2.UserDeleted]) -> None:
        user_id = required_id(event.payload.user_id)
        await privacy.erase_user(session, user_id, now=clock())
        if membership is not None:
            for household_id in event.payload.household_ids:
                await membership.invalidate(required_id(household_id), user_id)

    async def on_household_deleted(session: AsyncSession, event: Event[events_pb2.HouseholdDeleted]) -> None:
        household_id = required_id(event.payload.household_id, event.household_id)
        await privacy.erase_household(session, household_id, now=clock())

    return {events_pb2.UserDeleted: on_user_deleted, events_pb2.HouseholdDeleted: on_household_deleted}


def handlers(membership: MembershipClient | None = None) -> Handlers:
    """The handlers by payload; with `membership`, the events that make a cached membership answer stale
    (role changes, departures, a household's time zone: streaks are counted in it) also drop it, after the
    read model is updated."""
    read_model = combine(
        membership_mirror(MEMBERS),
        {
            events_pb2.ChoreCompleted: on_chore_completed,
            events_pb2.CompletionUndone: on_completion_undone,
            events_pb2.ChoreOverdue: on_chore_overdue,
            events_pb2.CompletionRejected: on_completion_rejected,
        },
        erasure_handlers(membership),
    )
    if membership is None:
        return read_model
    return combine(read_model, membership.invalidation_handlers())
