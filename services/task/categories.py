"""A household's chore categories (CategoryService), and how chores use them.

A chore names its category by name (`Chore.category`, "" for none), as API.md's `category?` on create and the
`category` list filter do; the categories table holds each name once per household, case-insensitively (a unique
index on lower(name)). How the two stay one:
- creating or updating a chore with a name no category has yet makes the category (`ensure`, in the chore's
  transaction, with category.created); a name one has in another case takes that category's spelling;
- renaming a category renames it on its chores, and deleting one clears it from them (category "") — each in one
  transaction with the category's change and its event, every such chore's version bumped (their ETags change; no
  chore.updated per chore: category.updated/deleted says how many);
- a second category of the same name (whatever its case) is ALREADY_EXISTS (REST 409);
- ListChores' `category` filter is read as the household's spelling of the name (`spelling`), so any case finds it.

Rules: every member reads the categories (`chore.read`); adults create, rename and delete them (`category.manage`,
the roles that create chores); someone else's household's category is NOT_FOUND. Listed by name (case-insensitive),
keyset pages.
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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import pagination
from kit.db import utcnow
from kit.errors import AlreadyExists, Conflict, NotFound
from kit.field_mask import UpdateMask
from kit.ids import new_id
from kit.outbox import add_event
from kit.repository import Cursor, Page, keyset, page
from kit.validation import Violations
from services.task.lists import ChoreLists
from services.task.models import ARCHIVED, Category, Chore
from services.task.validation import MAX_CATEGORY
from services.user.client import PERMISSIONS, MembershipClient

_CURSOR: Sequence[pagination.CursorPart] = (pagination.Text(max_length=4 * MAX_CATEGORY), pagination.Uuid())
_folded_name = sa.func.lower(Category.name)
DUPLICATE_MESSAGE = "the household has a category of this name already"
CATEGORY_MASK = UpdateMask(
    updatable=("display_name",), output_only=("name", "chore_count", "create_time", "update_time")
)


@dataclass(frozen=True)
class Listed:
    """A category with its chores (not archived) counted."""

    category: Category
    chore_count: int


# How often `ensure` tries again when the category it found went meanwhile.
_ENSURE_ATTEMPTS = 3


def category_created(category: Category) -> events_pb2.CategoryCreated:
    return events_pb2.CategoryCreated(
        household_id=str(category.household_id), category_id=str(category.id), name=category.name
    )


async def ensure(session: AsyncSession, household_id: uuid.UUID, name: str, now: datetime) -> str:
    """The household's spelling of category `name` (validated, stripped; "" for none), made a category first — with
    category.created, in `session`'s transaction — when it has none by that name in any case."""
    if not name:
        return name
    for _ in range(_ENSURE_ATTEMPTS):
        created = await session.scalar(
            insert(Category)
            .values(id=new_id(), household_id=household_id, name=name, create_time=now, update_time=now)
            .on_conflict_do_nothing(index_elements=[Category.household_id, _folded_name])
            .returning(Category)
        )
        if created is not None:
            await add_event(session, category_created(created), household_id=household_id)
            return name
        # The household has it: held (FOR SHARE) until this transaction ends, so a rename or delete — which lock the
        # category, then change its chores — waits for the chore written here and carries it along.
        found = await session.scalar(
            sa.select(Category.name)
            .where(Category.household_id == household_id, _folded_name == sa.func.lower(name))
            .with_for_update(read=True)
        )
        if found is not None:
            return found
        # Renamed or deleted between the two statements: make it again.
    raise Conflict("the category kept changing while the chore was written; try again")


async def spelling(session: AsyncSession, household_id: uuid.UUID, name: str | None) -> str | None:
    """The household's spelling of category `name` (as given when it has no such category; None for None)."""
    if not name:
        return name
    found = await session.scalar(
        sa.select(Category.name).where(Category.household_id == household_id, _folded_name == sa.func.lower(name))
    )
    return found or name


async def _counts(session: AsyncSession, household_id: uuid.UUID, names: Sequence[str]) -> dict[str, int]:
    """How many of the household's chores (not archived) each of `names` holds: one query for a page."""
    if not names:
        return {}
    rows = await session.execute(
        sa.select(Chore.category, sa.func.count())
        .where(Chore.household_id == household_id, Chore.category.in_(names), Chore.state != ARCHIVED)
        .group_by(Chore.category)
    )
    return {category: count for category, count in rows}


