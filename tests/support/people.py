"""People with real access tokens and households with real memberships, made through the user service's RPCs.

For the tests of the services that trust the user service (task, notify, analytics, cross-service tests);
the user service's own tests build on `Person` with the richer helpers of services/user/tests/helpers.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc

from tests.support.infra import unique
from tests.support.stack import Stack

PASSWORD = "correct horse battery staple"
ROLES = {
    "owner": user_pb2.ROLE_OWNER,
    "admin": user_pb2.ROLE_ADMIN,
    "member": user_pb2.ROLE_MEMBER,
    "child": user_pb2.ROLE_CHILD,
}


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
    """The owner changes `person`'s role in `home` (the user service emits member.updated)."""
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        households = user_pb2_grpc.HouseholdServiceStub(channel)
        await households.UpdateMember(
            user_pb2.UpdateMemberRequest(
                member=user_pb2.Member(name=f"{home.name}/members/{person.user_id}", role=ROLES[role]),
                update_mask={"paths": ["role"]},
            ),
            metadata=home.owner.metadata,
        )
