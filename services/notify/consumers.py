"""Event handlers of the notify service, run by `kit.events.EventConsumer` inside its transaction.

Each event that matters to people writes in-app notifications (`notify`), in each recipient's language
(services.notify.texts), never to the one who did it:

- chore.completed → the household's other adults; completion.submitted (a child's, waiting) → its adults;
- completion.approved / completion.rejected → the one who completed it;
- chore.created with an assignee, chore.assigned, chore.due_soon, chore.overdue → the assignee;
- member.joined / member.left → the household's other current members;
- points.changed of a redemption → the household's adults but the redeemer.

Each notification written publishes notification.created through notify's outbox, in the same transaction. Which
channels tell each recipient — in-app, email and Web Push (both held for quiet hours) — their preferences
decide (services.notify.preferences; mails: services.notify.dispatch; pushes: services.notify.push.queue — a push
carries an in-app notification, so in-app off for a type is no push of it either). Task's chore events also keep
each chore's open occurrence for reminders at a person's own lead (services.notify.reminders), and completions and
misses for the weekly summary (services.notify.summary).

The consumer's inbox already drops redelivered events; the handlers are idempotent on their own too
(upserts, and one notification per (event, recipient)), so replaying a stream is harmless.
Events may arrive out of order across streams: a completion handled before the member.joined of a
brand-new member does not notify that member (nothing is lost for anyone already known).
Every household event is also owed to the household's webhooks that subscribe to it
(services.notify.webhook_delivery.fan_out). user.deleted and household.deleted erase what notify holds about the
person or the household (services.notify.privacy).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hearth.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import utcnow
from kit.events import Event, Handlers, combine, required_id
from kit.ids import new_id
from kit.outbox import add_event
from services.notify import dispatch, preferences, privacy, push, reminders, summary, texts
from services.notify.preferences import Preferences
from services.notify.repository import MEMBERS, Member, MemberRepository, NotificationRepository
from services.notify.webhook_delivery import fan_out_handlers
from services.user.client import ADULT_ROLES, membership_mirror


def optional_id(value: str) -> uuid.UUID | None:
    """An id a payload or envelope may leave empty (nobody assigned; an event no person caused)."""
    return uuid.UUID(value) if value else None


def current(members: Iterable[Member], *, adults_only: bool = False) -> list[Member]:
    """The household's members now (not those who left), or only its adults (owner, admin, member)."""
    return [m for m in members if m.left_at is None and (not adults_only or m.role in ADULT_ROLES)]


def completion_recipients(members: Iterable[Member], completed_by: uuid.UUID) -> list[uuid.UUID]:
    """Who hears about a completion: every current adult member (owner, admin, member) but the one who did it."""
    return sorted(m.user_id for m in current(members, adults_only=True) if m.user_id != completed_by)


