"""The weekly household summary: a mail to each current member who keeps it on (preferences: `weekly_summary`,
email) with the week's completions per member and the occurrences missed.

From what notify knows (analytics has no weekly report RPC to ask): chore.completed and chore.overdue are recorded
as they arrive (`household_activity`, one row per event; completion.undone takes its completion back). The job
`notify:weekly_summary` runs on NOTIFY_WEEKLY_SUMMARY_CRON (Mondays 07:00 UTC) and reports on the ISO week before
the one it was *scheduled* in (Monday 00:00 to Monday 00:00, UTC), so a re-run reports on the same week; each mail's
key (household, person, week) makes it once per week per member however often the job runs. A member inside their
quiet hours gets it when they end. A household with nothing done and nothing missed sends nothing. The job also
prunes activity older than KEEP_WEEKS weeks and the lead reminders (services.notify.reminders) of past occurrences.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

import procrastinate
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.db import utcnow
from kit.jobs import SESSIONS
from services.notify import dispatch, texts
from services.notify.models import HouseholdActivity, HouseholdMember, LeadReminder
from services.notify.preferences import EMAIL, WEEKLY_SUMMARY, for_recipient

log = logging.getLogger("hearth.notify.summary")

TASK = "weekly_summary"
WEEKLY_SUMMARY_JOB = f"notify:{TASK}"
COMPLETED, OVERDUE = "completed", "overdue"
# How many weeks of activity are kept (the summary reads one; a re-run for a late week still finds its rows).
KEEP_WEEKS = 5
# Built once: it runs for every completion.
_RECORD = insert(cast(sa.Table, HouseholdActivity.__table__)).on_conflict_do_nothing()


async def record(
    session: AsyncSession,
    kind: str,
    ref_id: uuid.UUID,
    household_id: uuid.UUID,
    user_id: uuid.UUID | None,
    at: datetime,
) -> None:
    """A completion (`ref_id` the completion) or a miss (the occurrence), once however often its event comes."""
    connection = await session.connection()
    await connection.execute(
        _RECORD, {"kind": kind, "ref_id": ref_id, "household_id": household_id, "user_id": user_id, "occurred_at": at}
    )


def week_before(scheduled: datetime) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) UTC of the ISO week before the one `scheduled` falls in."""
    day = scheduled.astimezone(UTC).date()
    this_monday = datetime.combine(day - timedelta(days=day.weekday()), datetime.min.time(), tzinfo=UTC)
    return this_monday - timedelta(days=7), this_monday


async def _households(session: AsyncSession) -> list[uuid.UUID]:
    rows = await session.scalars(
        sa.select(HouseholdMember.household_id).where(HouseholdMember.left_at.is_(None)).distinct()
    )
    return sorted(rows)


