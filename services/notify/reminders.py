"""Reminders at each person's own lead (`reminder_lead_minutes`, services.notify.preferences).

How the lead applies: a person who sets no lead (the default) is reminded by the chore's own reminders — task's
chore.due_soon, at each `reminders[].before_minutes` of the chore. A person who sets one is reminded by notify
instead, once per occurrence, `lead` minutes before it is due; task's chore.due_soon for them is then not passed
on (services.notify.consumers.on_chore_due_soon), so they are never reminded twice over.

From every task event that says when a chore is next due and who has it (chore.created, .updated, .assigned,
.completed, .skipped, .snoozed, .overdue; completion.undone, .rejected) notify keeps the chore's open occurrence
(`chore_schedules`, the newest event wins) and, when the assignee has a lead, schedules one `notify:remind_lead` job at
due - lead (at once when that is past and the due time is not; never for an occurrence already due). The
`lead_reminders` row (person, chore, due time) makes it once per occurrence, however many events name it; a snoozed
or rescheduled occurrence has a new due time and is reminded afresh. When the job runs it checks the occurrence is
still the chore's open one and still the person's (else it does nothing), and tells them through `notify` as a
chore.due_soon (in-app, email, quiet hours: their preferences), with an event id made from (person, chore, due
time), so a job run twice tells them once — and nothing when they have turned their lead off since. Setting a lead
schedules the reminders of the chores the person holds at once (`schedule_held`); an occurrence already scheduled
keeps its reminder time (once per occurrence), so a changed lead applies from the next occurrence.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import procrastinate
import sqlalchemy as sa
from google.protobuf.message import Message
from hearth.events.v1 import events_pb2
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.db import utcnow
from kit.events import Event, required_id
from kit.ids import new_id
from kit.jobs import SESSIONS, defer_in
from services.notify import dispatch
from services.notify.models import ChoreSchedule, LeadReminder

log = logging.getLogger("hearth.notify.reminders")

TASK = "remind_lead"
REMIND_LEAD = f"notify:{TASK}"
_schedules = cast(sa.Table, ChoreSchedule.__table__)
_excluded = insert(_schedules).excluded
# Built once: it runs for every chore event (a kit.projection's per-field statement costs several times more CPU).
_TRACK = insert(_schedules).on_conflict_do_update(
    index_elements=["chore_id"],
    set_={name: _excluded[name] for name in ("household_id", "title", "assignee_id", "next_due_at", "as_of")},
    where=_schedules.c.as_of <= _excluded.as_of,
)
# The same, with the weekly summary's row of a completion or a miss (services.notify.summary) in one round trip:
# the consumer writes both for every chore.completed.
_TRACK_AND_RECORD = sa.text(
    "WITH recorded AS ("
    " INSERT INTO household_activity (kind, ref_id, household_id, user_id, occurred_at)"
    " VALUES (:kind, :ref_id, :household_id, :user_id, :occurred_at) ON CONFLICT DO NOTHING)"
    " INSERT INTO chore_schedules (chore_id, household_id, title, assignee_id, next_due_at, as_of)"
    " VALUES (:chore_id, :household_id, :title, :assignee_id, :next_due_at, :as_of)"
    " ON CONFLICT (chore_id) DO UPDATE SET household_id = EXCLUDED.household_id, title = EXCLUDED.title,"
    " assignee_id = EXCLUDED.assignee_id, next_due_at = EXCLUDED.next_due_at, as_of = EXCLUDED.as_of"
    " WHERE chore_schedules.as_of <= EXCLUDED.as_of"
)
# The namespace of the event ids of notify's own reminders (uuid5 of person, chore and due time).
_REMINDER_IDS = uuid.UUID("6f7b3c1e-2a4d-4e58-9c0b-5d1f8e2a7b90")


def _optional(value: str) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def next_due(payload: Message) -> datetime | None:
    """The payload's `next_due_at` (None: unset, or a payload without one, such as chore.archived)."""
    if "next_due_at" not in payload.DESCRIPTOR.fields_by_name or not payload.HasField("next_due_at"):
        return None
    stamp: Any = getattr(payload, "next_due_at")  # noqa: B009
    due: datetime = stamp.ToDatetime(tzinfo=UTC)
    return due


async def track(
    session: AsyncSession,
    event: Event[Any],
    *,
    chore_id: str,
    title: str,
    assignee_id: str,
    due: datetime | None,
    activity: Mapping[str, Any] | None = None,
) -> None:
    """What a task event says of the chore's open occurrence, and its lead reminder if its assignee wants one;
    `activity` (kind, ref_id, user_id, occurred_at) is the weekly summary's row of the event, written with it."""
    chore = required_id(chore_id)
    household_id = required_id(event.payload.household_id, event.household_id)
    assignee = _optional(assignee_id)
    connection = await session.connection()
    occurrence = {
        "chore_id": chore,
        "household_id": household_id,
        "title": title,
        "assignee_id": assignee,
        "next_due_at": due,
        "as_of": event.occurred_at,
    }
    if activity is None:
        await connection.execute(_TRACK, occurrence)
    else:
        await connection.execute(_TRACK_AND_RECORD, {**occurrence, **activity})
    if assignee is None or due is None:
        return
    lead = (await dispatch.preferences_of(session, [assignee]))[assignee].reminder_lead_minutes
    if lead is not None:
        await schedule(session, assignee, chore, due, lead, now=utcnow())