async def notify(
    session: AsyncSession,
    event: Event[Any],
    household_id: uuid.UUID,
    members: Sequence[Member],
    recipients: Iterable[uuid.UUID],
    *,
    actor: uuid.UUID | None,
    data: Mapping[str, Any],
    event_type: str | None = None,
    actor_erased: bool | None = None,
) -> int:
    """Tell each recipient of `event`, in each one's language, naming `actor` (None: nobody), on the channels their
    preferences choose (services.notify.preferences.plan): an in-app notification, published as notification.created
    (kit.outbox, in the handler's transaction), unless they turned in-app off for the type; a mail
    (services.notify.dispatch) when they want one and notify knows their address, held for their quiet hours.
    Returns how many in-app notifications are new. Never to the event's actor or to `actor`: nobody is told of what
    they did. Idempotent per (event, recipient): a redelivered event writes, queues and publishes nothing.
    `event_type` overrides the envelope's (a reminder notify schedules itself is a chore.due_soon); `actor_erased`
    is whether `actor` is a deleted person's, when the caller has asked already (None: ask)."""
    kind = event_type or event.type
    by_id = {m.user_id: m for m in members}
    excluded = {actor, optional_id(event.actor_id)}
    who: str | texts.Anonymous = texts.SOMEONE
    if actor is not None:
        # A person whose account is gone (DELETED_USER_ID, or erased since the event was published): nobody to name.
        erased = await privacy.is_erased(session, actor) if actor_erased is None else actor_erased
        if erased:
            who, actor = texts.DELETED, None
        elif actor in by_id and by_id[actor].display_name:
            who = by_id[actor].display_name
    told = sorted(set(recipients) - excluded)
    # A recipient is a member (their preferences came with the members' query); anyone else has the defaults.
    choices = {user_id: by_id[user_id].preferences if user_id in by_id else Preferences() for user_id in told}
    now = utcnow()
    rows = []
    # Who wants this type pushed, and from when (the end of their quiet hours; None: at once).
    push_at: dict[uuid.UUID, datetime | None] = {}
    for recipient in told:
        member = by_id.get(recipient)
        locale = member.locale if member else None
        plan = preferences.plan(choices[recipient], kind, now, member.time_zone if member else None)
        title, body = texts.render(kind, locale, data, who)
        if plan.email.wanted and member is not None and member.email:
            await _mail(session, event, kind, member, data, who, title, body, now=now, not_before=plan.email.not_before)
        if not plan.in_app.wanted:
            continue
        if plan.push.wanted:
            push_at[recipient] = plan.push.not_before
        rows.append(
            {
                "id": new_id(),
                "user_id": recipient,
                "household_id": household_id,
                "type": kind,
                "title": title,
                "body": body,
                # The person it names under privacy.ACTOR_KEY (their name goes from it when they are deleted), and
                # what its texts were written from, so they can be written again (services.notify.texts).
                "data": {**data, privacy.ACTOR_KEY: None if actor is None else str(actor), "locale": locale},
                "event_id": event.event_id,
                "create_time": event.occurred_at,
                "read_time": None,
            }
        )
    written = await NotificationRepository(session).add_many(rows)
    rows_by_id = {row["id"]: row for row in rows}
    # The new ones their recipients want pushed go to their browsers, each batch held as long as its quiet hours.
    pushes: dict[datetime | None, list[Mapping[str, Any]]] = {}
    for notification_id, user_id in written:
        if user_id in push_at:
            pushes.setdefault(push_at[user_id], []).append(rows_by_id[notification_id])
    for not_before, batch in pushes.items():
        await push.queue(session, batch, not_before=not_before)
    for notification_id, user_id in written:
        created = events_pb2.NotificationCreated(
            household_id=str(household_id),
            user_id=str(user_id),
            notification_id=str(notification_id),
            type=kind,
            source_event_id=str(event.event_id),
        )
        await add_event(session, created, household_id=household_id, actor_id=event.actor_id or None)
    return len(written)


async def _mail(
    session: AsyncSession,
    event: Event[Any],
    kind: str,
    member: Member,
    data: Mapping[str, Any],
    who: str | texts.Anonymous,
    title: str,
    body: str,
    *,
    now: datetime,
    not_before: datetime | None,
) -> None:
    """The notification by email: its type's template (or the in-app texts, for a type without one)."""
    assert member.email is not None
    lang = texts.language(member.locale)
    context = {
        "title": title,
        "body": body,
        "name": member.display_name,
        "who": texts.name_of(who, lang),
        "chore": data.get("chore_title") or texts.name_of(texts.CHORE, lang),
        "points": int(data.get("points") or 0),
        "minutes": int(data.get("minutes") or 0),
        "penalty": int(data.get("penalty") or 0),
        "note": str(data.get("note") or ""),
    }
    await dispatch.queue_mail(
        session,
        user_id=member.user_id,
        address=member.email,
        locale=member.locale,
        template=dispatch.TEMPLATES.get(kind, dispatch.GENERIC_TEMPLATE),
        context=context,
        category=kind,
        dedupe_key=f"{event.event_id}:{member.user_id}",
        now=now,
        not_before=not_before,
    )


async def on_member_joined(session: AsyncSession, event: Event[events_pb2.MemberJoined]) -> None:
    """The name a member joins with (the membership itself is the mirror's: services.user.client), and the other
    current members hear of it — unless the member has left again since (a late member.joined)."""
    joined = event.payload
    household_id = required_id(joined.household_id, event.household_id)
    user_id = required_id(joined.user_id)
    if joined.display_name:
        await MemberRepository(session).name(user_id, joined.display_name, at=event.occurred_at)
    members = await MemberRepository(session).of_household(household_id)
    if not any(m.user_id == user_id for m in current(members)):
        return
    others = [m.user_id for m in current(members) if m.user_id != user_id]
    await notify(session, event, household_id, members, others, actor=user_id, data={})


