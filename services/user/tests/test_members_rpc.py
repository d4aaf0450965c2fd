"""Members over real gRPC: listing (names, roles, join times, pages), GetMember (the membership question
every other service asks), role changes and ownership transfer, removing members and leaving."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from hearth.user.v1 import user_pb2

from services.user.tests.helpers import (
    Cast,
    Home,
    Person,
    Stubs,
    full_household,
    household,
)
from tests.support.people import ROLES
from tests.support.rpc import refused

pytestmark = pytest.mark.asyncio(loop_scope="module")

Code = grpc.StatusCode


async def list_all(rpc: Stubs, home: Home, by: Person, page_size: int = 0) -> list[user_pb2.Member]:
    found: list[user_pb2.Member] = []
    token = ""
    while True:
        page = await rpc.households.ListMembers(
            user_pb2.ListMembersRequest(parent=home.name, page_size=page_size, page_token=token), metadata=by.metadata
        )
        assert len(page.members) <= (page_size or 50)
        found += page.members
        token = page.next_page_token
        if not token:
            return found


async def roles(rpc: Stubs, home: Home, by: Person | None = None) -> dict[str, str]:
    """display name → role name, as the household lists them."""
    return {
        m.display_name: user_pb2.Role.Name(m.role).removeprefix("ROLE_").lower()
        for m in await list_all(rpc, home, by or home.owner)
    }


async def get_member(rpc: Stubs, home: Home, target: Person, by: Person) -> user_pb2.Member:
    return await rpc.households.GetMember(user_pb2.GetMemberRequest(name=home.member(target)), metadata=by.metadata)


async def set_role(
    rpc: Stubs, home: Home, target: Person, role: str, by: Person, paths: tuple[str, ...] = ("role",)
) -> user_pb2.Member:
    return await rpc.households.UpdateMember(
        user_pb2.UpdateMemberRequest(
            member=user_pb2.Member(name=home.member(target), role=ROLES[role]),
            update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
        ),
        metadata=by.metadata,
    )


async def remove(rpc: Stubs, home: Home, target: Person, by: Person) -> None:
    await rpc.households.DeleteMember(user_pb2.DeleteMemberRequest(name=home.member(target)), metadata=by.metadata)


# --- list ------------------------------------------------------------------------------------------


async def test_list_shows_names_roles_and_join_times_in_joining_order(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c, time_zone="Australia/Sydney")

    listed = await list_all(rpc, home, c.kid)  # any member may see who is in the household

    assert [(m.name, m.user, m.display_name, m.role) for m in listed] == [
        (home.member(c.owner), c.owner.name, "Olga", user_pb2.ROLE_OWNER),
        (home.member(c.admin), c.admin.name, "Adam", user_pb2.ROLE_ADMIN),
        (home.member(c.member), c.member.name, "Mia", user_pb2.ROLE_MEMBER),
        (home.member(c.kid), c.kid.name, "Kim", user_pb2.ROLE_CHILD),
    ]
    join_times = [m.join_time.ToDatetime() for m in listed]
    assert join_times == sorted(join_times)
    assert len(set(join_times)) == 4
    assert {m.household_time_zone for m in listed} == {"Australia/Sydney"}


async def test_list_pages_through_every_member_once(rpc: Stubs, c: Cast) -> None:
    home = await household(
        rpc,
        c.owner,
        (c.admin, "admin"),
        (c.admin2, "admin"),
        (c.member, "member"),
        (c.member2, "member"),
        (c.kid, "child"),
    )

    first = await rpc.households.ListMembers(
        user_pb2.ListMembersRequest(parent=home.name, page_size=4), metadata=c.owner.metadata
    )
    everyone = await list_all(rpc, home, c.owner, page_size=4)
    in_twos = await list_all(rpc, home, c.owner, page_size=2)
    in_ones = await list_all(rpc, home, c.owner, page_size=1)

    assert len(first.members) == 4
    assert first.next_page_token
    assert [m.display_name for m in everyone] == ["Olga", "Adam", "Alma", "Mia", "Max", "Kim"]
    assert in_twos == everyone
    assert in_ones == everyone


async def test_list_refuses_outsiders_and_tokens_of_another_household(rpc: Stubs, c: Cast) -> None:
    home, other = await full_household(rpc, c), await full_household(rpc, c)
    page = await rpc.households.ListMembers(
        user_pb2.ListMembersRequest(parent=home.name, page_size=1), metadata=c.owner.metadata
    )

    outsider = await refused(
        rpc.households.ListMembers(user_pb2.ListMembersRequest(parent=home.name), metadata=c.outsider.metadata)
    )
    foreign_token = await refused(
        rpc.households.ListMembers(
            user_pb2.ListMembersRequest(parent=other.name, page_token=page.next_page_token), metadata=c.owner.metadata
        )
    )

    assert outsider.code == Code.NOT_FOUND
    assert (foreign_token.code, list(foreign_token.violations)) == (Code.INVALID_ARGUMENT, ["page_token"])


# --- GetMember: the membership question ------------------------------------------------------------


async def test_get_member_answers_members_about_members(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c, time_zone="Europe/Lisbon")

    myself = await get_member(rpc, home, c.kid, by=c.kid)  # what another service asks on a child's behalf
    other = await get_member(rpc, home, c.admin, by=c.member)

    assert (myself.name, myself.user, myself.role) == (home.member(c.kid), c.kid.name, user_pb2.ROLE_CHILD)
    assert (myself.display_name, myself.household_time_zone) == ("Kim", "Europe/Lisbon")
    assert (other.user, other.role, other.display_name) == (c.admin.name, user_pb2.ROLE_ADMIN, "Adam")
    listed = {m.user: m for m in await list_all(rpc, home, c.owner)}
    assert listed[c.admin.name] == other


async def test_get_member_is_not_found_for_non_members_and_for_callers_outside(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)

    non_member = await refused(get_member(rpc, home, c.outsider, by=c.owner))
    asked_by_outsider = await refused(get_member(rpc, home, c.owner, by=c.outsider))
    outsider_about_self = await refused(get_member(rpc, home, c.outsider, by=c.outsider))
    unknown_household = await refused(get_member(rpc, Home(f"households/{uuid.uuid4()}", c.owner), c.owner, c.owner))
    malformed = await refused(
        rpc.households.GetMember(user_pb2.GetMemberRequest(name=f"{home.name}/members/me"), metadata=c.owner.metadata)
    )

    for refusal in (non_member, asked_by_outsider, outsider_about_self, unknown_household):
        assert (refusal.code, refusal.reason) == (Code.NOT_FOUND, "NOT_FOUND")
    assert malformed.code == Code.INVALID_ARGUMENT


# --- UpdateMember: roles and ownership -------------------------------------------------------------


async def test_the_owner_changes_roles(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)

    promoted = await set_role(rpc, home, c.member, "admin", by=c.owner)
    demoted = await set_role(rpc, home, c.admin, "child", by=c.owner)
    grown_up = await set_role(rpc, home, c.kid, "member", by=c.owner)

    assert (promoted.name, promoted.role, promoted.display_name) == (home.member(c.member), ROLES["admin"], "Mia")
    assert demoted.role == ROLES["child"]
    assert grown_up.role == ROLES["member"]
    assert await roles(rpc, home) == {"Olga": "owner", "Adam": "child", "Mia": "admin", "Kim": "member"}
    assert (await get_member(rpc, home, c.member, by=c.member)).role == ROLES["admin"]


async def test_admins_manage_members_and_children_but_not_admins_or_the_owner(rpc: Stubs, c: Cast) -> None:
    home = await household(
        rpc, c.owner, (c.admin, "admin"), (c.admin2, "admin"), (c.member, "member"), (c.kid, "child")
    )

    assert (await set_role(rpc, home, c.member, "child", by=c.admin)).role == ROLES["child"]
    assert (await set_role(rpc, home, c.kid, "member", by=c.admin)).role == ROLES["member"]
    refusals = [
        await refused(set_role(rpc, home, c.kid, "admin", by=c.admin)),  # making an admin
        await refused(set_role(rpc, home, c.admin2, "member", by=c.admin)),  # demoting another admin
        await refused(set_role(rpc, home, c.admin, "member", by=c.admin)),  # nor themselves
        await refused(set_role(rpc, home, c.owner, "member", by=c.admin)),  # the owner
        await refused(set_role(rpc, home, c.member, "owner", by=c.admin)),  # handing out ownership
    ]

    for refusal in refusals:
        assert (refusal.code, refusal.reason) == (Code.PERMISSION_DENIED, "PERMISSION_DENIED")
    assert await roles(rpc, home) == {
        "Olga": "owner",
        "Adam": "admin",
        "Alma": "admin",
        "Mia": "child",
        "Kim": "member",
    }


@pytest.mark.parametrize("who", ["member", "kid"])
async def test_members_and_children_change_no_roles(rpc: Stubs, c: Cast, who: str) -> None:
    home = await full_household(rpc, c)
    person: Person = getattr(c, who)

    for target in (c.kid, c.member, person):
        refusal = await refused(set_role(rpc, home, target, "admin", by=person))
        assert refusal.code == Code.PERMISSION_DENIED
    outsider = await refused(set_role(rpc, home, c.member, "child", by=c.outsider))
    assert outsider.code == Code.NOT_FOUND
    assert await roles(rpc, home) == {"Olga": "owner", "Adam": "admin", "Mia": "member", "Kim": "child"}


async def test_role_changes_refuse_bad_requests(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)

    unspecified = await refused(
        rpc.households.UpdateMember(
            user_pb2.UpdateMemberRequest(member=user_pb2.Member(name=home.member(c.member))),
            metadata=c.owner.metadata,
        )
    )
    unknown_path = await refused(set_role(rpc, home, c.member, "child", by=c.owner, paths=("role", "display_name")))
    non_member = await refused(set_role(rpc, home, c.outsider, "member", by=c.owner))

    assert (unspecified.code, list(unspecified.violations)) == (Code.INVALID_ARGUMENT, ["member.role"])
    assert (unknown_path.code, list(unknown_path.violations)) == (Code.INVALID_ARGUMENT, ["update_mask"])
    assert non_member.code == Code.NOT_FOUND
    assert await roles(rpc, home) == {"Olga": "owner", "Adam": "admin", "Mia": "member", "Kim": "child"}


async def test_role_changes_take_the_wildcard_mask_and_report_every_problem_at_once(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)

    wildcard = await set_role(rpc, home, c.member, "child", by=c.owner, paths=("*",))
    both = await refused(
        rpc.households.UpdateMember(
            user_pb2.UpdateMemberRequest(
                member=user_pb2.Member(name=home.member(c.kid)),
                update_mask=field_mask_pb2.FieldMask(paths=["role", "display_name"]),
            ),
            metadata=c.owner.metadata,
        )
    )

    assert wildcard.role == ROLES["child"]
    assert (both.code, set(both.violations)) == (Code.INVALID_ARGUMENT, {"update_mask", "member.role"})
    assert (await roles(rpc, home))["Kim"] == "child"


async def test_the_owner_transfers_ownership_and_stays_as_an_admin(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)
    own_role = await refused(set_role(rpc, home, c.owner, "admin", by=c.owner))
    assert own_role.code == Code.PERMISSION_DENIED  # there is always exactly one owner

    new_owner = await set_role(rpc, home, c.member, "owner", by=c.owner)

    assert (new_owner.user, new_owner.role) == (c.member.name, ROLES["owner"])
    assert await roles(rpc, home) == {"Olga": "admin", "Adam": "admin", "Mia": "owner", "Kim": "child"}
    household_for = {
        p.display_name: (
            await rpc.households.GetHousehold(user_pb2.GetHouseholdRequest(name=home.name), metadata=p.metadata)
        ).caller_role
        for p in (c.owner, c.member)
    }
    assert household_for == {"Olga": ROLES["admin"], "Mia": ROLES["owner"]}
    # The former owner is an admin now: no more owner's rights.
    assert (await refused(set_role(rpc, home, c.kid, "owner", by=c.owner))).code == Code.PERMISSION_DENIED
    # Transferring to oneself changes nothing.
    assert (await set_role(rpc, home, c.member, "owner", by=c.member)).role == ROLES["owner"]
    assert sum(role == "owner" for role in (await roles(rpc, home)).values()) == 1


# --- DeleteMember: removing and leaving ------------------------------------------------------------


async def test_the_owner_removes_anyone_else(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)

    for person in (c.admin, c.kid):
        await remove(rpc, home, person, by=c.owner)

    assert await roles(rpc, home) == {"Olga": "owner", "Mia": "member"}
    gone = await refused(
        rpc.households.GetHousehold(user_pb2.GetHouseholdRequest(name=home.name), metadata=c.admin.metadata)
    )
    assert gone.code == Code.NOT_FOUND
    assert (await refused(get_member(rpc, home, c.kid, by=c.owner))).code == Code.NOT_FOUND
    again = await refused(remove(rpc, home, c.kid, by=c.owner))
    assert again.code == Code.NOT_FOUND


async def test_admins_remove_members_and_children_only(rpc: Stubs, c: Cast) -> None:
    home = await household(
        rpc, c.owner, (c.admin, "admin"), (c.admin2, "admin"), (c.member, "member"), (c.kid, "child")
    )

    await remove(rpc, home, c.member, by=c.admin)
    await remove(rpc, home, c.kid, by=c.admin)
    other_admin = await refused(remove(rpc, home, c.admin2, by=c.admin))
    owner = await refused(remove(rpc, home, c.owner, by=c.admin))

    assert other_admin.code == Code.PERMISSION_DENIED
    assert owner.code == Code.PERMISSION_DENIED
    assert await roles(rpc, home) == {"Olga": "owner", "Adam": "admin", "Alma": "admin"}


@pytest.mark.parametrize("who", ["member", "kid"])
async def test_members_and_children_remove_nobody_else(rpc: Stubs, c: Cast, who: str) -> None:
    home = await full_household(rpc, c)
    person: Person = getattr(c, who)

    for target in (c.owner, c.admin, c.member if who == "kid" else c.kid):
        assert (await refused(remove(rpc, home, target, by=person))).code == Code.PERMISSION_DENIED
    assert (await refused(remove(rpc, home, c.member, by=c.outsider))).code == Code.NOT_FOUND
    assert len(await roles(rpc, home)) == 4


@pytest.mark.parametrize("who", ["admin", "member", "kid"])
async def test_anyone_but_the_owner_may_leave(rpc: Stubs, c: Cast, who: str) -> None:
    home = await full_household(rpc, c)
    person: Person = getattr(c, who)

    await remove(rpc, home, person, by=person)

    assert person.display_name not in await roles(rpc, home)
    assert len(await roles(rpc, home)) == 3
    gone = await refused(
        rpc.households.ListMembers(user_pb2.ListMembersRequest(parent=home.name), metadata=person.metadata)
    )
    assert gone.code == Code.NOT_FOUND


async def test_the_owner_leaves_only_after_transferring_ownership(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)

    refusal = await refused(remove(rpc, home, c.owner, by=c.owner))
    assert refusal.code == Code.PERMISSION_DENIED
    assert "transfer" in refusal.message

    await set_role(rpc, home, c.admin, "owner", by=c.owner)
    await remove(rpc, home, c.owner, by=c.owner)

    assert await roles(rpc, home, by=c.admin) == {"Adam": "owner", "Mia": "member", "Kim": "child"}
