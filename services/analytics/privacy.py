"""What the analytics service holds about a person, and what becomes of it (GDPR): anonymised when their account
is deleted (user.deleted), exported for their data export (PrivacyService.ExportUserData); and what it holds about
a household, erased when the household is deleted (household.deleted).

On user.deleted (`erase_user`):
- their completions stay in the fact table, re-keyed to `DELETED_USER` (one marker for every deleted person):
  the household's totals (completions, completion rate, fairness of the current members' shares) are what they
  were, and the rows no longer say who did them, nor tie a deleted person's completions together;
- the missed occurrences they held get the same treatment (re-keyed to `DELETED_USER`): `overdue` and the
  completion rate stay what they were;
- their member rows (role, join time, departure) are deleted: they describe the person, not the household's
  work, and stats list only current members;
- they are remembered in `erased_users` by `erasure_key` (SHA-256 of the id), so a chore.completed of theirs
  (or chore.overdue) read from the task stream after the user stream's user.deleted is recorded as DELETED_USER's
  too.
Cached membership answers (which carry display names) are dropped by the consumer.

On household.deleted (`erase_household`) its members, completions and missed occurrences are deleted, not
archived: nobody can ask for the stats of a deleted household, and the read model can be rebuilt from nothing
else. The household's id is kept in `deleted_households`, so its late events are dropped rather than starting a
new read model.

Both are idempotent: handling the same event again changes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context
from kit.errors import PermissionDenied
from services.analytics.models import (
    DELETED_USER,
    Completion,
    DeletedHousehold,
    ErasedUser,
    Member,
    MissedOccurrence,
    erasure_key,
)

# The only service whose export job may read a person's data here.
EXPORTER = "user"


async def erase_user(session: AsyncSession, user_id: uuid.UUID, *, now: datetime) -> None:
    """Anonymise `user_id` (see the module docstring), in `session`'s transaction."""
    await session.execute(
        insert(ErasedUser).values(user_key=erasure_key(user_id), erased_at=now).on_conflict_do_nothing()
    )
    for model in (Completion, MissedOccurrence):
        await session.execute(
            sa.update(model)
            .where(model.user_id == user_id)
            .values(user_id=DELETED_USER)
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        sa.delete(Member).where(Member.user_id == user_id).execution_options(synchronize_session=False)
    )


async def erase_household(session: AsyncSession, household_id: uuid.UUID, *, now: datetime) -> None:
    """Delete the household's read model (see the module docstring), in `session`'s transaction."""
    await session.execute(
        insert(DeletedHousehold).values(household_id=household_id, deleted_at=now).on_conflict_do_nothing()
    )
    for model in (Completion, MissedOccurrence, Member):
        await session.execute(
            sa.delete(model).where(model.household_id == household_id).execution_options(synchronize_session=False)
        )


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Everything analytics holds about `user_id`: their memberships as the events told them, their completions
    and the occurrences they missed (the facts stats are made of) and, per household, their all-time totals."""
    members = await session.scalars(sa.select(Member).where(Member.user_id == user_id).order_by(Member.household_id))
    completions = list(
        await session.scalars(
            sa.select(Completion)
            .where(Completion.user_id == user_id)
            .order_by(Completion.completed_at, Completion.completion_id)
        )
    )
    missed = await session.scalars(
        sa.select(MissedOccurrence)
        .where(MissedOccurrence.user_id == user_id)
        .order_by(MissedOccurrence.due_at, MissedOccurrence.occurrence_id)
    )
    by_household: dict[uuid.UUID, list[Completion]] = defaultdict(list)
    for completion in completions:
        by_household[completion.household_id].append(completion)
    return {
        "service": "analytics",
        "user": f"users/{user_id}",
        "memberships": [
            {
                "household": f"households/{member.household_id}",
                "role": member.role,
                "join_time": _time(member.joined_at),
                "leave_time": _time(member.left_at),
            }
            for member in members
        ],
        "household_totals": [
            {
                "household": f"households/{household_id}",
                "completions": len(done),
                "on_time": sum(1 for c in done if c.on_time),
                "points": sum(c.points for c in done),
                "estimated_minutes": sum(c.estimated_minutes for c in done),
                "first_complete_time": _time(done[0].completed_at),
                "last_complete_time": _time(done[-1].completed_at),
            }
            for household_id, done in sorted(by_household.items())
        ],
        "completions": [
            {
                "completion": (f"households/{c.household_id}/chores/{c.chore_id}/completions/{c.completion_id}"),
                "complete_time": _time(c.completed_at),
                "due_time": _time(c.due_at),
                "on_time": c.on_time,
                "points": c.points,
                "estimated_minutes": c.estimated_minutes,
            }
            for c in completions
        ],
        "missed_occurrences": [
            {
                "occurrence": f"households/{m.household_id}/chores/{m.chore_id}/occurrences/{m.occurrence_id}",
                "due_time": _time(m.due_at),
                "penalty_points": m.penalty_points,
            }
            for m in missed
        ],
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