async def on_member_left(session: AsyncSession, event: Event[events_pb2.MemberLeft]) -> None:
    """The members still in the household hear that someone left (or was removed: not the one who removed them)."""
    left = event.payload
    household_id = required_id(left.household_id, event.household_id)
    user_id = required_id(left.user_id)
    members = await MemberRepository(session).of_household(household_id)
    others = [m.user_id for m in current(members) if m.user_id != user_id]
    await notify(session, event, household_id, members, others, actor=user_id, data={})


def _profile(payload: events_pb2.UserRegistered | events_pb2.UserUpdated) -> dict[str, str]:
    """What notify keeps of a profile: the locale (the language of their notifications), the time zone (their
    quiet hours are read in it) and the address (notifications they chose to get by email go to it)."""
    values = {"locale": payload.locale, "time_zone": payload.time_zone, "email": payload.email}
    return {name: value for name, value in values.items() if value}


async def on_user_registered(session: AsyncSession, event: Event[events_pb2.UserRegistered]) -> None:
    """The locale, time zone and address a person registers with."""
    await MemberRepository(session).profile(
        required_id(event.payload.user_id), _profile(event.payload), at=event.occurred_at
    )


async def on_user_updated(session: AsyncSession, event: Event[events_pb2.UserUpdated]) -> None:
    """A renamed user: later notifications use the new name; and their locale, time zone and address, for later ones
    (the event carries the whole profile; other profile changes do not concern notify)."""
    updated, user_id = event.payload, required_id(event.payload.user_id)
    if updated.display_name:
        await MemberRepository(session).name(user_id, updated.display_name, at=event.occurred_at)
    await MemberRepository(session).profile(user_id, _profile(updated), at=event.occurred_at)


async def _tell_adults(
    session: AsyncSession,
    event: Event[Any],
    done: events_pb2.ChoreCompleted | events_pb2.CompletionSubmitted,
    *,
    erased: bool | None = None,
) -> None:
    """The household's adults, but the one who did it, hear of a completion (done, or waiting for their approval);
    `erased`: whether the one who did it is a deleted person, when the caller knows (None: ask)."""
    household_id = required_id(done.household_id, event.household_id)
    completed_by = required_id(done.completed_by, event.actor_id)
    members = await MemberRepository(session).of_household(household_id)
    data = {
        "chore_id": done.chore_id,
        "completion_id": done.completion_id,
        "points": done.points,
        # Kept so the texts can be written again without the person's name when they are deleted (privacy).
        "chore_title": done.title,
    }
    recipients = completion_recipients(members, completed_by)
    await notify(session, event, household_id, members, recipients, actor=completed_by, data=data, actor_erased=erased)


async def on_chore_completed(session: AsyncSession, event: Event[events_pb2.ChoreCompleted]) -> None:
    """The household's other adults hear of a completion; the weekly summary counts it; the chore's next occurrence
    may get its assignee's own reminder (services.notify.reminders)."""
    done = event.payload
    completed_by = required_id(done.completed_by, event.actor_id)
    # Asked once for both: the notification's name and the summary's count keep no trace of a deleted person.
    erased = await privacy.is_erased(session, completed_by)
    await _tell_adults(session, event, done, erased=erased)
    activity = {
        "kind": summary.COMPLETED,
        "ref_id": required_id(done.completion_id),
        "user_id": None if erased else completed_by,
        "occurred_at": done.completed_at.ToDatetime(tzinfo=UTC) if done.HasField("completed_at") else event.occurred_at,
    }
    await _track(session, event, done.next_assignee_id, activity)


async def on_completion_submitted(session: AsyncSession, event: Event[events_pb2.CompletionSubmitted]) -> None:
    """A child's completion waits for approval: the household's adults are asked (completion.undone takes it back)."""
    await _tell_adults(session, event, event.payload)


async def on_completion_approved(session: AsyncSession, event: Event[events_pb2.CompletionApproved]) -> None:
    """The one who did the chore hears that it was approved, and by whom."""
    approved = event.payload
    household_id = required_id(approved.household_id, event.household_id)
    members = await MemberRepository(session).of_household(household_id)
    data = {
        "chore_id": approved.chore_id,
        "completion_id": approved.completion_id,
        "points": approved.points,
        "chore_title": approved.title,
    }
    await notify(
        session,
        event,
        household_id,
        members,
        [required_id(approved.completed_by)],
        actor=optional_id(approved.approved_by or event.actor_id),
        data=data,
    )