async def _rename_on_chores(session: AsyncSession, household_id: uuid.UUID, old: str, new: str, now: datetime) -> int:
    """Every chore of the household in category `old` moved to `new` ("" clears it), a new version each."""
    result: Any = await session.execute(
        sa.update(Chore)
        .where(Chore.household_id == household_id, Chore.category == old)
        .values(category=new, version=Chore.version + 1, update_time=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


class CategoryService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        membership: MembershipClient,
        *,
        lists: ChoreLists | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._membership = membership
        # Renames and deletions change chores: their cached pages go (services.task.lists).
        self._lists = lists or ChoreLists(None)
        self._clock = clock

    @staticmethod
    def _name(value: str) -> str:
        with Violations() as errors:
            name = errors.text("display_name", value, max_length=MAX_CATEGORY, required=True)
        return name

    async def create(self, household_id: uuid.UUID, display_name: str) -> Listed:
        await self._membership.require(household_id, roles=PERMISSIONS["category.manage"])
        name = self._name(display_name)
        now = self._clock()
        async with self._sessions.begin() as session:
            created = await session.scalar(
                insert(Category)
                .values(id=new_id(), household_id=household_id, name=name, create_time=now, update_time=now)
                .on_conflict_do_nothing(index_elements=[Category.household_id, _folded_name])
                .returning(Category)
            )
            if created is None:
                raise AlreadyExists(DUPLICATE_MESSAGE)
            await add_event(session, category_created(created), household_id=household_id)
            # Chores may hold the name already (in this spelling: chores take their category's).
            count = (await _counts(session, household_id, [name])).get(name, 0)
        return Listed(created, count)

    async def list(self, household_id: uuid.UUID, *, page_size: int = 0, page_token: str = "") -> Page[Listed]:
        """By name, case-insensitively (then id)."""
        await self._membership.require(household_id, roles=PERMISSIONS["chore.read"])
        fingerprint = pagination.fingerprint("categories", str(household_id))
        async with self._sessions() as session:

            async def fetch(after: Cursor | None, limit: int) -> list[Any]:
                query = sa.select(Category, _folded_name.label("sort")).where(Category.household_id == household_id)
                order = (_folded_name, Category.id.expression)
                return list(await session.execute(keyset(query, order, after=after, limit=limit)))

            found = await page(
                fetch,
                page_size=page_size,
                page_token=page_token,
                query=fingerprint,
                cursor=_CURSOR,
                key=lambda row: (row.sort, row.Category.id),
            )
            counts = await _counts(session, household_id, [row.Category.name for row in found.items])
        return Page(
            [Listed(row.Category, counts.get(row.Category.name, 0)) for row in found.items], found.next_page_token
        )

    @staticmethod
    async def _locked(session: AsyncSession, household_id: uuid.UUID, category_id: uuid.UUID) -> Category:
        category = await session.scalar(
            sa.select(Category)
            .where(Category.id == category_id, Category.household_id == household_id)
            .with_for_update()
        )
        if category is None:
            raise NotFound("category not found")
        return category

    async def rename(self, household_id: uuid.UUID, category_id: uuid.UUID, display_name: str | None) -> Listed:
        """The new name on the category and on its chores, in one transaction (ALREADY_EXISTS when another category
        has it). The same name again, or None (nothing to change), changes nothing."""
        await self._membership.require(household_id, roles=PERMISSIONS["category.manage"])
        name = None if display_name is None else self._name(display_name)
        now = self._clock()
        async with self._lists.writing(self._sessions, household_id) as session:
            category = await self._locked(session, household_id, category_id)
            previous = category.name
            if name is not None and name != previous:
                taken = await session.scalar(
                    sa.select(Category.id).where(
                        Category.household_id == household_id,
                        _folded_name == sa.func.lower(name),
                        Category.id != category.id,
                    )
                )
                if taken is not None:
                    raise AlreadyExists(DUPLICATE_MESSAGE)
                category.name = name
                category.update_time = now
                try:
                    async with session.begin_nested():
                        await session.flush()
                except IntegrityError:  # taken by a rename or create that committed after the check above
                    raise AlreadyExists(DUPLICATE_MESSAGE) from None
                chores = await _rename_on_chores(session, household_id, previous, name, now)
                await add_event(
                    session,
                    events_pb2.CategoryUpdated(
                        household_id=str(household_id),
                        category_id=str(category.id),
                        name=name,
                        previous_name=previous,
                        chores=chores,
                    ),
                    household_id=household_id,
                )
            count = (await _counts(session, household_id, [category.name])).get(category.name, 0)
        return Listed(category, count)

    async def delete(self, household_id: uuid.UUID, category_id: uuid.UUID) -> None:
        """The category goes, and its chores keep no category (in one transaction)."""
        await self._membership.require(household_id, roles=PERMISSIONS["category.manage"])
        now = self._clock()
        async with self._lists.writing(self._sessions, household_id) as session:
            category = await self._locked(session, household_id, category_id)
            await session.delete(category)
            await session.flush()
            chores = await _rename_on_chores(session, household_id, category.name, "", now)
            await add_event(
                session,
                events_pb2.CategoryDeleted(
                    household_id=str(household_id), category_id=str(category.id), name=category.name, chores=chores
                ),
                household_id=household_id,
            )
