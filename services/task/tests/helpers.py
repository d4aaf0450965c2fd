"""Test helpers: real people and households (through the user service's RPCs), errors read back, outbox rows."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import grpc
import redis.asyncio as aioredis
import sqlalchemy as sa
from google.rpc import error_details_pb2
from hearth.events.v1 import events_pb2
from hearth.user.v1 import user_pb2, user_pb2_grpc
from sqlalchemy.ext.asyncio import create_async_engine

from kit.ids import new_id
from kit.interceptors import status_details
from kit.outbox import stream_fields
from tests.support.infra import unique
from tests.support.stack import Stack
from tests.support.wait import eventually

PASSWORD = "correct horse battery staple"
ROLES = {"admin": user_pb2.ROLE_ADMIN, "member": user_pb2.ROLE_MEMBER, "child": user_pb2.ROLE_CHILD}


@dataclass(frozen=True)
class Person:
    user_id: str
    token: str
    display_name: str

    @property
    def name(self) -> str:
        return f"users/{self.user_id}"

    @property
    def metadata(self) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.token}"),)


@dataclass
class Household:
    name: str
    owner: Person
    members: dict[str, Person] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.name.removeprefix("households/")

    def __getitem__(self, key: str) -> Person:
        return self.members[key]


async def register(stack: Stack, display_name: str) -> Person:
    """A new user, registered and logged in through the real user service."""
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        auth = user_pb2_grpc.AuthServiceStub(channel)
        email = f"{unique(display_name.lower())}@example.com"
        user = await auth.Register(user_pb2.RegisterRequest(email=email, password=PASSWORD, display_name=display_name))
        tokens = await auth.Login(user_pb2.LoginRequest(email=email, password=PASSWORD))
    return Person(user.name.removeprefix("users/"), tokens.access_token, display_name)


async def household(stack: Stack, *, time_zone: str = "Europe/Berlin", **roles: str) -> Household:
    """A household owned by a new user, with one new member per keyword (`member="member", kid="child"`)."""
    owner = await register(stack, "Owner")
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        households = user_pb2_grpc.HouseholdServiceStub(channel)
        created = await households.CreateHousehold(
            user_pb2.CreateHouseholdRequest(household=user_pb2.Household(display_name="Home", time_zone=time_zone)),
            metadata=owner.metadata,
        )
        home = Household(created.name, owner)
        for key, role in roles.items():
            person = await register(stack, key.capitalize())
            invite = await households.CreateInvite(
                user_pb2.CreateInviteRequest(parent=created.name, invite=user_pb2.Invite(role=ROLES[role])),
                metadata=owner.metadata,
            )
            await households.AcceptInvite(user_pb2.AcceptInviteRequest(code=invite.code), metadata=person.metadata)
            home.members[key] = person
    return home


async def set_role(stack: Stack, home: Household, person: Person, role: str) -> None:
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        households = user_pb2_grpc.HouseholdServiceStub(channel)
        await households.UpdateMember(
            user_pb2.UpdateMemberRequest(
                member=user_pb2.Member(name=f"{home.name}/members/{person.user_id}", role=ROLES[role]),
                update_mask={"paths": ["role"]},
            ),
            metadata=home.owner.metadata,
        )


@dataclass(frozen=True)
class Refusal:
    code: grpc.StatusCode
    reason: str
    message: str
    violations: dict[str, str]


async def refused(call: Awaitable[Any]) -> Refusal:
    """Await a call that must fail; its status code, ErrorInfo reason and field violations (field → message)."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        reason, violations = "", {}
        status = status_details(exc)
        for detail in status.details if status is not None else []:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations = {v.field: v.description for v in bad.field_violations}
        return Refusal(exc.code(), reason, exc.details() or "", violations)
    raise AssertionError("the call succeeded but was expected to fail")


async def outbox_events(stack: Stack, event_type: str) -> list[events_pb2.Envelope]:
    """Every event of `event_type` in the task service's outbox (published or not), oldest first."""
    engine = create_async_engine(stack.databases["task"])
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT envelope FROM outbox WHERE event_type = :type ORDER BY id"), {"type": event_type}
            )
            return [events_pb2.Envelope.FromString(row.envelope) for row in rows]
    finally:
        await engine.dispose()


def payload(envelope: events_pb2.Envelope, cls: type[Any]) -> Any:
    message = cls()
    assert envelope.payload.Unpack(message)
    return message


def envelope(type: str, message: Any, *, household_id: str, actor_id: str = "") -> events_pb2.Envelope:
    """An envelope as `kit.outbox.add_event` builds one (here from the user service's point of view)."""
    built = events_pb2.Envelope(
        event_id=str(new_id()), type=type, household_id=household_id, actor_id=actor_id, source="user"
    )
    built.occurred_at.GetCurrentTime()
    built.payload.Pack(message)
    return built


async def publish(redis: aioredis.Redis, stream: str, event: events_pb2.Envelope) -> str:
    """XADD the envelope in the relay's wire format; returns the entry id."""
    entry_id = await redis.xadd(stream, stream_fields(event.SerializeToString(), event.type, event.event_id))
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
