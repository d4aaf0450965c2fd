"""The task service's background work (its worker: `python -m services.task worker`): three periodic scans.

- **Miss scan** (`task:scan_missed`, TASK_MISS_SCAN_CRON): an active chore whose open occurrence is still open
  `assignment.grace_minutes` after its due time is *missed*: an occurrence row with outcome missed (once: a unique
  index on (chore, due time) of the missed rows), `on_miss` applied (keep or "": same assignee; advance: the
  strategy's next, away members skipped, as after a completion), `miss_penalty_points` deducted from whoever held it
  (a PENALTY ledger entry naming the occurrence, unique: once; it may take a balance below zero — a penalty is a
  debt, not a redemption), and the chore moved on as a late completion would (its next occurrence is the first slot
  after the scan, opening when due: a worker down for a day marks one occurrence of an hourly chore missed, not 24).
  A one-off chore stays overdue (and can still be completed) but is marked once. Events, in the same transaction:
  chore.overdue (once per occurrence), points.changed (the penalty), chore.assigned (when the assignee changed).
- **Reminders** (`task:scan_reminders`, TASK_REMINDER_SCAN_CRON): for each `reminders[].before_minutes` of a chore,
  chore.due_soon once per occurrence, from `due - before_minutes` until the occurrence is missed (due + grace; after
  that chore.overdue says it), but at least until REMINDER_SLACK_MINUTES past due (so a reminder at the due time of
  a chore without grace goes out). Sent keys are rows of `sent_reminders` (chore, due time, lead time), so a
  snoozed or rescheduled occurrence, having a new due time, is reminded afresh. When a scan finds several of a
  chore's reminders due at once (the worker was down), it sends the closest one and counts the earlier ones as sent.
- **Scheduled rotation** (`task:scan_rotations`, TASK_ROTATION_SCAN_CRON): a round-robin chore with rotate daily or
  weekly passes to the next assignee at each turn (local midnight, or Monday's, in the household's zone:
  assignment.turn_start / next_turn / rotation_at), once per turn boundary, skipping members away at the time, and
  writes chore.assigned when that changes the assignee (a worker down for several turns catches up in one change).
  The first scan that sees a chore (or sees it after its assignment was edited) starts its rotation from the
  current assignee. The miss scan leaves such a chore's assignee to the rotation (on_miss advance does not apply).

Each scan is a pure function of the database and `now` (`Scans`: the tests drive time by passing it), run in
batches of TASK_SCAN_BATCH_SIZE chores, one transaction each, the batch's rows taken `FOR UPDATE SKIP LOCKED`: two
workers (or a worker and a request) never change one chore at once, and the unique keys make a job that runs twice
(a retry, a job of a killed worker requeued by hearth.retry_stalled_jobs) have its effect once. The job passes its
scheduled time as `now`, so a re-run decides exactly what the first run would have.

The household's time zone (for the calendar steps of the next occurrence and the rotation's turns) is asked of the
user service with the task service's own service token (kit.service_tokens, `MembershipService.GetMembership` of a
member the chore names), once per household per scan, before any row is locked. Every transaction that changed a
chore drops its household's cached chore pages once it has committed (services.task.lists).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol, cast

import grpc
import procrastinate
import sqlalchemy as sa
from hearth.user.v1 import user_pb2, user_pb2_grpc
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context
from kit.jobs import DEFAULT_RETRY, SESSIONS
from kit.outbox import add_event
from kit.service_tokens import ServiceTokens
from services.task import assignment as assigning
from services.task import events, points, scheduling
from services.task.config import Settings
from services.task.lists import ChoreLists
from services.task.models import (
    ACTIVE,
    DONE,
    OUTCOME_MISSED,
    PENALTY,
    ROTATING_SQL,
    Chore,
    Occurrence,
    SentReminder,
)
from services.task.repository import CompletionRepository, Tallies, ended_occurrence
from services.task.validation import MAX_GRACE_MINUTES, MAX_REMINDER_MINUTES, zone

log = logging.getLogger("hearth.task.jobs")

# The jobs' names on the queue: the blueprint's tasks under the service's namespace (kit.jobs.create_app).
MISS_TASK, REMINDER_TASK, ROTATION_TASK = "scan_missed", "scan_reminders", "scan_rotations"
SCAN_MISSED, SCAN_REMINDERS, SCAN_ROTATIONS = (f"task:{name}" for name in (MISS_TASK, REMINDER_TASK, ROTATION_TASK))
ZONE_TIMEOUT_SECONDS = 5.0
# How long past its due time a reminder may still go out when the chore's grace is shorter (see _reminded_until).
REMINDER_SLACK_MINUTES = 10

_occurrences = Occurrence.metadata.tables[Occurrence.__tablename__]
_sent = SentReminder.metadata.tables[SentReminder.__tablename__]


def _grace() -> sa.ColumnElement[int]:
    return sa.func.coalesce(Chore.assignment["grace_minutes"].astext.cast(sa.Integer), 0)


def _missed_at() -> sa.ColumnElement[datetime | None]:
    """`next_due_time + grace` as SQL: the instant the open occurrence is missed."""
    return Chore.next_due_time + sa.func.make_interval(0, 0, 0, 0, 0, _grace())


def _reminded_until() -> sa.ColumnElement[datetime | None]:
    """Until when a reminder of the open occurrence may still go out: until it is missed, but at least
    REMINDER_SLACK_MINUTES past its due time (a reminder at the due time of a chore without grace would else have only
    the instant itself, which a minutely scan rarely hits)."""
    return Chore.next_due_time + sa.func.make_interval(
        0, 0, 0, 0, 0, sa.func.greatest(_grace(), REMINDER_SLACK_MINUTES)
    )


# Whether the closest of the chore's reminders whose time has come at :now is still to send (a scan sends the
# closest and counts the earlier ones as sent, so once it is sent all of them are).
_CLOSEST_UNSENT = (
    "NOT EXISTS (SELECT 1 FROM sent_reminders AS s WHERE s.chore_id = chores.id AND s.due_time = chores.next_due_time"
    " AND s.before_minutes = (SELECT min(r) FROM unnest(chores.reminders) AS r"
    " WHERE chores.next_due_time - make_interval(mins => r) <= :now))"
)

Pause = Callable[[AsyncSession], Awaitable[None]]


class Zones(Protocol):
    async def zone(self, household_id: uuid.UUID, members: Sequence[uuid.UUID]) -> tzinfo:
        """The time zone of `household_id`, asked about one of `members` (who may have left it)."""
        ...


class MembershipZones:
    """Household time zones from the user service (`MembershipService.GetMembership`, internal), as this service."""

    def __init__(self, channel: grpc.aio.Channel, tokens: ServiceTokens) -> None:
        self._stub = user_pb2_grpc.MembershipServiceStub(channel)
        self._tokens = tokens

    async def zone(self, household_id: uuid.UUID, members: Sequence[uuid.UUID]) -> tzinfo:
        for member in dict.fromkeys(members):
            try:
                answer = await self._stub.GetMembership(
                    user_pb2.GetMembershipRequest(name=f"households/{household_id}/members/{member}"),
                    metadata=await self._tokens.metadata("user"),
                    timeout=ZONE_TIMEOUT_SECONDS,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    continue  # left the household (or it is gone): ask about the next
                raise
            return zone(answer.household_time_zone)
        # Nobody the chore names is a member any more: the chore still moves on, on UTC's calendar.
        log.warning("no member to ask the household's time zone of", extra={"household_id": str(household_id)})
        return UTC


def _members(chore: Chore) -> list[uuid.UUID]:
    """Whom to ask the household's zone about: the chore's creator, assignee and listed assignees."""
    listed = assigning.Assignment.from_json(chore.assignment).assignees
    return [member for member in (chore.creator_id, chore.assignee_id, *listed) if member is not None]


@dataclass
class _ZoneCache:
    """One scan's zones: each household asked once."""

    zones: Zones
    known: dict[uuid.UUID, tzinfo] = field(default_factory=dict)

    async def prefetch(self, chores: Iterable[Chore]) -> None:
        for chore in chores:
            await self.of(chore)

    async def of(self, chore: Chore) -> tzinfo:
        if chore.household_id not in self.known:
            self.known[chore.household_id] = await self.zones.zone(chore.household_id, _members(chore))
        return self.known[chore.household_id]


