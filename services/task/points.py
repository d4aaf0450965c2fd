"""Points and rewards: each member's append-only points ledger, their balance, and the rewards points buy.

The ledger (`models.PointEntry`) only grows: `record` appends an entry (completion +, undo -, penalty -,
redemption -, adjustment + or -) and moves the member's balance in the same transaction; nothing updates or deletes an
entry (erasure replaces a deleted person's id with kit.erasure.DELETED_USER; a deleted household's go with it).
Every entry writes `points.changed` through the outbox, in its transaction. A completion credits its completer
(`completed_by`, not the recorder) with the chore's points; a chore worth 0 points writes no entry.

Balances: `point_balances` holds SUM(delta) per (household, member), moved by the statement that appends the
entry (an upsert, `balance + delta`), so reading a balance is one primary-key lookup however long the ledger, and
each entry also stores the balance after it. The balance row's lock orders every change of one member's points:
a redemption is `UPDATE … SET balance = balance - cost WHERE balance >= cost`, which PostgreSQL re-checks on the
newest row once a concurrent change commits, so parallel redemptions never take a balance below zero — the ones
that no longer fit are refused (ABORTED → 409). Completions, undos and penalties are not refused: an undo of points
already spent, or a penalty, may leave a balance below zero (a debt), which the ledger shows as it is.

Rules: any member reads anyone's ledger in their household (`points.read`); owners and admins create rewards
(`reward.manage`); every member, a child too, redeems a reward for themselves (`reward.redeem`). Someone else's
household's reward is NOT_FOUND. CreateReward's and RedeemReward's request ids are the caller's (kit.idempotency):
a retry gets the first answer and spends once. Deleting a reward archives it: it is no longer listed, and
redeeming it is FAILED_PRECONDITION (GONE, 410) — but a retry of a redemption made before still gets its answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import idempotency, pagination
from kit.db import utcnow
from kit.errors import Conflict, Gone, NotFound
from kit.ids import new_id
from kit.outbox import event_row, new_envelope, with_event
from kit.repository import Cursor, Page, keyset, page
from kit.validation import Violations, caller_id
from services.task.models import POINT_REASONS, REDEMPTION, PointBalance, PointEntry, Reward
from services.user.client import PERMISSIONS, MembershipClient

COST_MIN, COST_MAX = 1, 100_000
TITLE_MAX, DESCRIPTION_MAX = 200, 2000
# Ledger entries and rewards are both listed by (create_time, id).
_CREATION_CURSOR: Sequence[pagination.CursorPart] = (pagination.Timestamp(), pagination.Uuid())
_balances = PointBalance.metadata.tables[PointBalance.__tablename__]
_ledger = PointEntry.metadata.tables[PointEntry.__tablename__]
_ENTRY_NAMES = tuple(column.name for column in _ledger.c)
# A ledger entry and its points.changed event in one round trip (`_append`).
_APPEND_ENTRY = with_event(
    sa.insert(_ledger).values(
        {name: sa.bindparam(f"entry_{name}", type_=_ledger.c[name].type) for name in _ENTRY_NAMES}
    )
)


async def record(
    session: AsyncSession,
    household_id: uuid.UUID,
    user_id: uuid.UUID,
    delta: int,
    reason: str,
    *,
    completion_id: uuid.UUID | None = None,
    reward_id: uuid.UUID | None = None,
    occurrence_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    entry_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> PointEntry:
    """Append a ledger entry of `delta` points for `user_id`, move their balance and write `points.changed`, in
    `session`'s transaction (holding the balance row's lock until it ends). Any sign of `delta` is taken: this
    is for completions, undos (a negative delta referring to the completion), penalties (a negative delta referring
    to the missed occurrence, once per occurrence: a unique index) and adjustments; spending goes through `spend`,
    which never takes a balance below zero."""
    if reason not in POINT_REASONS:
        raise ValueError(f"unknown ledger reason {reason!r}")
    moment = now or utcnow()
    statement = insert(_balances).values(household_id=household_id, user_id=user_id, balance=delta, update_time=moment)
    balance = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=["household_id", "user_id"],
            set_={"balance": _balances.c.balance + statement.excluded.balance, "update_time": moment},
        ).returning(_balances.c.balance)
    )
    assert balance is not None
    return await _append(
        session,
        PointEntry(
            id=entry_id or new_id(),
            household_id=household_id,
            user_id=user_id,
            delta=delta,
            reason=reason,
            completion_id=completion_id,
            reward_id=reward_id,
            occurrence_id=occurrence_id,
            actor_id=actor_id,
            balance=balance,
            create_time=moment,
        ),
    )


async def spend(
    session: AsyncSession,
    household_id: uuid.UUID,
    user_id: uuid.UUID,
    cost: int,
    *,
    reward_id: uuid.UUID,
    entry_id: uuid.UUID,
    now: datetime,
) -> PointEntry | None:
    """Take `cost` points from `user_id`'s balance for a redemption, only if the balance covers it (None when it
    does not: nothing is written). One conditional UPDATE under the balance row's lock (see the module docstring)."""
    balance = await session.scalar(
        sa.update(_balances)
        .where(
            _balances.c.household_id == household_id,
            _balances.c.user_id == user_id,
            _balances.c.balance >= cost,
        )
        .values(balance=_balances.c.balance - cost, update_time=now)
        .returning(_balances.c.balance)
    )
    if balance is None:
        return None
    return await _append(
        session,
        PointEntry(
            id=entry_id,
            household_id=household_id,
            user_id=user_id,
            delta=-cost,
            reason=REDEMPTION,
            completion_id=None,
            reward_id=reward_id,
            occurrence_id=None,
            actor_id=user_id,
            balance=balance,
            create_time=now,
        ),
    )