async def schedule(
    session: AsyncSession, user_id: uuid.UUID, chore_id: uuid.UUID, due: datetime, lead: int, *, now: datetime
) -> bool:
    """The reminder of one occurrence at due - lead (at once when that is past), unless it has one already or is
    due already; whether one was scheduled."""
    if due <= now:
        return False
    remind_at = max(due - timedelta(minutes=lead), now)
    new = await session.scalar(
        insert(LeadReminder)
        .values(id=new_id(), user_id=user_id, chore_id=chore_id, due_at=due, remind_at=remind_at)
        .on_conflict_do_nothing(index_elements=["user_id", "chore_id", "due_at"])
        .returning(LeadReminder.id)
    )
    if new is None:
        return False
    await defer_in(session, REMIND_LEAD, scheduled_at=remind_at, reminder_id=str(new), lead_minutes=lead)
    return True


async def schedule_held(session: AsyncSession, user_id: uuid.UUID, lead: int, *, now: datetime) -> int:
    """A lead just set: the reminders of the open occurrences of every chore the person holds now (those scheduled
    before keep their time: once per occurrence); how many are new."""
    held = await session.execute(
        sa.select(ChoreSchedule.chore_id, ChoreSchedule.next_due_at).where(
            ChoreSchedule.assignee_id == user_id, ChoreSchedule.next_due_at > now
        )
    )
    scheduled = 0
    for chore_id, due in held.all():
        if due is not None:  # the query's `> now` already leaves out chores with no open occurrence
            scheduled += await schedule(session, user_id, chore_id, due, lead, now=now)
    return scheduled


def reminder_event(
    household_id: uuid.UUID, user_id: uuid.UUID, occurrence: ChoreSchedule, due: datetime, lead: int
) -> Event[Any]:
    """The chore.due_soon notify tells the person of (its id the same for the same person and occurrence)."""
    payload = events_pb2.ChoreDueSoon(
        household_id=str(household_id),
        chore_id=str(occurrence.chore_id),
        title=occurrence.title,
        assignee_id=str(user_id),
        before_minutes=lead,
    )
    payload.due_at.FromDatetime(due)
    envelope = events_pb2.Envelope(
        event_id=str(uuid.uuid5(_REMINDER_IDS, f"{user_id}|{occurrence.chore_id}|{due.isoformat()}")),
        type="chore.due_soon",
        household_id=str(household_id),
        source="notify",
    )
    envelope.occurred_at.FromDatetime(utcnow())
    envelope.payload.Pack(payload)
    return Event(payload, envelope)


async def remind(sessions: async_sessionmaker[AsyncSession], reminder_id: uuid.UUID, lead: int) -> bool:
    """One run of the job (see the module docstring): whether the person was told (False: the occurrence moved on,
    they left, or they were erased and the reminder with them)."""
    # Imported here: consumers imports this module for its handlers.
    from services.notify.consumers import current, notify
    from services.notify.repository import MemberRepository

    async with sessions() as session, session.begin():
        reminder = await session.scalar(sa.select(LeadReminder).where(LeadReminder.id == reminder_id))
        if reminder is None:
            return False
        user_id, chore_id, due = reminder.user_id, reminder.chore_id, reminder.due_at
        occurrence = await session.get(ChoreSchedule, chore_id)
        if occurrence is None or occurrence.assignee_id != user_id or occurrence.next_due_at != due:
            log.info("occurrence moved on; no reminder", extra={"chore_id": str(chore_id)})
            return False
        if (await dispatch.preferences_of(session, [user_id]))[user_id].reminder_lead_minutes is None:
            # They went back to the chore's own reminders since: those remind them now, not this.
            return False
        members = await MemberRepository(session).of_household(occurrence.household_id)
        if not any(m.user_id == user_id for m in current(members)):
            return False
        event = reminder_event(occurrence.household_id, user_id, occurrence, due, lead)
        data = {"chore_id": str(chore_id), "chore_title": occurrence.title, "minutes": lead}
        await notify(session, event, occurrence.household_id, members, [user_id], actor=None, data=data)
    return True


def reminder_jobs(blueprint: procrastinate.Blueprint) -> None:
    """`notify:remind_lead` on notify's worker."""

    @blueprint.task(name=TASK, pass_context=True)
    async def remind_lead(context: procrastinate.JobContext, reminder_id: str, lead_minutes: int) -> bool:
        sessions = cast(async_sessionmaker[AsyncSession], context.additional_context[SESSIONS])
        return await remind(sessions, uuid.UUID(reminder_id), lead_minutes)


__all__ = ["REMIND_LEAD", "next_due", "remind", "reminder_jobs", "schedule", "schedule_held", "track"]