@dataclass
class Scans:
    """The scans, on the service's database; `now` is every method's argument (the jobs pass their scheduled time)."""

    sessions: async_sessionmaker[AsyncSession]
    zones: Zones
    lists: ChoreLists = field(default_factory=lambda: ChoreLists(None))
    batch_size: int = 100
    rng: random.Random = field(default_factory=random.SystemRandom)
    # Called in each miss-scan batch's transaction after its writes, before it commits (the kill-a-worker test).
    pause: Pause | None = None

    async def _batches(
        self,
        where: Callable[[], sa.Select[Any]],
        handle: Callable[[AsyncSession, Chore, _ZoneCache], Awaitable[bool]],
        *,
        needs_zone: Callable[[Chore], bool],
        pause: Pause | None = None,
    ) -> int:
        """Run `handle` on the chores `where()` selects, a batch per transaction, rows locked FOR UPDATE SKIP LOCKED,
        until a batch comes back short; returns how many `handle` changed. A chore `handle` fails on is logged and
        left out of the rest of the run, so one broken row cannot stop the scan (the next run tries it again)."""
        zones = _ZoneCache(self.zones)
        changed, failed = 0, set[uuid.UUID]()
        while True:
            base = where()
            if failed:
                base = base.where(Chore.id.not_in(failed))
            # The zones first, read unlocked and asked with no transaction open: no row lock (nor connection) is held
            # while the user service answers, and its failure fails the job (retried) before anything is written.
            # (The locked batch below may hold a chore this read did not see — one unlocked meanwhile: its zone is
            # then asked with the batch's locks held, a rare and short wait on a cached answer.)
            async with self.sessions() as session:
                ahead = [chore for chore in await session.scalars(base.limit(self.batch_size)) if needs_zone(chore)]
            await zones.prefetch(ahead)
            households: set[uuid.UUID] = set()
            async with self.sessions() as session, session.begin():
                batch = list(
                    await session.scalars(base.limit(self.batch_size).with_for_update(skip_locked=True, of=Chore))
                )
                for chore in batch:
                    try:
                        async with session.begin_nested():
                            if await handle(session, chore, zones):
                                changed += 1
                                households.add(chore.household_id)
                    except Exception:
                        log.exception("a scan failed on a chore", extra={"chore_id": str(chore.id)})
                        failed.add(chore.id)
                if pause is not None:
                    await pause(session)
            for household_id in sorted(households):
                await self.lists.invalidate(household_id)
            if len(batch) < self.batch_size:
                return changed

    # --- the miss scan ------------------------------------------------------------------------------

    async def missed(self, now: datetime) -> int:
        """Mark every occurrence overdue past its grace at `now` missed (see the module docstring); how many."""
        already = sa.exists().where(
            Occurrence.chore_id == Chore.id,
            Occurrence.due_time == Chore.next_due_time,
            Occurrence.outcome == OUTCOME_MISSED,
        )

        def where() -> sa.Select[Any]:
            return (
                sa.select(Chore)
                .where(Chore.state == ACTIVE, Chore.next_due_time <= now, _missed_at() <= now, ~already)
                .order_by(Chore.next_due_time, Chore.id)
            )

        async def handle(session: AsyncSession, chore: Chore, zones: _ZoneCache) -> bool:
            return await self._miss(session, chore, zones, now)

        return await self._batches(
            where,
            handle,
            needs_zone=lambda chore: chore.recurrence.get("kind") != "once",
            pause=self.pause,
        )

    async def _miss(self, session: AsyncSession, chore: Chore, zones: _ZoneCache, now: datetime) -> bool:
        assignment = assigning.Assignment.from_json(chore.assignment)
        due, held_by = chore.next_due_time, chore.assignee_id
        assert due is not None  # selected so
        missed = ended_occurrence(
            chore,
            due=due,
            outcome=OUTCOME_MISSED,
            completed_by=None,
            recorder_id=None,
            # When it became missed, not when the scan saw it: the same however late the scan runs.
            end_time=due + timedelta(minutes=assignment.grace_minutes),
            completion_id=None,
            now=now,
        )
        occurrence_id = await session.scalar(
            insert(_occurrences)
            .values({column.name: getattr(missed, column.name) for column in _occurrences.c})
            .on_conflict_do_nothing(
                index_elements=["chore_id", "due_time"], index_where=sa.text(f"outcome = '{OUTCOME_MISSED}'")
            )
            .returning(_occurrences.c.id)
        )
        if occurrence_id is None:
            # Marked already: a statement that began before another run's commit can still see the chore unmarked.
            return False
        advance = assignment.on_miss == "advance" and not assigning.is_scheduled(assignment)
        tally = (
            await Tallies(session).tally(chore.household_id, chore.id, assignment, now=now)
            if advance
            else assigning.NO_TALLY
        )
        recurrence = scheduling.Recurrence.from_json(chore.recurrence)
        if recurrence.kind == "once":
            # Stays overdue (it may still be done); only who has it may change.
            if advance:
                chore.assignee_id = assigning.next_assignee(
                    assignment, current=held_by, at=now, tally=tally, rng=self.rng
                )
        else:
            state = await CompletionRepository(session).schedule_state(chore, due, assignment)
            change = scheduling.complete(state, completed_at=now, tz=await zones.of(chore), tally=tally, rng=self.rng)
            chore.next_due_time = change.next_due
            chore.open_time = scheduling.opens_at(due=due, next_due=change.next_due, ended_at=now)
            chore.state = DONE if change.done else ACTIVE
            if advance:
                chore.assignee_id = change.assignee_id
        chore.version += 1
        chore.update_time = now
        penalty = assignment.miss_penalty_points if held_by is not None else 0
        await add_event(
            session,
            events.chore_overdue(
                chore,
                due=due,
                held_by=held_by,
                penalty=penalty,
                occurrence_id=occurrence_id,
                grace_minutes=assignment.grace_minutes,
            ),
            household_id=chore.household_id,
        )
        if penalty and held_by is not None:
            await points.record(
                session, chore.household_id, held_by, -penalty, PENALTY, occurrence_id=occurrence_id, now=now
            )
        if chore.assignee_id != held_by:
            await add_event(
                session,
                events.chore_assigned(chore, previous=held_by, reason=events.ASSIGNED_MISSED),
                household_id=chore.household_id,
            )
        return True

    # --- reminders ----------------------------------------------------------------------------------

    async def reminders(self, now: datetime) -> int:
        """Send every reminder due at `now` not sent yet (see the module docstring); how many were sent."""
        unsent = sa.text(_CLOSEST_UNSENT).bindparams(now=now)

        def where() -> sa.Select[Any]:
            largest = Chore.reminders[1]
            return (
                sa.select(Chore)
                .where(
                    Chore.state == ACTIVE,
                    # Bounds on the due time alone first (ix_chores_active_next_due_time), then the exact ones.
                    Chore.next_due_time <= now + timedelta(minutes=MAX_REMINDER_MINUTES),
                    Chore.next_due_time >= now - timedelta(minutes=MAX_GRACE_MINUTES),
                    sa.func.cardinality(Chore.reminders) > 0,
                    Chore.next_due_time - sa.func.make_interval(0, 0, 0, 0, 0, largest) <= now,
                    _reminded_until() >= now,
                    unsent,
                )
                .order_by(Chore.next_due_time, Chore.id)
            )

        async def handle(session: AsyncSession, chore: Chore, zones: _ZoneCache) -> bool:
            return await self._remind(session, chore, now)

        sent = await self._batches(where, handle, needs_zone=lambda chore: False)
        # A key whose occurrence is past any grace can never be due again (even an undo only brings back an
        # occurrence whose reminders are then past): pruned.
        async with self.sessions.begin() as session:
            await session.execute(sa.delete(_sent).where(_sent.c.due_time < now - timedelta(minutes=MAX_GRACE_MINUTES)))
        return sent

    async def _remind(self, session: AsyncSession, chore: Chore, now: datetime) -> bool:
        due = chore.next_due_time
        assert due is not None
        passed = [minutes for minutes in chore.reminders if due - timedelta(minutes=minutes) <= now]
        if not passed:
            return False
        closest = min(passed)
        recorded = await session.scalars(
            insert(_sent)
            .values([{"chore_id": chore.id, "due_time": due, "before_minutes": m, "sent_time": now} for m in passed])
            .on_conflict_do_nothing()
            .returning(_sent.c.before_minutes)
        )
        if closest not in set(recorded):
            return False
        await add_event(
            session, events.chore_due_soon(chore, due=due, before_minutes=closest), household_id=chore.household_id
        )
        return True

    # --- scheduled rotation ---------------------------------------------------------------------------

    async def rotations(self, now: datetime) -> int:
        """Pass every daily/weekly rotation whose turn has come by `now` on; how many changed assignee."""

        def where() -> sa.Select[Any]:
            return (
                sa.select(Chore)
                .where(
                    sa.text(ROTATING_SQL),
                    sa.or_(Chore.rotation_next_time.is_(None), Chore.rotation_next_time <= now),
                )
                .order_by(Chore.rotation_next_time.nulls_first(), Chore.id)
            )

        async def handle(session: AsyncSession, chore: Chore, zones: _ZoneCache) -> bool:
            return await self._rotate(session, chore, await zones.of(chore), now)

        return await self._batches(where, handle, needs_zone=lambda chore: True)

    async def _rotate(self, session: AsyncSession, chore: Chore, tz: tzinfo, now: datetime) -> bool:
        assignment = assigning.Assignment.from_json(chore.assignment)
        rotate = cast(assigning.Rotate, assignment.rotate)
        order = assignment.assignees
        turn, following = assigning.turn_start(rotate, now, tz), assigning.next_turn(rotate, now, tz)
        index, since = chore.rotation_index, chore.rotation_time
        if since is None or index is None or not 0 <= index < len(order):
            # Not started yet (or the assignment was edited): this turn is the current assignee's.
            start = order.index(chore.assignee_id) if chore.assignee_id in order else 0
            chore.rotation_time, chore.rotation_next_time, chore.rotation_index = turn, following, start
            return False
        away = (await Tallies(session).tally(chore.household_id, chore.id, assignment, now=now)).away
        nominal = assigning.rotation_at(order, rotate, start=since, first=order[index], at=now, tz=tz)
        holder = assigning.rotation_at(order, rotate, start=since, first=order[index], at=now, tz=tz, away=away)
        if holder is None and chore.assignee_id in order:
            holder = chore.assignee_id  # everyone is away: whoever has it keeps it (assignment's rule)
        assert nominal is not None  # order[index] is listed
        chore.rotation_time, chore.rotation_next_time = turn, following
        chore.rotation_index = order.index(nominal)
        if holder == chore.assignee_id:
            return False
        previous = chore.assignee_id
        chore.assignee_id = holder
        chore.version += 1
        chore.update_time = now
        await add_event(
            session,
            events.chore_assigned(chore, previous=previous, reason=events.ASSIGNED_ROTATION),
            household_id=chore.household_id,
        )
        return True