async def _append(session: AsyncSession, entry: PointEntry) -> PointEntry:
    """Insert `entry` and its points.changed event: one statement (built once), past the ORM's unit of work — it
    runs on every completion. `entry` stays a plain object, not one the session tracks."""
    params: dict[str, Any] = {f"entry_{name}": getattr(entry, name) for name in _ENTRY_NAMES}
    params.update(event_row(new_envelope(points_changed(entry), household_id=entry.household_id)))
    # Through the session (not its connection): it flushes pending changes first.
    await session.execute(_APPEND_ENTRY, params)
    return entry


def points_changed(entry: PointEntry) -> events_pb2.PointsChanged:
    return events_pb2.PointsChanged(
        household_id=str(entry.household_id),
        user_id=str(entry.user_id),
        entry_id=str(entry.id),
        delta=entry.delta,
        reason=entry.reason,
        balance=entry.balance,
        completion_id=str(entry.completion_id or ""),
        reward_id=str(entry.reward_id or ""),
        occurrence_id=str(entry.occurrence_id or ""),
    )


async def balance_of(session: AsyncSession, household_id: uuid.UUID, user_id: uuid.UUID) -> int:
    value = await session.scalar(
        sa.select(PointBalance.balance).where(
            PointBalance.household_id == household_id, PointBalance.user_id == user_id
        )
    )
    return int(value or 0)


@dataclass(frozen=True)
class Ledger:
    user_id: uuid.UUID
    balance: int
    entries: Page[PointEntry]


@dataclass(frozen=True)
class RewardInput:
    title: str
    description: str
    cost: int


@dataclass(frozen=True)
class Redeemed:
    entry: PointEntry
    cost: int


async def _by_creation(
    session: AsyncSession,
    model: type[PointEntry] | type[Reward],
    where: sa.ColumnElement[bool],
    *,
    page_size: int,
    page_token: str,
    fingerprint: str,
    descending: bool,
) -> Page[Any]:
    """A keyset page of `model` rows matching `where`, by (create_time, id)."""

    async def fetch(after: Cursor | None, limit: int) -> list[Any]:
        query: sa.Select[Any] = sa.select(model).where(where)
        order = (model.create_time.expression, model.id.expression)
        return list(await session.scalars(keyset(query, order, after=after, limit=limit, descending=descending)))

    return await page(
        fetch,
        page_size=page_size,
        page_token=page_token,
        query=fingerprint,
        cursor=_CREATION_CURSOR,
        key=lambda row: (row.create_time, row.id),
    )


