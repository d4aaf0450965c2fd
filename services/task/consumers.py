"""Event handlers of the task service (the user stream), run by `kit.events.EventConsumer` inside its transaction.

- member.updated / member.left / household.updated: drop cached membership answers (services.user.client);
- user.deleted: the person's data erased or anonymised (services.task.privacy.erase_user), their cached
  membership answers dropped, and the chore pages of every household they were in or that names them;
- household.deleted: the household's chores, completions and away periods erased (privacy.erase_household),
  its chore pages dropped;
- member.away_set / member.away_cleared: the member's away period in `away_periods` (a kit.projection: one per
  member per household, the newest event wins, a clearing is a tombstone), which assignment consults.

Each is idempotent on its own, beyond the consumer's inbox. Cached chore pages are dropped once the transaction
has committed (services.task.lists says why not before).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from hearth.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kit.db import utcnow
from kit.events import Event, Handlers, combine, required_id
from kit.projection import Projection
from services.task import privacy
from services.task.lists import ChoreLists
from services.task.models import Away
from services.user.client import MembershipClient

log = logging.getLogger("hearth.task.consumers")

AWAY = Projection(Away.__table__, key=("household_id", "user_id"), tombstone="cleared_at")

# Invalidations started after a commit, referenced until done (the event loop keeps only weak references).
_AFTER_COMMIT: set[asyncio.Task[None]] = set()


def after_commit(session: AsyncSession, action: Callable[[], Awaitable[None]]) -> None:
    """Run `action` once `session`'s transaction has committed (never when it rolls back)."""

    async def run() -> None:
        try:
            await action()
        except Exception:
            log.exception("an invalidation after commit failed")

    def started(_: Session) -> None:
        task = asyncio.get_running_loop().create_task(run())
        _AFTER_COMMIT.add(task)
        task.add_done_callback(_AFTER_COMMIT.discard)

    sa.event.listen(session.sync_session, "after_commit", started, once=True)


def _invalidate_lists(lists: ChoreLists, households: Iterable[uuid.UUID]) -> Callable[[], Awaitable[None]]:
    chosen = sorted(set(households))

    async def invalidate() -> None:
        for household_id in chosen:
            await lists.invalidate(household_id)

    return invalidate


def _time(stamp: Timestamp, present: bool) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if present else None


def handlers(membership: MembershipClient, lists: ChoreLists, *, clock: Callable[[], datetime] = utcnow) -> Handlers:
    async def on_user_deleted(session: AsyncSession, event: Event[events_pb2.UserDeleted]) -> None:
        user_id = required_id(event.payload.user_id)
        member_of = {required_id(household_id) for household_id in event.payload.household_ids}
        erased = await privacy.erase_user(session, user_id, now=clock())
        for household_id in member_of:
            await membership.invalidate(household_id, user_id)
        after_commit(session, _invalidate_lists(lists, member_of | erased.households))

    async def on_household_deleted(session: AsyncSession, event: Event[events_pb2.HouseholdDeleted]) -> None:
        household_id = required_id(event.payload.household_id, event.household_id)
        await privacy.erase_household(session, household_id)
        after_commit(session, _invalidate_lists(lists, [household_id]))

    async def on_away_set(session: AsyncSession, event: Event[events_pb2.MemberAwaySet]) -> None:
        away = event.payload
        key = {
            "household_id": required_id(away.household_id, event.household_id),
            "user_id": required_id(away.user_id),
        }
        values = {
            "start_time": _time(away.start_time, away.HasField("start_time")),
            "end_time": _time(away.end_time, away.HasField("end_time")),
        }
        await AWAY.apply(session, key, at=event.occurred_at, values=values)

    async def on_away_cleared(session: AsyncSession, event: Event[events_pb2.MemberAwayCleared]) -> None:
        cleared = event.payload
        key = {
            "household_id": required_id(cleared.household_id, event.household_id),
            "user_id": required_id(cleared.user_id),
        }
        await AWAY.apply(session, key, at=event.occurred_at, removed=True)

    own: Handlers = {
        events_pb2.UserDeleted: on_user_deleted,
        events_pb2.HouseholdDeleted: on_household_deleted,
        events_pb2.MemberAwaySet: on_away_set,
        events_pb2.MemberAwayCleared: on_away_cleared,
    }
    return combine(own, membership.invalidation_handlers())
