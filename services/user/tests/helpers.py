"""Test helpers: the user service's stubs on one channel, and people and households made through its RPCs.

Refusals are read back with tests/support/rpc.py and the outbox with tests/support/events.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc

from tests.support.infra import unique
from tests.support.people import PASSWORD, ROLES
from tests.support.people import Person as RegisteredPerson
from tests.support.stack import FAST_PASSWORDS, Stack, running_stack
from tests.support.wait import eventually


# Cheap argon2id for the hundreds of registrations in these tests (test_passwords.py covers the real cost).
def user_stack(**overrides: Any) -> AbstractAsyncContextManager[Stack]:
    """A running user service (tests/support/stack.py) with cheap password hashing and `overrides`."""
    return running_stack(["user"], settings_overrides={"user": {**FAST_PASSWORDS, **overrides}})


@dataclass(frozen=True)
class Stubs:
    auth: user_pb2_grpc.AuthServiceStub
    users: user_pb2_grpc.UserServiceStub
    households: user_pb2_grpc.HouseholdServiceStub


@asynccontextmanager
async def stubs(stack: Stack) -> AsyncIterator[Stubs]:
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        yield Stubs(
            user_pb2_grpc.AuthServiceStub(channel),
            user_pb2_grpc.UserServiceStub(channel),
            user_pb2_grpc.HouseholdServiceStub(channel),
        )


@dataclass(frozen=True)
class Person(RegisteredPerson):
    """A registered person (tests/support/people.py) who also keeps the email and refresh token they got."""

    email: str
    refresh_token: str


def new_email(label: str = "person") -> str:
    return f"{unique(label.lower())}@example.com"


async def register(rpc: Stubs, display_name: str = "Person", *, email: str = "") -> Person:
    """A new user, registered and logged in through the real user service."""
    email = email or new_email(display_name)
    user = await rpc.auth.Register(user_pb2.RegisterRequest(email=email, password=PASSWORD, display_name=display_name))
    tokens = await rpc.auth.Login(user_pb2.LoginRequest(email=email, password=PASSWORD))
    return Person(
        user_id=user.name.removeprefix("users/"),
        token=tokens.access_token,
        display_name=display_name,
        email=user.email,
        refresh_token=tokens.refresh_token,
    )


async def works(rpc: Stubs, token: str) -> bool:
    """Whether the service takes the access token (False: UNAUTHENTICATED; any other refusal fails the test)."""
    try:
        await rpc.users.GetUser(
            user_pb2.GetUserRequest(name="users/me"), metadata=(("authorization", f"Bearer {token}"),)
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
            raise
        return False
    return True


async def people(rpc: Stubs, *display_names: str) -> list[Person]:
    """Several new users at once (registration hashes a password: concurrently is faster)."""
    return list(await asyncio.gather(*(register(rpc, name) for name in display_names)))


@dataclass(frozen=True)
class Cast:
    """People a test module shares; each test puts them in households of its own."""

    owner: Person
    admin: Person
    member: Person
    kid: Person
    outsider: Person
    admin2: Person
    member2: Person


async def cast(rpc: Stubs) -> Cast:
    return Cast(*await people(rpc, "Olga", "Adam", "Mia", "Kim", "Oscar", "Alma", "Max"))


@dataclass(frozen=True)
class Home:
    name: str
    owner: Person

    @property
    def id(self) -> str:
        return self.name.removeprefix("households/")

    def member(self, person: Person) -> str:
        """The member resource name of `person` in this household."""
        return f"{self.name}/members/{person.user_id}"


async def invite(rpc: Stubs, home: Home, role: str, *, by: Person | None = None, email: str = "") -> user_pb2.Invite:
    return await rpc.households.CreateInvite(
        user_pb2.CreateInviteRequest(parent=home.name, invite=user_pb2.Invite(role=ROLES[role], email=email)),
        metadata=(by or home.owner).metadata,
    )


async def accept(rpc: Stubs, code: str, person: Person) -> user_pb2.Member:
    return await rpc.households.AcceptInvite(user_pb2.AcceptInviteRequest(code=code), metadata=person.metadata)


async def household(
    rpc: Stubs,
    owner: Person,
    *members: tuple[Person, str],
    display_name: str = "Home",
    time_zone: str = "Europe/Berlin",
) -> Home:
    """A new household of `owner`'s; each (person, role) joins through an invite of the owner's, in order."""
    created = await rpc.households.CreateHousehold(
        user_pb2.CreateHouseholdRequest(household=user_pb2.Household(display_name=display_name, time_zone=time_zone)),
        metadata=owner.metadata,
    )
    home = Home(created.name, owner)
    for person, role in members:
        await accept(rpc, (await invite(rpc, home, role)).code, person)
    return home


async def full_household(rpc: Stubs, c: Cast, **kwargs: str) -> Home:
    """`c.owner`'s new household with `c.admin`, `c.member` and `c.kid` in it (`c.outsider` is not)."""
    return await household(rpc, c.owner, (c.admin, "admin"), (c.member, "member"), (c.kid, "child"), **kwargs)


async def until_past(moment: datetime) -> None:
    """Wait (bounded) until the clock the service also reads has passed `moment` — for the tiny TTLs the
    short-lived stacks are configured with, this is a millisecond or two, never a fixed sleep."""

    async def passed() -> bool:
        return datetime.now(UTC) > moment

    await eventually(passed, timeout=5, interval=0.001)


def days(seconds: float) -> float:
    """A TTL setting in days (the user service's `*_ttl_days`) for a duration in seconds."""
    return timedelta(seconds=seconds) / timedelta(days=1)
