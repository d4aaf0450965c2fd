"""Event handlers of the analytics service, run by `kit.events.EventConsumer` inside its transaction.

Everything analytics knows comes from here. Handlers are idempotent on their own (upserts keyed by
member and by completion), beyond the consumer's inbox, and tolerate events out of order.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from hearth.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession

from kit.events import Event, Handlers, combine, required_id
from services.analytics.repository import MEMBERS, CompletionRepository
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


def handlers(membership: MembershipClient | None = None) -> Handlers:
    """The handlers by payload; with `membership`, the events that make a cached membership answer stale
    (role changes, departures, a household's time zone: streaks are counted in it) also drop it, after the
    read model is updated."""
    read_model = combine(membership_mirror(MEMBERS), {events_pb2.ChoreCompleted: on_chore_completed})
    if membership is None:
        return read_model
    return combine(read_model, membership.invalidation_handlers())