async def on_completion_rejected(session: AsyncSession, event: Event[events_pb2.CompletionRejected]) -> None:
    """The one who did the chore hears that it was not accepted, by whom, and the note saying why."""
    rejected = event.payload
    household_id = required_id(rejected.household_id, event.household_id)
    members = await MemberRepository(session).of_household(household_id)
    data = {
        "chore_id": rejected.chore_id,
        "completion_id": rejected.completion_id,
        "chore_title": rejected.title,
        "note": rejected.note,
    }
    await notify(
        session,
        event,
        household_id,
        members,
        [required_id(rejected.completed_by)],
        actor=optional_id(rejected.rejected_by or event.actor_id),
        data=data,
    )
    await _track(session, event, rejected.assignee_id)


async def _track(
    session: AsyncSession, event: Event[Any], assignee_id: str, activity: Mapping[str, Any] | None = None
) -> None:
    """The chore's open occurrence as the event tells it (services.notify.reminders), and the weekly summary's row
    of it (`activity`; services.notify.summary), in one statement."""
    payload = event.payload
    await reminders.track(
        session,
        event,
        chore_id=payload.chore_id,
        title=payload.title,
        assignee_id=assignee_id,
        due=reminders.next_due(payload),
        activity=activity,
    )


async def tell_assignee(
    session: AsyncSession, event: Event[Any], household_id: str, assignee_id: str, data: Mapping[str, Any]
) -> None:
    """The chore's assignee hears of it, if there is one and they are still a member."""
    hid, assignee = required_id(household_id, event.household_id), optional_id(assignee_id)
    if assignee is None:
        return
    members = await MemberRepository(session).of_household(hid)
    recipients = [m.user_id for m in current(members) if m.user_id == assignee]
    await notify(session, event, hid, members, recipients, actor=optional_id(event.actor_id), data=data)


async def on_chore_created(session: AsyncSession, event: Event[events_pb2.ChoreCreated]) -> None:
    """A new chore given to someone: they hear who gave it to them (not when they made it for themselves)."""
    created = event.payload
    data = {"chore_id": created.chore_id, "chore_title": created.title, "points": created.points}
    await tell_assignee(session, event, created.household_id, created.assignee_id, data)
    await _track(session, event, created.assignee_id)


async def on_chore_assigned(session: AsyncSession, event: Event[events_pb2.ChoreAssigned]) -> None:
    """The new assignee hears that the chore is theirs now (a claim is the claimer's own doing: nobody hears)."""
    assigned = event.payload
    data = {"chore_id": assigned.chore_id, "chore_title": assigned.title, "reason": assigned.reason}
    await tell_assignee(session, event, assigned.household_id, assigned.assignee_id, data)
    await _track(session, event, assigned.assignee_id)


async def on_chore_rescheduled(session: AsyncSession, event: Event[Any]) -> None:
    """chore.updated, .skipped, .snoozed: nobody is told, but the open occurrence (and so a lead reminder) moved."""
    payload = event.payload
    assignee = payload.next_assignee_id if isinstance(payload, events_pb2.ChoreSkipped) else payload.assignee_id
    await _track(session, event, assignee)


async def on_chore_archived(session: AsyncSession, event: Event[events_pb2.ChoreArchived]) -> None:
    """An archived chore has no open occurrence: a lead reminder scheduled for it finds so and says nothing."""
    await _track(session, event, "")


async def on_chore_due_soon(session: AsyncSession, event: Event[events_pb2.ChoreDueSoon]) -> None:
    """A reminder to the assignee — unless they set their own lead: notify reminds them itself then
    (services.notify.reminders), and the chore's reminders are not for them."""
    due = event.payload
    assignee = optional_id(due.assignee_id)
    if assignee is not None:
        lead = (await dispatch.preferences_of(session, [assignee]))[assignee].reminder_lead_minutes
        if lead is not None:
            return
    data = {"chore_id": due.chore_id, "chore_title": due.title, "minutes": due.before_minutes}
    await tell_assignee(session, event, due.household_id, due.assignee_id, data)


