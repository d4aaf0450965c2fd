"""Invites over real gRPC: who may invite whom, accepting (the Member it returns), and every way a code is
refused — expired and used codes are GONE (FAILED_PRECONDITION that the gateway answers with 410)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from hearth.user.v1 import user_pb2

from kit.errors import Gone
from kit.interceptors import error_from_rpc
from services.user.tests.helpers import (
    Cast,
    Home,
    Person,
    Stubs,
    accept,
    days,
    full_household,
    household,
    invite,
    people,
    stubs,
    until_past,
    user_stack,
)
from tests.support.people import ROLES
from tests.support.rpc import refused

pytestmark = pytest.mark.asyncio(loop_scope="module")

Code = grpc.StatusCode
INVITE_TTL = timedelta(milliseconds=1)


async def members(rpc: Stubs, home: Home) -> dict[str, int]:
    listed = await rpc.households.ListMembers(
        user_pb2.ListMembersRequest(parent=home.name), metadata=home.owner.metadata
    )
    return {m.user: m.role for m in listed.members}


async def test_the_owner_invites_and_accepting_makes_a_member_with_that_role(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner, time_zone="America/Chicago")
    (newcomer,) = await people(rpc, "Newcomer")
    before = datetime.now(UTC)

    created = await invite(rpc, home, "member")

    assert created.name.startswith(f"{home.name}/invites/")
    assert created.role == user_pb2.ROLE_MEMBER
    assert created.code
    assert created.creator == c.owner.name
    assert created.email == ""
    week = created.expire_time.ToDatetime(tzinfo=UTC) - created.create_time.ToDatetime(tzinfo=UTC)
    assert week == timedelta(days=7)
    assert before - timedelta(seconds=1) <= created.create_time.ToDatetime(tzinfo=UTC) <= datetime.now(UTC)

    member = await accept(rpc, created.code, newcomer)

    assert member.name == home.member(newcomer)
    assert member.user == newcomer.name
    assert member.display_name == "Newcomer"
    assert member.role == user_pb2.ROLE_MEMBER
    assert member.household_time_zone == "America/Chicago"
    assert created.create_time.ToDatetime() <= member.join_time.ToDatetime()
    joined = await rpc.households.GetHousehold(user_pb2.GetHouseholdRequest(name=home.name), metadata=newcomer.metadata)
    assert joined.caller_role == user_pb2.ROLE_MEMBER
    assert (await members(rpc, home))[newcomer.name] == user_pb2.ROLE_MEMBER


@pytest.mark.parametrize("role", ["admin", "member", "child"])
async def test_every_invitable_role_is_granted_as_invited(rpc: Stubs, c: Cast, role: str) -> None:
    home = await household(rpc, c.owner)

    member = await accept(rpc, (await invite(rpc, home, role)).code, c.outsider)

    assert member.role == ROLES[role]


async def test_admins_invite_members_and_children_but_not_admins(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)

    for role in ("member", "child"):
        assert (await invite(rpc, home, role, by=c.admin)).creator == c.admin.name
    admin = await refused(invite(rpc, home, "admin", by=c.admin))

    assert (admin.code, admin.reason) == (Code.PERMISSION_DENIED, "PERMISSION_DENIED")


@pytest.mark.parametrize("who", ["member", "kid"])
async def test_members_and_children_may_not_invite(rpc: Stubs, c: Cast, who: str) -> None:
    home = await full_household(rpc, c)
    person: Person = getattr(c, who)

    for role in ("member", "child"):
        refusal = await refused(invite(rpc, home, role, by=person))
        assert refusal.code == Code.PERMISSION_DENIED


async def test_outsiders_may_not_invite_and_learn_nothing(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner)

    refusal = await refused(invite(rpc, home, "member", by=c.outsider))

    assert refusal.code == Code.NOT_FOUND


@pytest.mark.parametrize(
    ("invite_fields", "field"),
    [
        ({"role": user_pb2.ROLE_UNSPECIFIED}, "invite.role"),
        ({"role": user_pb2.ROLE_OWNER}, "invite.role"),
        ({"role": user_pb2.ROLE_MEMBER, "email": "not an email"}, "invite.email"),
    ],
)
async def test_invalid_invites(rpc: Stubs, c: Cast, invite_fields: dict[str, object], field: str) -> None:
    home = await household(rpc, c.owner)

    refusal = await refused(
        rpc.households.CreateInvite(
            user_pb2.CreateInviteRequest(parent=home.name, invite=user_pb2.Invite(**invite_fields)),  # type: ignore[arg-type]
            metadata=c.owner.metadata,
        )
    )

    assert refusal.code == Code.INVALID_ARGUMENT
    assert list(refusal.violations) == [field]


async def test_a_used_code_is_gone_for_everyone(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner)
    first, second = await people(rpc, "First", "Second")
    code = (await invite(rpc, home, "member")).code
    await accept(rpc, code, first)

    for person in (second, first):  # someone else, and the same person accepting twice
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await accept(rpc, code, person)
        refusal = await refused(accept(rpc, code, person))
        assert (refusal.code, refusal.reason) == (Code.FAILED_PRECONDITION, "GONE")
        assert "used" in refusal.message
        # What the gateway renders: the same kit.errors class again, with its HTTP status.
        error = error_from_rpc(caught.value)
        assert isinstance(error, Gone)
        assert error.http_status == 410
    assert second.name not in await members(rpc, home)


async def test_unknown_and_missing_codes(rpc: Stubs, c: Cast) -> None:
    unknown = await refused(accept(rpc, "no-such-code-at-all", c.outsider))
    missing = await refused(accept(rpc, "   ", c.outsider))

    assert unknown.code == Code.NOT_FOUND
    assert (missing.code, list(missing.violations)) == (Code.INVALID_ARGUMENT, ["code"])


async def test_accepting_needs_a_caller(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner)
    code = (await invite(rpc, home, "member")).code

    refusal = await refused(rpc.households.AcceptInvite(user_pb2.AcceptInviteRequest(code=code)))

    assert refusal.code == Code.UNAUTHENTICATED
    assert (await accept(rpc, code, c.outsider)).role == user_pb2.ROLE_MEMBER  # the code was not spent


async def test_an_email_bound_invite_is_only_for_that_address(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner)
    (intended,) = await people(rpc, "Intended")
    created = await invite(rpc, home, "child", email=f"  {intended.email.upper()} ")
    assert created.email == intended.email

    wrong = await refused(accept(rpc, created.code, c.outsider))
    member = await accept(rpc, created.code, intended)

    assert (wrong.code, wrong.reason) == (Code.PERMISSION_DENIED, "PERMISSION_DENIED")
    assert c.outsider.name not in await members(rpc, home)
    assert member.role == user_pb2.ROLE_CHILD  # the refusal did not spend the code


async def test_joining_a_household_you_are_in_is_a_conflict_and_keeps_the_code(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)
    code = (await invite(rpc, home, "admin")).code

    for person in (c.member, c.owner):
        refusal = await refused(accept(rpc, code, person))
        assert (refusal.code, refusal.reason) == (Code.ALREADY_EXISTS, "CONFLICT")
    assert (await members(rpc, home))[c.member.name] == user_pb2.ROLE_MEMBER  # not promoted by the invite
    assert (await accept(rpc, code, c.outsider)).role == user_pb2.ROLE_ADMIN


async def test_an_expired_code_is_gone() -> None:
    overrides = {"invite_ttl_days": days(INVITE_TTL.total_seconds())}
    async with user_stack(**overrides) as short, stubs(short) as rpc:
        owner, invitee = await people(rpc, "Owner", "Late")
        home = await household(rpc, owner)
        created = await invite(rpc, home, "member")
        assert created.expire_time.ToDatetime(tzinfo=UTC) - created.create_time.ToDatetime(tzinfo=UTC) == INVITE_TTL
        await until_past(created.expire_time.ToDatetime(tzinfo=UTC))

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await accept(rpc, created.code, invitee)
        refusal = await refused(accept(rpc, created.code, invitee))
        listed = await rpc.households.ListMembers(
            user_pb2.ListMembersRequest(parent=home.name), metadata=owner.metadata
        )

    assert (refusal.code, refusal.reason) == (Code.FAILED_PRECONDITION, "GONE")
    assert "expired" in refusal.message
    assert isinstance(error_from_rpc(caught.value), Gone)
    assert [m.user for m in listed.members] == [owner.name]