async def summarise_household(
    session: AsyncSession, household_id: uuid.UUID, start: datetime, end: datetime, *, now: datetime
) -> int:
    """Queue the household's summaries for [start, end); how many mails are new."""
    from services.notify.consumers import current
    from services.notify.repository import MemberRepository

    counts = await session.execute(
        sa.select(HouseholdActivity.kind, HouseholdActivity.user_id, sa.func.count())
        .where(
            HouseholdActivity.household_id == household_id,
            HouseholdActivity.occurred_at >= start,
            HouseholdActivity.occurred_at < end,
        )
        .group_by(HouseholdActivity.kind, HouseholdActivity.user_id)
    )
    completed: dict[uuid.UUID | None, int] = {}
    overdue = 0
    for kind, user_id, count in counts.all():
        if kind == COMPLETED:
            completed[user_id] = completed.get(user_id, 0) + int(count)
        else:
            overdue += int(count)
    if not completed and not overdue:
        return 0
    members = current(await MemberRepository(session).of_household(household_id))
    choices = await dispatch.preferences_of(session, [m.user_id for m in members])
    queued = 0
    for member in members:
        if not member.email:
            continue
        wanted = for_recipient(choices[member.user_id], WEEKLY_SUMMARY, EMAIL, now, member.time_zone)
        if not wanted.wanted:
            continue
        lang = texts.language(member.locale)
        names = {m.user_id: m.display_name for m in members}
        someone = texts.name_of(texts.SOMEONE, lang)
        rows = [
            (names.get(user_id) or someone, count)
            for user_id, count in completed.items()
            if user_id is not None and user_id in names
        ]
        # Completions by people no longer in the household, or erased, count together, unnamed.
        others = sum(count for user_id, count in completed.items() if user_id is None or user_id not in names)
        if others:
            rows.append((someone, others))
        rows.sort(key=lambda row: (-row[1], row[0]))
        context = {
            "name": member.display_name,
            "members": [{"name": name, "completions": count} for name, count in rows],
            "completions": sum(completed.values()),
            "overdue": overdue,
            "week_start": start.date().isoformat(),
            "week_end": (end - timedelta(days=1)).date().isoformat(),
        }
        delivery = await dispatch.queue_mail(
            session,
            user_id=member.user_id,
            address=member.email,
            locale=member.locale,
            template="weekly_summary",
            context=context,
            category=WEEKLY_SUMMARY,
            dedupe_key=f"{WEEKLY_SUMMARY}:{household_id}:{member.user_id}:{start.date().isoformat()}",
            now=now,
            not_before=wanted.not_before,
        )
        queued += delivery is not None
    return queued


async def prune(session: AsyncSession, start: datetime) -> None:
    """What no summary or reminder needs any more: activity from before the last KEEP_WEEKS weeks, and the lead
    reminders of occurrences already due (a new event cannot schedule those again: track() skips a past due)."""
    await session.execute(
        sa.delete(HouseholdActivity).where(HouseholdActivity.occurred_at < start - timedelta(weeks=KEEP_WEEKS))
    )
    await session.execute(sa.delete(LeadReminder).where(LeadReminder.due_at < utcnow() - timedelta(days=1)))


async def send_summaries(sessions: async_sessionmaker[AsyncSession], *, scheduled: datetime) -> int:
    """Every household's summaries for the week before `scheduled`, a transaction per household; how many new.
    The job also prunes what is older than anything it reports on (`prune`)."""
    start, end = week_before(scheduled)
    async with sessions() as session, session.begin():
        await prune(session, start)
    async with sessions() as session:
        households = await _households(session)
    queued = 0
    for household_id in households:
        async with sessions() as session, session.begin():
            queued += await summarise_household(session, household_id, start, end, now=utcnow())
    log.info("weekly summaries queued", extra={"week_start": start.date().isoformat(), "mails": queued})
    return queued


def summary_jobs(blueprint: procrastinate.Blueprint, cron: str) -> None:
    """`notify:weekly_summary` on `cron`."""

    @blueprint.periodic(cron=cron, periodic_id="weekly_summary", queueing_lock=WEEKLY_SUMMARY_JOB)
    @blueprint.task(name=TASK, pass_context=True, queueing_lock=WEEKLY_SUMMARY_JOB)
    async def weekly_summary(context: procrastinate.JobContext, timestamp: int) -> int:
        sessions = cast(async_sessionmaker[AsyncSession], context.additional_context[SESSIONS])
        return await send_summaries(sessions, scheduled=datetime.fromtimestamp(timestamp, UTC))


async def forget_completion(session: AsyncSession, completion_id: uuid.UUID) -> None:
    """completion.undone: it did not happen, and the summary does not count it."""
    await session.execute(
        sa.delete(HouseholdActivity).where(
            HouseholdActivity.kind == COMPLETED, HouseholdActivity.ref_id == completion_id
        )
    )


__all__ = ["WEEKLY_SUMMARY_JOB", "record", "send_summaries", "summarise_household", "summary_jobs", "week_before"]
