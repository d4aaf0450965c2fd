"""What the task service holds about a person, and what becomes of it (GDPR): erased or anonymised when their
account is deleted (user.deleted), exported for their data export (PrivacyService.ExportUserData); and what it
holds about a household, erased when the household is deleted (household.deleted).

On user.deleted (`erase_user`) the household keeps its history, attributed to a deleted user, and loses the person:

- completions they did or recorded stay (the household's counts, points and times do not change); `completed_by`
  and `recorder_id` become `DELETED_USER`, and the note and photo of each such completion are cleared: free text
  and a picture written, taken or uploaded by or about the person are theirs, not the household's;
- completions they approved or rejected keep the decision; `reviewer_id` becomes `DELETED_USER` and the review
  note is cleared (as it is on completions they did or recorded);
- completions of occurrences they held (`assignee_id`, what least_assigned counts) keep their note: only the id
  becomes `DELETED_USER`;
- chores they created stay, `creator_id` `DELETED_USER`; title and description are the household's (the
  household goes on doing the chore), kept;
- chores whose assignment lists them lose them (`scheduling.without`: the others keep their rotation order; a
  fixed chore left with nobody becomes unassigned); a chore assigned to them passes to the assignment's next
  assignee (`assignment.reassigned`: a round robin to whoever followed them), or to nobody when it is done or
  archived; each such chore gets a new version and a chore.updated
  event (field `assignment`), in the same transaction;
- their points ledger entries stay (the household's history), `user_id` / `actor_id` `DELETED_USER` (the
  only change a ledger entry ever takes); their balances are deleted; rewards they created stay, `creator_id`
  `DELETED_USER`;
- occurrences (the ended ones' history, models.Occurrence) they held, did, recorded or skipped stay, with each such
  id (`assignee_id`, `completed_by`, `recorder_id`, `prior_assignee_id`) `DELETED_USER`: they hold no free text;
- photos they uploaded stay while a completion names them (a photo is the household's record of its work, and may
  prove another member's completion): only `uploaded_by` becomes NULL, so nothing ties the picture to them any more
  (services.task.photos). The photos of their own completions lose that reference above, so the unused-photo prune
  (`task:prune_unused_photos`) deletes them, bytes too, once they are TASK_PHOTO_UNUSED_RETENTION_HOURS old;
- their away periods and their request ids (kit.idempotency: the caller's user id, kept 24 h only for retries
  they can no longer send) are deleted;
- events in the outbox that name them (published ones, kept for the retention period, and unpublished ones,
  still to be sent) have their id replaced by `DELETED_USER` (kit.erasure), so nothing task publishes from now on
  names them.
Cached answers that name them (their membership in each household; chore list pages rendering them as an
assignee) are dropped by the consumer (services.task.consumers). A page dropped is unreadable at once but stays
in Redis until its TTL (`TASK_CHORE_LIST_TTL_SECONDS`).

`DELETED_USER` is the nil UUID: one marker for every deleted person, so that no table keeps a per-person
pseudonym that would still tie their completions together.

On household.deleted (`erase_household`) its chores, categories, completions, occurrences, points ledger, balances,
rewards, away periods and request ids are deleted, not archived: nobody can read them any more (no one is a member
of a deleted household), so keeping them would be keeping the members' history for no purpose; its photos too, rows
and stored bytes (services.task.photos.handlers). Outbox rows about it are left to the outbox's retention.

Every step is idempotent: handling the same event again finds nothing left to change.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from google.protobuf import json_format
from google.protobuf.message import Message
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context
from kit.erasure import DELETED_USER, anonymise_outbox
from kit.errors import PermissionDenied
from kit.outbox import add_event
from services.task import assignment, converters, events, scheduling
from services.task.models import (
    ACTIVE,
    Away,
    CalendarFeed,
    Category,
    Chore,
    Completion,
    Occurrence,
    Photo,
    PointBalance,
    PointEntry,
    Reward,
    idempotency_keys,
)

# What a random strategy draws from when a chore's assignee is erased.
_RNG = random.SystemRandom()
# The only service whose export job may read a person's data here.
EXPORTER = "user"

_ASSIGNEES: sa.ColumnElement[Any] = sa.literal_column("chores.assignment -> 'assignees'", JSONB)


def _chores_of(user_id: uuid.UUID) -> sa.ColumnElement[bool]:
    """Chores that name `user_id`: created by them, assigned to them, or with them in the assignment. (A scan of
    the chores: see models.Completion's indexes.)"""
    return sa.or_(
        Chore.creator_id == user_id,
        Chore.assignee_id == user_id,
        _ASSIGNEES.contains([str(user_id)]),
    )


def _completions_of(user_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.or_(Completion.completed_by == user_id, Completion.recorder_id == user_id)


# The columns of an occurrence that may name a person (each indexed but prior_assignee_id, which is only ever the
# assignee_id of the same row or a later-erased one's: it is rewritten in the same statements).
_OCCURRENCE_PEOPLE = ("assignee_id", "completed_by", "recorder_id", "prior_assignee_id")


def _occurrences_of(user_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.or_(
        Occurrence.assignee_id == user_id, Occurrence.completed_by == user_id, Occurrence.recorder_id == user_id
    )


# --- erasure -----------------------------------------------------------------------------------------------


@dataclass
class Erased:
    """What `erase_user` changed: the households whose cached chore pages show the person."""

    households: set[uuid.UUID] = field(default_factory=set)


async def erase_user(session: AsyncSession, user_id: uuid.UUID, *, now: datetime) -> Erased:
    """Erase or anonymise everything that names `user_id` (see the module docstring), in `session`'s transaction."""
    erased = Erased()
    chores = await session.scalars(sa.select(Chore).where(_chores_of(user_id)).order_by(Chore.id).with_for_update())
    for chore in list(chores):
        erased.households.add(chore.household_id)
        before = scheduling.Assignment.from_json(chore.assignment)
        after = scheduling.without(before, user_id)
        if chore.creator_id == user_id:
            chore.creator_id = DELETED_USER
        if chore.assignee_id == user_id:
            chore.assignee_id = (
                assignment.reassigned(before, after, current=user_id, rng=_RNG) if chore.state == ACTIVE else None
            )
        chore.assignment = after.as_json()
        chore.version += 1
        chore.update_time = now
        if after != before:
            await session.flush()
            await add_event(session, events.chore_updated(chore, ["assignment"]), household_id=chore.household_id)
    await session.flush()

    involved = _completions_of(user_id)
    result = await session.execute(
        sa.update(Completion)
        .where(involved)
        .values(
            completed_by=sa.case((Completion.completed_by == user_id, DELETED_USER), else_=Completion.completed_by),
            recorder_id=sa.case((Completion.recorder_id == user_id, DELETED_USER), else_=Completion.recorder_id),
            note="",
            photo="",
            review_note="",  # the reviewer's words about their work are about them
        )
        .returning(Completion.household_id)
        .execution_options(synchronize_session=False)
    )
    erased.households.update(result.scalars())
    # The reviews they made: the decision stays (it decided what counts), their id and words do not.
    await session.execute(
        sa.update(Completion)
        .where(Completion.reviewer_id == user_id)
        .values(reviewer_id=DELETED_USER, review_note="")
        .execution_options(synchronize_session=False)
    )
    # Having held an occurrence someone else completed is no reason to clear that person's note.
    await session.execute(
        sa.update(Completion)
        .where(Completion.assignee_id == user_id)
        .values(assignee_id=DELETED_USER)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        sa.update(Occurrence)
        .where(sa.or_(_occurrences_of(user_id), Occurrence.prior_assignee_id == user_id))
        .values(
            {
                name: sa.case((getattr(Occurrence, name) == user_id, DELETED_USER), else_=getattr(Occurrence, name))
                for name in _OCCURRENCE_PEOPLE
            }
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        sa.update(Photo)
        .where(Photo.uploaded_by == user_id)
        .values(uploaded_by=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(sa.delete(Away).where(Away.user_id == user_id))
    await _erase_points_of(session, user_id)
    await session.execute(sa.delete(idempotency_keys).where(idempotency_keys.c.caller == str(user_id)))
    await anonymise_outbox(session, user_id)
    return erased


async def _erase_points_of(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The person's ledger entries stay (the household's history of points), their id replaced by DELETED_USER
    (the ledger's one permitted change); their balances go (nobody can spend them); rewards they created stay,
    the creator DELETED_USER."""
    for column in (PointEntry.user_id, PointEntry.actor_id):
        await session.execute(
            sa.update(PointEntry)
            .where(column == user_id)
            .values({column.key: DELETED_USER})
            .execution_options(synchronize_session=False)
        )
    await session.execute(sa.delete(PointBalance).where(PointBalance.user_id == user_id))
    await session.execute(
        sa.update(Reward)
        .where(Reward.creator_id == user_id)
        .values(creator_id=DELETED_USER)
        .execution_options(synchronize_session=False)
    )


async def erase_household(session: AsyncSession, household_id: uuid.UUID) -> None:
    """Delete what task holds for the household (see the module docstring), in `session`'s transaction."""
    resources = sa.union_all(
        sa.select(Chore.id).where(Chore.household_id == household_id),
        sa.select(Completion.id).where(Completion.household_id == household_id),
        sa.select(Reward.id).where(Reward.household_id == household_id),
        sa.select(PointEntry.id).where(PointEntry.household_id == household_id),
        sa.select(Occurrence.id).where(Occurrence.household_id == household_id),
    )
    await session.execute(sa.delete(idempotency_keys).where(idempotency_keys.c.resource_id.in_(resources)))
    await session.execute(sa.delete(Away).where(Away.household_id == household_id))
    # Completions would go with their chores (ON DELETE CASCADE); by household, they go by their index.
    for model in (Occurrence, PointEntry, PointBalance, Completion, Reward, Chore, Category):
        await session.execute(
            sa.delete(model).where(model.household_id == household_id).execution_options(synchronize_session=False)
        )


# --- export ------------------------------------------------------------------------------------------------


def _resource(message: Message) -> dict[str, Any]:
    """A resource as its JSON mapping (proto field names, RFC 3339 times, enum names)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Everything task holds about `user_id`: the chores they created, those assigned to them or listing them in
    their assignment, the completions they did or recorded (with times, notes and photos), their away
    periods (cleared ones too: `cleared_time`), the occurrences they held, did, recorded or skipped, their points
    ledger and balances, the rewards they created, their calendar feeds and the photos they uploaded (ids and what
    each is, not the bytes), in every household (former ones included)."""
    chores = list(
        await session.scalars(sa.select(Chore).where(_chores_of(user_id)).order_by(Chore.create_time, Chore.id))
    )
    assigned = [
        chore
        for chore in chores
        if chore.assignee_id == user_id or user_id in scheduling.Assignment.from_json(chore.assignment).assignees
    ]
    completions = (
        await session.execute(
            sa.select(Completion, Chore.title)
            .join(Chore, Chore.id == Completion.chore_id)
            .where(_completions_of(user_id))
            .order_by(Completion.complete_time, Completion.id)
        )
    ).all()
    reviewed = (
        await session.execute(
            sa.select(Completion, Chore.title)
            .join(Chore, Chore.id == Completion.chore_id)
            .where(Completion.reviewer_id == user_id)
            .order_by(Completion.review_time, Completion.id)
        )
    ).all()
    occurrences = (
        await session.execute(
            sa.select(Occurrence, Chore.title)
            .join(Chore, Chore.id == Occurrence.chore_id)
            .where(_occurrences_of(user_id))
            .order_by(Occurrence.end_time, Occurrence.id)
        )
    ).all()
    away = await session.scalars(sa.select(Away).where(Away.user_id == user_id).order_by(Away.household_id))
    entries = await session.scalars(
        sa.select(PointEntry).where(PointEntry.user_id == user_id).order_by(PointEntry.create_time, PointEntry.id)
    )
    balances = await session.scalars(
        sa.select(PointBalance).where(PointBalance.user_id == user_id).order_by(PointBalance.household_id)
    )
    rewards = await session.scalars(
        sa.select(Reward).where(Reward.creator_id == user_id).order_by(Reward.create_time, Reward.id)
    )
    feeds = await session.scalars(
        sa.select(CalendarFeed).where(CalendarFeed.user_id == user_id).order_by(CalendarFeed.household_id)
    )
    photos = await session.scalars(
        sa.select(Photo).where(Photo.uploaded_by == user_id).order_by(Photo.create_time, Photo.id)
    )
    return {
        "service": "task",
        "user": f"users/{user_id}",
        "chores_created": [_resource(converters.chore_to_proto(c)) for c in chores if c.creator_id == user_id],
        "chores_assigned": [_resource(converters.chore_to_proto(c)) for c in assigned],
        "completions": [
            {**_resource(converters.completion_to_proto(completion)), "chore_title": title}
            for completion, title in completions
        ],
        # Others' completions they approved or rejected.
        "completions_reviewed": [
            {**_resource(converters.completion_to_proto(completion)), "chore_title": title}
            for completion, title in reviewed
        ],
        "occurrences": [
            {**_resource(converters.occurrence_to_proto(occurrence)), "chore_title": title}
            for occurrence, title in occurrences
        ],
        "away_periods": [
            {
                "household": f"households/{period.household_id}",
                "start_time": period.start_time.isoformat() if period.start_time else None,
                "end_time": period.end_time.isoformat() if period.end_time else None,
                "cleared_time": period.cleared_at.isoformat() if period.cleared_at else None,
            }
            for period in away
        ],
        "points_ledger": [_resource(converters.point_entry_to_proto(entry)) for entry in entries],
        "point_balances": [
            {"household": f"households/{balance.household_id}", "balance": balance.balance} for balance in balances
        ],
        "rewards_created": [_resource(converters.reward_to_proto(reward)) for reward in rewards],
        # That they have a feed, and since when; never its token (only a hash is kept, and that opens nothing).
        "calendar_feeds": [
            {"household": f"households/{feed.household_id}", "create_time": feed.create_time.isoformat()}
            for feed in feeds
        ],
        # The photos they uploaded, named (the images themselves are the household's: GET …/photos/{id} serves them
        # to its members); what each is, not its bytes.
        "photos_uploaded": [_resource(converters.photo_to_proto(photo)) for photo in photos],
    }


class UserData:
    """PrivacyService's use case: a person's data for the user service's export job (internal: service tokens
    only, checked by kit.interceptors; and of those only the user service's)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def export(self, user_id: uuid.UUID) -> str:
        """One JSON object (`export_user`), as text."""
        caller = context.caller.get()
        if caller is None or caller.service != EXPORTER:
            raise PermissionDenied(f"only the {EXPORTER} service exports a person's data")
        async with self._sessions() as session:
            data = await export_user(session, user_id)
        return json.dumps(data, ensure_ascii=False)


__all__: Sequence[str] = ["DELETED_USER", "Erased", "UserData", "erase_household", "erase_user"]