async def on_chore_overdue(session: AsyncSession, event: Event[events_pb2.ChoreOverdue]) -> None:
    """The assignee of the missed occurrence hears of it, and of the points it cost them."""
    overdue = event.payload
    data = {
        "chore_id": overdue.chore_id,
        "chore_title": overdue.title,
        "penalty": overdue.penalty_points,
        "occurrence_id": overdue.occurrence_id,
    }
    await tell_assignee(session, event, overdue.household_id, overdue.assignee_id, data)
    activity = None
    if overdue.occurrence_id:
        missed_by = optional_id(overdue.assignee_id)
        activity = {
            "kind": summary.OVERDUE,
            "ref_id": required_id(overdue.occurrence_id),
            "user_id": None if missed_by is None or await privacy.is_erased(session, missed_by) else missed_by,
            "occurred_at": event.occurred_at,
        }
    await _track(session, event, overdue.next_assignee_id, activity)


async def on_points_changed(session: AsyncSession, event: Event[events_pb2.PointsChanged]) -> None:
    """A reward redeemed: the household's adults but the redeemer hear of it (other point changes tell nobody: the
    completion, the undo or the miss behind them has its own notification)."""
    changed = event.payload
    if changed.reason != "redemption":
        return
    household_id = required_id(changed.household_id, event.household_id)
    redeemer = required_id(changed.user_id)
    members = await MemberRepository(session).of_household(household_id)
    data = {"reward_id": changed.reward_id, "entry_id": changed.entry_id, "points": abs(changed.delta)}
    recipients = [m.user_id for m in current(members, adults_only=True)]
    await notify(session, event, household_id, members, recipients, actor=redeemer, data=data)


async def on_completion_undone(session: AsyncSession, event: Event[events_pb2.CompletionUndone]) -> None:
    """An undone completion did not happen: the notifications that told of it go from every inbox, read or not.
    (Task publishes completion.undone after the chore.completed or completion.submitted it takes back, on the same
    stream: the order holds. The approval or rejection of it goes too: it is about the same completion.)"""
    undone = event.payload
    household_id = required_id(undone.household_id, event.household_id)
    await NotificationRepository(session).forget_completion(household_id, str(required_id(undone.completion_id)))
    await summary.forget_completion(session, required_id(undone.completion_id))
    await _track(session, event, undone.assignee_id)


async def on_user_deleted(session: AsyncSession, event: Event[events_pb2.UserDeleted]) -> None:
    """The account is gone: erase what notify holds about the person, and their name from others' inboxes."""
    await privacy.erase_user(session, required_id(event.payload.user_id), at=event.occurred_at)


async def on_household_deleted(session: AsyncSession, event: Event[events_pb2.HouseholdDeleted]) -> None:
    """The household is gone: its notifications, in every inbox, and its membership rows go with it."""
    await privacy.erase_household(session, required_id(event.payload.household_id, event.household_id))


HANDLERS: Handlers = combine(
    membership_mirror(MEMBERS),
    {
        events_pb2.MemberJoined: on_member_joined,
        events_pb2.MemberLeft: on_member_left,
        events_pb2.UserRegistered: on_user_registered,
        events_pb2.UserUpdated: on_user_updated,
        events_pb2.ChoreCompleted: on_chore_completed,
        events_pb2.CompletionSubmitted: on_completion_submitted,
        events_pb2.CompletionApproved: on_completion_approved,
        events_pb2.CompletionRejected: on_completion_rejected,
        events_pb2.ChoreCreated: on_chore_created,
        events_pb2.ChoreAssigned: on_chore_assigned,
        events_pb2.ChoreDueSoon: on_chore_due_soon,
        events_pb2.ChoreOverdue: on_chore_overdue,
        events_pb2.PointsChanged: on_points_changed,
        events_pb2.CompletionUndone: on_completion_undone,
        events_pb2.ChoreUpdated: on_chore_rescheduled,
        events_pb2.ChoreSkipped: on_chore_rescheduled,
        events_pb2.ChoreSnoozed: on_chore_rescheduled,
        events_pb2.ChoreArchived: on_chore_archived,
        events_pb2.UserDeleted: on_user_deleted,
        events_pb2.HouseholdDeleted: on_household_deleted,
    },
    # Last: every household event an endpoint may subscribe to is owed to the household's webhooks.
    fan_out_handlers(),
)
