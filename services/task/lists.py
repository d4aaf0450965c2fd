"""What the task service caches: the rendered pages of a household's chore list (ListChores' response bytes).

A page is cached (kit.cache.TieredCache: in this process, then Redis) under
`{namespace}:task:{household}:chores:{digest}:v{schema}`, where the digest covers the query's fingerprint (its
filters and order, the assignee filter with "me" resolved to the caller), the page token and the page size;
every page of one household shares the scope `{namespace}:task:{household}:chores`. The schema version
follows hearth.task.v1 itself (a digest of its descriptor) and `RENDER_VERSION` (bump it when the servicer
renders a page differently), so a release never reads a page an older one rendered.

Authorization is never cached here: the caller's membership is checked before the page is looked up.

Every transaction that changes a chore invalidates its household's scope after it commits (`ChoreService`
writes through `ChoreLists.writing`), on this replica at once and on the others through the cache's
invalidation feed. After the commit, not before: a reader that filled the page between an early invalidation
and the commit would store the old page under the new generation. The window that leaves: a process that
dies between its commit and the invalidation; that page is then stale until its TTL (`TASK_CHORE_LIST_TTL_SECONDS`,
60 s). Pages whose content depends on the clock (`status` due, overdue, upcoming) are not cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from hearth.task.v1 import task_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.cache import TieredCache

RENDER_VERSION = 1
SCHEMA = f"{RENDER_VERSION}.{hashlib.sha256(task_pb2.DESCRIPTOR.serialized_pb).hexdigest()[:12]}"
# Statuses whose pages change with the clock, not only with writes.
CLOCK_STATUSES = frozenset({"due", "overdue", "upcoming"})


class ChoreLists:
    def __init__(self, cache: TieredCache | None) -> None:
        self._cache = cache

    def _scope(self, household_id: uuid.UUID) -> str:
        assert self._cache is not None
        return self._cache.key(household_id, "chores")

    async def page(
        self,
        household_id: uuid.UUID,
        *,
        status: str,
        parts: tuple[object, ...],
        render: Callable[[], Awaitable[bytes]],
    ) -> bytes:
        """The page `parts` (fingerprint, token, size) names: cached, or `render()`ed and cached."""
        if self._cache is None or status in CLOCK_STATUSES:
            return await render()
        digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:32]
        key = self._cache.key(household_id, "chores", digest, f"v{SCHEMA}")
        found = await self._cache.fetch(key, render, scope=self._scope(household_id))
        # fetch returns what render() gave when it filled; render never answers None.
        return found if found is not None else await render()

    async def invalidate(self, household_id: uuid.UUID) -> None:
        if self._cache is not None:
            await self._cache.invalidate(self._scope(household_id))

    @contextlib.asynccontextmanager
    async def writing(
        self, sessions: async_sessionmaker[AsyncSession], household_id: uuid.UUID
    ) -> AsyncIterator[AsyncSession]:
        """A write transaction on the household's chores; once it commits, the household's cached pages go."""
        async with sessions() as session, session.begin():
            yield session
        await self.invalidate(household_id)


__all__ = ["CLOCK_STATUSES", "SCHEMA", "ChoreLists"]
