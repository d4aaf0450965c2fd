"""Test helpers: people with real tokens (from the user service) and events fed to the streams like the relay does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import redis.asyncio as aioredis
from google.protobuf.message import Message
from hearth.events.v1 import events_pb2
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit.ids import new_id
from kit.outbox import STREAM_MAXLEN, stream_fields
from tests.support.infra import unique
from tests.support.stack import Stack
from tests.support.wait import eventually

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Person:
    user_id: str
    token: str
    display_name: str

    @property
    def metadata(self) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.token}"),)


async def register(stack: Stack, display_name: str) -> Person:
    """A new user, registered and logged in through the real user service."""
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        auth = user_pb2_grpc.AuthServiceStub(channel)
        email = f"{unique(display_name.lower())}@example.com"
        user = await auth.Register(user_pb2.RegisterRequest(email=email, password=PASSWORD, display_name=display_name))
        tokens = await auth.Login(user_pb2.LoginRequest(email=email, password=PASSWORD))
    return Person(user.name.removeprefix("users/"), tokens.access_token, display_name)


def envelope(
    type: str,
    payload: Message,
    *,
    household_id: str,
    actor_id: str = "",
    source: str = "test",
    occurred_at: datetime | None = None,
) -> events_pb2.Envelope:
    """An envelope exactly as `kit.outbox.add_event` builds one."""
    built = events_pb2.Envelope(
        event_id=str(new_id()), type=type, household_id=household_id, actor_id=actor_id, source=source
    )
    built.occurred_at.FromDatetime(occurred_at or datetime.now(UTC))
    built.payload.Pack(payload)
    return built


async def publish(redis: aioredis.Redis, stream: str, event: events_pb2.Envelope) -> str:
    """XADD the envelope the way `kit.outbox.OutboxRelay` does; returns the entry id."""
    entry_id = await redis.xadd(
        stream,
        stream_fields(event.SerializeToString(), event.type, event.event_id),
        maxlen=STREAM_MAXLEN,
        approximate=True,
    )
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def _entry(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def consumed(redis: aioredis.Redis, stream: str, group: str, entry_id: str) -> None:
    """Wait until `group` has read `stream` up to `entry_id` and has nothing pending (handled and acknowledged)."""

    async def done() -> bool:
        for info in await redis.xinfo_groups(stream):
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            if name != group:
                continue
            last = info["last-delivered-id"]
            last = last.decode() if isinstance(last, bytes) else str(last)
            return _entry(last) >= _entry(entry_id) and int(info["pending"]) == 0
        return False

    await eventually(done)


def member_joined(household_id: str, person: Person, role: str, *, at: datetime | None = None) -> events_pb2.Envelope:
    payload = events_pb2.MemberJoined(
        household_id=household_id, user_id=person.user_id, display_name=person.display_name, role=role
    )
    payload.joined_at.FromDatetime(at or datetime.now(UTC))
    return envelope("member.joined", payload, household_id=household_id, actor_id=person.user_id, occurred_at=at)