class PointsService:
    """The use cases of PointsService (gRPC), authorised through the user service like ChoreService's."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        membership: MembershipClient,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._membership = membership
        self._clock = clock

    async def ledger(
        self, household_id: uuid.UUID, user_id: uuid.UUID | None, *, page_size: int = 0, page_token: str = ""
    ) -> Ledger:
        """`user_id`'s (None: the caller's) balance and entries, newest first. Someone who is not a member of the
        household is NOT_FOUND, like the household itself for an outsider."""
        await self._membership.require(household_id, roles=PERMISSIONS["points.read"])
        user = user_id or caller_id()
        if user != caller_id() and await self._membership.get(household_id, user) is None:
            raise NotFound("member not found")
        fingerprint = pagination.fingerprint("points", str(household_id), str(user))
        async with self._sessions() as session:
            entries = await _by_creation(
                session,
                PointEntry,
                sa.and_(PointEntry.household_id == household_id, PointEntry.user_id == user),
                page_size=page_size,
                page_token=page_token,
                fingerprint=fingerprint,
                descending=True,
            )
            balance = await balance_of(session, household_id, user)
        return Ledger(user, balance, entries)

    async def create_reward(self, household_id: uuid.UUID, data: RewardInput, *, request_id: str = "") -> Reward:
        await self._membership.require(household_id, roles=PERMISSIONS["reward.manage"])
        creator_id = caller_id()
        with Violations() as errors:
            title = errors.text("title", data.title, max_length=TITLE_MAX, required=True)
            description = errors.text("description", data.description, max_length=DESCRIPTION_MAX)
            if not COST_MIN <= data.cost <= COST_MAX:
                errors.add("cost", f"must be between {COST_MIN} and {COST_MAX}")
            errors.request_id(request_id)
        now = self._clock()
        reward = Reward(
            id=new_id(),
            household_id=household_id,
            title=title,
            description=description,
            cost=data.cost,
            creator_id=creator_id,
            create_time=now,
        )
        async with self._sessions.begin() as session:
            earlier = await idempotency.claim(
                session,
                scope="CreateReward",
                caller=creator_id,
                request_id=request_id,
                fingerprint=idempotency.fingerprint(household_id, title, description, data.cost),
                resource_id=reward.id,
            )
            if earlier is not None:
                return await self._reward(session, household_id, earlier)
            session.add(reward)
        return reward

    @staticmethod
    async def _reward(
        session: AsyncSession, household_id: uuid.UUID, reward_id: uuid.UUID, *, lock: bool = False
    ) -> Reward:
        query = sa.select(Reward).where(Reward.id == reward_id, Reward.household_id == household_id)
        reward = await session.scalar(query.with_for_update() if lock else query)
        if reward is None:
            raise NotFound("reward not found")
        return reward

    async def list_rewards(self, household_id: uuid.UUID, *, page_size: int = 0, page_token: str = "") -> Page[Reward]:
        """Oldest first (a household's short list, in the order it was made)."""
        await self._membership.require(household_id, roles=PERMISSIONS["points.read"])
        fingerprint = pagination.fingerprint("rewards", str(household_id))
        async with self._sessions() as session:
            return await _by_creation(
                session,
                Reward,
                sa.and_(Reward.household_id == household_id, Reward.archive_time.is_(None)),
                page_size=page_size,
                page_token=page_token,
                fingerprint=fingerprint,
                descending=False,
            )

    async def delete_reward(self, household_id: uuid.UUID, reward_id: uuid.UUID) -> None:
        """Archive the reward (again: a no-op)."""
        await self._membership.require(household_id, roles=PERMISSIONS["reward.manage"])
        async with self._sessions.begin() as session:
            reward = await self._reward(session, household_id, reward_id, lock=True)
            if reward.archive_time is None:
                reward.archive_time = self._clock()

    async def redeem(self, household_id: uuid.UUID, reward_id: uuid.UUID, *, request_id: str = "") -> Redeemed:
        """Spend the reward's cost from the caller's balance: CONFLICT (ABORTED) when it does not cover it."""
        await self._membership.require(household_id, roles=PERMISSIONS["reward.redeem"])
        user_id = caller_id()
        with Violations() as errors:
            errors.request_id(request_id)
        now = self._clock()
        async with self._sessions.begin() as session:
            reward = await self._reward(session, household_id, reward_id)
            entry_id = new_id()
            earlier = await idempotency.claim(
                session,
                scope="RedeemReward",
                caller=user_id,
                request_id=request_id,
                fingerprint=idempotency.fingerprint(household_id, reward_id),
                resource_id=entry_id,
            )
            if earlier is not None:  # a retry: the first redemption, spent once
                first = await session.get(PointEntry, earlier)
                if first is None:
                    raise NotFound("redemption not found")
                return Redeemed(first, -first.delta)
            if reward.archive_time is not None:
                raise Gone("the reward has been deleted")
            entry = await spend(
                session, household_id, user_id, reward.cost, reward_id=reward.id, entry_id=entry_id, now=now
            )
            if entry is None:
                balance = await balance_of(session, household_id, user_id)
                raise Conflict(f"not enough points: the reward costs {reward.cost}, the balance is {balance}")
        return Redeemed(entry, reward.cost)
