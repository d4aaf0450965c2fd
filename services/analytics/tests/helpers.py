"""Helpers of the analytics service's tests: events told on the user and task streams as their producers publish
them, each awaited until analytics has handled it."""

from __future__ import annotations

from datetime import datetime, timedelta

import redis.asyncio as aioredis
from google.protobuf.message import Message
from hearth.events.v1 import events_pb2

from kit.ids import new_id
from tests.support.events import consumed, envelope, member_joined, publish
from tests.support.people import Person
from tests.support.stack import Stack

GROUP = "analytics"


class Events:
    def __init__(self, stack: Stack, redis: aioredis.Redis, household_id: str) -> None:
        self.stack, self.redis, self.household_id = stack, redis, household_id

    async def send(self, domain: str, event: events_pb2.Envelope) -> None:
        stream = f"{self.stack.namespace}.events.{domain}"
        await consumed(self.redis, stream, GROUP, await publish(self.redis, stream, event))

    async def join(self, person: Person, role: str, at: datetime) -> None:
        await self.send("user", member_joined(self.household_id, person, role, at=at))

    async def leave(self, person: Person, at: datetime) -> None:
        left = events_pb2.MemberLeft(household_id=self.household_id, user_id=person.user_id)
        await self.send("user", envelope("member.left", left, household_id=self.household_id, occurred_at=at))

    async def complete(
        self,
        by: Person,
        at: datetime,
        *,
        points: int = 10,
        minutes: int = 30,
        on_time: bool = True,
        completion_id: str | None = None,
        chore_id: str | None = None,
        due: datetime | None = None,
    ) -> str:
        completion_id = completion_id or str(new_id())
        payload = events_pb2.ChoreCompleted(
            household_id=self.household_id,
            chore_id=chore_id or str(new_id()),
            completion_id=completion_id,
            title="Chore",
            completed_by=by.user_id,
            points=points,
            estimated_minutes=minutes,
            on_time=on_time,
        )
        payload.completed_at.FromDatetime(at)
        payload.due_at.FromDatetime(due or (at if on_time else at - timedelta(hours=1)))
        await self.send(
            "task", envelope("chore.completed", payload, household_id=self.household_id, actor_id=by.user_id)
        )
        return completion_id

    async def overdue(
        self,
        held_by: Person | None,
        due: datetime,
        *,
        chore_id: str | None = None,
        occurrence_id: str | None = None,
        penalty: int = 0,
    ) -> str:
        """chore.overdue as task's miss scan publishes it (`held_by` None: nobody held the occurrence)."""
        occurrence_id = occurrence_id or str(new_id())
        payload = events_pb2.ChoreOverdue(
            household_id=self.household_id,
            chore_id=chore_id or str(new_id()),
            title="Chore",
            assignee_id=held_by.user_id if held_by is not None else "",
            grace_minutes=60,
            penalty_points=penalty,
            occurrence_id=occurrence_id,
        )
        payload.due_at.FromDatetime(due)
        await self.send("task", envelope("chore.overdue", payload, household_id=self.household_id))
        return occurrence_id

    async def tell(self, event_type: str, message: Message, *, at: datetime | None = None) -> None:
        """A user-stream event about the household (user.deleted, household.deleted, ...)."""
        await self.send("user", envelope(event_type, message, household_id=self.household_id, occurred_at=at))