def _now(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def advisory_pause(key: int) -> Pause:
    """Wait, inside the transaction, for the PostgreSQL advisory lock `key` (held by a test)."""

    async def pause(session: AsyncSession) -> None:
        await session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    return pause


MakeScans = Callable[[async_sessionmaker[AsyncSession]], Scans]


def task_jobs(settings: Settings, *, scans: MakeScans | None = None) -> procrastinate.Blueprint:
    """The task service's own jobs for its worker: the three scans, each on its cron. `scans` makes the `Scans` from
    the worker's sessions (by default: zones from the user service as this service, the household's chore pages
    dropped through the service's cache), built when the first job runs."""
    blueprint = procrastinate.Blueprint()
    held: dict[str, Scans] = {}

    def default(sessions: async_sessionmaker[AsyncSession]) -> Scans:
        from kit.runtime import create_runtime  # the worker's own: channels, service tokens, cache

        runtime = create_runtime(settings)
        assert runtime.service_tokens is not None  # the task service is not the issuer
        ttl = settings.chore_list_ttl_seconds
        return Scans(
            sessions,
            MembershipZones(runtime.channels["user"], runtime.service_tokens),
            lists=ChoreLists(runtime.cache("chore-lists", ttl=ttl) if ttl else None),
            batch_size=settings.scan_batch_size,
            pause=advisory_pause(settings.miss_scan_pause_lock) if settings.miss_scan_pause_lock is not None else None,
        )

    def scanner(job: procrastinate.JobContext) -> Scans:
        context.service_name.set(settings.service)  # events are the task service's (kit.outbox checks)
        if "scans" not in held:
            held["scans"] = (scans or default)(job.additional_context[SESSIONS])
        return held["scans"]

    @blueprint.periodic(cron=settings.miss_scan_cron, periodic_id="missed", queueing_lock=MISS_TASK)
    @blueprint.task(name=MISS_TASK, pass_context=True, retry=DEFAULT_RETRY, queueing_lock=MISS_TASK)
    async def scan_missed(job: procrastinate.JobContext, timestamp: int) -> int:
        return await scanner(job).missed(_now(timestamp))

    @blueprint.periodic(cron=settings.reminder_scan_cron, periodic_id="reminders", queueing_lock=REMINDER_TASK)
    @blueprint.task(name=REMINDER_TASK, pass_context=True, retry=DEFAULT_RETRY, queueing_lock=REMINDER_TASK)
    async def scan_reminders(job: procrastinate.JobContext, timestamp: int) -> int:
        return await scanner(job).reminders(_now(timestamp))

    @blueprint.periodic(cron=settings.rotation_scan_cron, periodic_id="rotations", queueing_lock=ROTATION_TASK)
    @blueprint.task(name=ROTATION_TASK, pass_context=True, retry=DEFAULT_RETRY, queueing_lock=ROTATION_TASK)
    async def scan_rotations(job: procrastinate.JobContext, timestamp: int) -> int:
        return await scanner(job).rotations(_now(timestamp))

    return blueprint


__all__ = [
    "SCAN_MISSED",
    "SCAN_REMINDERS",
    "SCAN_ROTATIONS",
    "MembershipZones",
    "Scans",
    "Zones",
    "advisory_pause",
    "task_jobs",
]
