"""Use cases of the analytics service: household stats, answered from the event-built read models.

Authorization: any member of the household (children too) may see its stats; anyone else gets
NOT_FOUND (the household's existence is not revealed). Membership is asked of the user service
(cached); the household's time zone comes with the answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import timestamps
from kit.db import utcnow
from kit.errors import FieldViolation, InvalidArgument
from kit.validation import Violations
from services.analytics import stats
from services.analytics.repository import CompletionRepository, MemberRepository, MissRepository
from services.user.client import MembershipClient

# Every instant a client sends must lie in kit.timestamps' range (what every driver and zone can hold; a
# window's default start is computed from its end, which must not overflow).


@dataclass(frozen=True)
class StatsReport:
    household_id: uuid.UUID
    start: datetime
    end: datetime
    stats: stats.HouseholdStats

    @property
    def name(self) -> str:
        return f"households/{self.household_id}/stats"


class AnalyticsService:
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

    async def household_stats(
        self, household_id: uuid.UUID, *, start_time: datetime | None = None, end_time: datetime | None = None
    ) -> StatsReport:
        with Violations() as errors:
            for field, value in (("start_time", start_time), ("end_time", end_time)):
                if value is not None and not timestamps.in_range(value):
                    errors.add(field, timestamps.RANGE_MESSAGE)
        now = self._clock()
        try:
            start, end = stats.window(start_time, end_time, now=now)
        except ValueError as exc:
            raise InvalidArgument(
                str(exc),
                [
                    FieldViolation("start_time", "must not be after end_time"),
                    FieldViolation("end_time", "must not be before start_time"),
                ],
            ) from exc
        membership = await self._membership.require(household_id)
        tz = stats.zone(membership.time_zone)
        async with self._sessions() as session:
            members = await MemberRepository(session).current(household_id)
            completions = CompletionRepository(session)
            tallies = await completions.tallies(household_id, start, end)
            days = await completions.active_days(household_id, tz.key)
            missed = await MissRepository(session).counts(household_id, start, end)
        result = stats.household_stats(
            [str(m.user_id) for m in members], tallies, days, today=stats.local_day(now, tz), missed=missed
        )
        return StatsReport(household_id, start, end, result)
