"""Helpers of the task service's privacy tests: the user stream's events delivered and a person joined to a
household. (Service tokens and the search of a database for what names someone: tests/support/service_tokens.py
and tests/support/rows.py.)"""

from __future__ import annotations

from datetime import datetime

import grpc
import redis.asyncio as aioredis
from google.protobuf.message import Message
from hearth.user.v1 import user_pb2, user_pb2_grpc

from tests.support.events import consumed, envelope, publish
from tests.support.people import ROLES, Household, Person
from tests.support.stack import Stack

GROUP = "task"


async def deliver(
    stack: Stack,
    redis: aioredis.Redis,
    event_type: str,
    message: Message,
    *,
    household_id: str = "",
    at: datetime | None = None,
) -> None:
    """Publish `message` on the user stream as the user service would, and wait until task has handled it."""
    stream = f"{stack.namespace}.events.user"
    built = envelope(event_type, message, household_id=household_id, source="user", occurred_at=at)
    await consumed(redis, stream, GROUP, await publish(redis, stream, built))


async def join(stack: Stack, home: Household, person: Person, role: str = "member") -> None:
    """`person` joins `home` by an invite of its owner."""
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        households = user_pb2_grpc.HouseholdServiceStub(channel)
        invite = await households.CreateInvite(
            user_pb2.CreateInviteRequest(parent=home.name, invite=user_pb2.Invite(role=ROLES[role])),
            metadata=home.owner.metadata,
        )
        await households.AcceptInvite(user_pb2.AcceptInviteRequest(code=invite.code), metadata=person.metadata)
    home.members[person.display_name] = person
