"""Requests a client may forge or race, over real gRPC: hand-built page tokens, enum numbers the proto does not know,
control characters in text, and the same request (or request id) arriving several times at once. Every one is
answered with the status it deserves (INVALID_ARGUMENT naming the field, ALREADY_EXISTS, a replay), never INTERNAL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from hearth.user.v1 import user_pb2

from kit.pagination import encode_token, fingerprint
from kit.text import CONTROL_CHARACTERS_MESSAGE
from services.user.tests.helpers import (
    Cast,
    Person,
    Stubs,
    accept,
    full_household,
    household,
    invite,
    new_email,
    people,
    register,
)
from tests.support.people import PASSWORD, ROLES
from tests.support.rpc import refused

pytestmark = pytest.mark.asyncio(loop_scope="module")

Code = grpc.StatusCode
CONCURRENT = 4


def codes(results: list[Any]) -> list[grpc.StatusCode | None]:
    """Each result of a gather(..., return_exceptions=True): None for an answer, the status code of a refusal."""
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, grpc.aio.AioRpcError):
            raise result
    return [result.code() if isinstance(result, grpc.aio.AioRpcError) else None for result in results]


# --- forged page tokens ------------------------------------------------------------------------------
# Tokens are not signed and their fingerprint is a hash of public data: anyone can build one "of this query".

SOME_ID = "01a209d1-4418-73d8-9921-702caaa7cbc9"


@pytest.mark.parametrize(
    "key",
    [["not-a-uuid"], [], [None], [42], [["nested"]], [SOME_ID, SOME_ID]],
    ids=["not-a-uuid", "empty", "null", "number", "list", "two-parts"],
)
async def test_a_forged_list_households_page_token_is_invalid_argument(rpc: Stubs, c: Cast, key: list[Any]) -> None:
    token = encode_token(key, fingerprint("households", c.owner.user_id))

    refusal = await refused(
        rpc.households.ListHouseholds(user_pb2.ListHouseholdsRequest(page_token=token), metadata=c.owner.metadata)
    )

    assert refusal.code == Code.INVALID_ARGUMENT
    assert list(refusal.violations) == ["page_token"]


@pytest.mark.parametrize(
    "key",
    [
        ["garbage"],
        [],
        ["2020-01-01T00:00:00+00:00", "zz"],
        ["garbage", SOME_ID],
        ["2020-01-01T00:00:00", SOME_ID],  # no offset
        ["0001-01-01T00:00:00+05:00", SOME_ID],  # before year 1 in UTC
        ["9999-12-31T23:59:59-05:00", SOME_ID],  # after year 9999 in UTC
        [1577836800, SOME_ID],
        [None, None],
    ],
    ids=["garbage", "empty", "bad-uuid", "bad-time", "naive", "year-1", "year-9999", "number", "nulls"],
)
async def test_a_forged_list_members_page_token_is_invalid_argument(rpc: Stubs, c: Cast, key: list[Any]) -> None:
    home = await household(rpc, c.owner)
    token = encode_token(key, fingerprint("members", home.id))

    refusal = await refused(
        rpc.households.ListMembers(
            user_pb2.ListMembersRequest(parent=home.name, page_token=token), metadata=c.owner.metadata
        )
    )

    assert refusal.code == Code.INVALID_ARGUMENT
    assert list(refusal.violations) == ["page_token"]


async def test_the_page_tokens_the_service_hands_out_still_page_through_everything(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)
    extra = await household(rpc, c.owner, display_name="Second")

    seen_members: list[str] = []
    seen_households: list[str] = []
    token = ""
    while True:
        page = await rpc.households.ListMembers(
            user_pb2.ListMembersRequest(parent=home.name, page_size=1, page_token=token), metadata=c.owner.metadata
        )
        seen_members += [member.user for member in page.members]
        token = page.next_page_token
        if not token:
            break
    while True:
        listed = await rpc.households.ListHouseholds(
            user_pb2.ListHouseholdsRequest(page_size=1, page_token=token), metadata=c.owner.metadata
        )
        seen_households += [h.name for h in listed.households]
        token = listed.next_page_token
        if not token:
            break

    assert seen_members == [c.owner.name, c.admin.name, c.member.name, c.kid.name]
    assert {home.name, extra.name} <= set(seen_households)
    assert len(seen_households) == len(set(seen_households))


# --- enum numbers the proto does not know ---------------------------------------------------------------


async def test_an_unknown_role_number_in_update_member_is_invalid_argument(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)

    refusal = await refused(
        rpc.households.UpdateMember(
            user_pb2.UpdateMemberRequest(
                member=user_pb2.Member(name=home.member(c.member), role=99),  # type: ignore[arg-type]
                update_mask=field_mask_pb2.FieldMask(paths=["role"]),
            ),
            metadata=c.owner.metadata,
        )
    )

    assert refusal.code == Code.INVALID_ARGUMENT
    assert list(refusal.violations) == ["member.role"]


async def test_an_unknown_role_number_in_create_invite_is_invalid_argument(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner)

    refusal = await refused(
        rpc.households.CreateInvite(
            user_pb2.CreateInviteRequest(parent=home.name, invite=user_pb2.Invite(role=99)),  # type: ignore[arg-type]
            metadata=c.owner.metadata,
        )
    )

    assert refusal.code == Code.INVALID_ARGUMENT
    assert list(refusal.violations) == ["invite.role"]


# --- control characters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"display_name": "Ev\x00e"}, "display_name"),
        ({"display_name": "Ev\x1b[31me"}, "display_name"),
        ({"locale": "d\x00e"}, "locale"),
        ({"time_zone": "Europe/Berlin\x00"}, "time_zone"),
        ({"email": "eve\x00@example.com"}, "email"),
        ({"request_id": "retry\x00"}, "request_id"),
    ],
    ids=["display_name-nul", "display_name-escape", "locale", "time_zone", "email", "request_id"],
)
async def test_control_characters_in_a_registration_are_invalid_argument(
    rpc: Stubs, fields: dict[str, str], field: str
) -> None:
    request = {"email": new_email(), "password": PASSWORD, "display_name": "Eve", **fields}

    refusal = await refused(rpc.auth.Register(user_pb2.RegisterRequest(**request)))

    assert refusal.code == Code.INVALID_ARGUMENT
    assert refusal.violations == {field: CONTROL_CHARACTERS_MESSAGE}


async def test_a_nul_in_a_new_password_is_refused_on_the_password_field(rpc: Stubs) -> None:
    password = "correct horse \x00battery staple"
    request = user_pb2.RegisterRequest(email=new_email(), password=password, display_name="Eve")

    refusal = await refused(rpc.auth.Register(request))

    assert refusal.code == Code.INVALID_ARGUMENT
    assert list(refusal.violations) == ["password"]
    assert "NUL" in refusal.violations["password"]


@pytest.mark.parametrize(
    ("user", "path", "field"),
    [
        (user_pb2.User(display_name="x\x00"), "display_name", "user.display_name"),
        (user_pb2.User(locale="en\x00"), "locale", "user.locale"),
        (user_pb2.User(time_zone="UTC\x00"), "time_zone", "user.time_zone"),
    ],
    ids=["display_name", "locale", "time_zone"],
)
async def test_control_characters_in_update_user_are_invalid_argument(
    rpc: Stubs, user: user_pb2.User, path: str, field: str
) -> None:
    person = await register(rpc, "Plain")

    refusal = await refused(
        rpc.users.UpdateUser(
            user_pb2.UpdateUserRequest(user=user, update_mask=field_mask_pb2.FieldMask(paths=[path])),
            metadata=person.metadata,
        )
    )

    assert refusal.code == Code.INVALID_ARGUMENT
    assert refusal.violations == {field: CONTROL_CHARACTERS_MESSAGE}


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"household": user_pb2.Household(display_name="H\x00", time_zone="UTC")}, "household.display_name"),
        ({"household": user_pb2.Household(display_name="H", time_zone="UTC\x00")}, "household.time_zone"),
        ({"household": user_pb2.Household(display_name="H", time_zone="UTC"), "request_id": "r\x00"}, "request_id"),
    ],
    ids=["display_name", "time_zone", "request_id"],
)
async def test_control_characters_in_create_household_are_invalid_argument(
    rpc: Stubs, c: Cast, request_fields: dict[str, Any], field: str
) -> None:
    refusal = await refused(
        rpc.households.CreateHousehold(user_pb2.CreateHouseholdRequest(**request_fields), metadata=c.owner.metadata)
    )

    assert refusal.code == Code.INVALID_ARGUMENT
    assert refusal.violations == {field: CONTROL_CHARACTERS_MESSAGE}


async def test_control_characters_in_update_household_are_invalid_argument(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner)

    refusal = await refused(
        rpc.households.UpdateHousehold(
            user_pb2.UpdateHouseholdRequest(
                household=user_pb2.Household(name=home.name, display_name="H\x00me"),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            ),
            metadata=c.owner.metadata,
        )
    )

    assert refusal.code == Code.INVALID_ARGUMENT
    assert refusal.violations == {"household.display_name": CONTROL_CHARACTERS_MESSAGE}


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"invite": user_pb2.Invite(role=ROLES["member"], email="eve\x00@example.com")}, "invite.email"),
        ({"invite": user_pb2.Invite(role=ROLES["member"]), "request_id": "r\x00"}, "request_id"),
    ],
    ids=["email", "request_id"],
)
async def test_control_characters_in_create_invite_are_invalid_argument(
    rpc: Stubs, c: Cast, request_fields: dict[str, Any], field: str
) -> None:
    home = await household(rpc, c.owner)

    refusal = await refused(
        rpc.households.CreateInvite(
            user_pb2.CreateInviteRequest(parent=home.name, **request_fields), metadata=c.owner.metadata
        )
    )

    assert refusal.code == Code.INVALID_ARGUMENT
    assert refusal.violations == {field: CONTROL_CHARACTERS_MESSAGE}


# --- racing requests --------------------------------------------------------------------------------------


async def test_accepting_several_invites_to_one_household_at_once_makes_one_membership(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner)
    joiner, latecomer = await people(rpc, "Joiner", "Latecomer")
    invites = [await invite(rpc, home, "member") for _ in range(CONCURRENT)]

    results = await asyncio.gather(*(accept(rpc, i.code, joiner) for i in invites), return_exceptions=True)

    assert sorted(codes(results), key=str) == sorted([None] + [Code.ALREADY_EXISTS] * (CONCURRENT - 1), key=str)
    listed = await rpc.households.ListMembers(user_pb2.ListMembersRequest(parent=home.name), metadata=c.owner.metadata)
    assert [m.user for m in listed.members] == [c.owner.name, joiner.name]
    # The invites the refused calls presented were not used up.
    unused = next(i for i, result in zip(invites, results, strict=True) if isinstance(result, BaseException))
    assert (await accept(rpc, unused.code, latecomer)).user == latecomer.name


async def test_concurrent_create_household_with_one_request_id_creates_one_household(rpc: Stubs) -> None:
    (founder,) = await people(rpc, "Founder")
    request = user_pb2.CreateHouseholdRequest(
        household=user_pb2.Household(display_name="Once", time_zone="UTC"), request_id=str(uuid.uuid4())
    )

    results = await asyncio.gather(
        *(rpc.households.CreateHousehold(request, metadata=founder.metadata) for _ in range(CONCURRENT)),
        return_exceptions=True,
    )

    assert codes(results) == [None] * CONCURRENT
    assert len({result.name for result in results}) == 1
    listed = await rpc.households.ListHouseholds(user_pb2.ListHouseholdsRequest(), metadata=founder.metadata)
    assert [h.name for h in listed.households] == [results[0].name]


async def test_concurrent_register_with_one_request_id_makes_one_account_and_replays_it(rpc: Stubs) -> None:
    request = user_pb2.RegisterRequest(
        email=new_email("racer"), password=PASSWORD, display_name="Racer", request_id=str(uuid.uuid4())
    )

    results = await asyncio.gather(*(rpc.auth.Register(request) for _ in range(CONCURRENT)), return_exceptions=True)

    assert codes(results) == [None] * CONCURRENT
    assert len({result.name for result in results}) == 1
    assert await rpc.auth.Login(user_pb2.LoginRequest(email=request.email, password=PASSWORD))


# --- CreateInvite request ids -------------------------------------------------------------------------------


async def create_invite(rpc: Stubs, parent: str, by: Person, request_id: str, role: str = "member") -> Any:
    return await rpc.households.CreateInvite(
        user_pb2.CreateInviteRequest(parent=parent, invite=user_pb2.Invite(role=ROLES[role]), request_id=request_id),
        metadata=by.metadata,
    )


async def test_create_invite_with_a_request_id_is_done_once_and_shows_the_same_code(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner)
    joiner, second = await people(rpc, "Joiner", "Second")
    request_id = str(uuid.uuid4())

    first = await create_invite(rpc, home.name, c.owner, request_id)
    retried = await create_invite(rpc, home.name, c.owner, request_id)
    other = await create_invite(rpc, home.name, c.owner, str(uuid.uuid4()))

    assert retried == first
    assert other.name != first.name
    assert other.code != first.code
    await accept(rpc, first.code, joiner)
    # Still the one invite (now used), not a second live one.
    again = await create_invite(rpc, home.name, c.owner, request_id)
    assert (again.name, again.code) == (first.name, first.code)
    used = await refused(accept(rpc, again.code, second))
    assert (used.code, used.reason) == (Code.FAILED_PRECONDITION, "GONE")


async def test_concurrent_create_invite_with_one_request_id_creates_one_invite(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner)
    request_id = str(uuid.uuid4())

    results = await asyncio.gather(
        *(create_invite(rpc, home.name, c.owner, request_id) for _ in range(CONCURRENT)), return_exceptions=True
    )

    assert codes(results) == [None] * CONCURRENT
    assert len({(result.name, result.code) for result in results}) == 1


async def test_an_invite_request_id_reused_for_something_else_is_invalid_argument(rpc: Stubs, c: Cast) -> None:
    home, elsewhere = await household(rpc, c.owner), await household(rpc, c.owner)
    request_id = str(uuid.uuid4())
    await create_invite(rpc, home.name, c.owner, request_id)
    household_request = user_pb2.CreateHouseholdRequest(
        household=user_pb2.Household(display_name="H", time_zone="UTC"), request_id=request_id
    )

    other_household = await refused(create_invite(rpc, elsewhere.name, c.owner, request_id))
    other_operation = await refused(rpc.households.CreateHousehold(household_request, metadata=c.owner.metadata))

    for refusal in (other_household, other_operation):
        assert refusal.code == Code.INVALID_ARGUMENT
        assert list(refusal.violations) == ["request_id"]


async def test_a_request_id_reused_with_a_different_body_is_invalid_argument(rpc: Stubs, c: Cast) -> None:
    """kit.idempotency's one rule: the same id is the same request only with the same meaningful fields."""
    home = await household(rpc, c.owner)
    request_id = str(uuid.uuid4())
    await create_invite(rpc, home.name, c.owner, request_id, role="member")
    created = user_pb2.CreateHouseholdRequest(
        household=user_pb2.Household(display_name="First", time_zone="UTC"), request_id=str(uuid.uuid4())
    )
    await rpc.households.CreateHousehold(created, metadata=c.owner.metadata)
    renamed = user_pb2.CreateHouseholdRequest(
        household=user_pb2.Household(display_name="Second", time_zone="UTC"), request_id=created.request_id
    )
    email = new_email("reuser")
    registration = user_pb2.RegisterRequest(
        email=email, password=PASSWORD, display_name="Ann", request_id=str(uuid.uuid4())
    )
    await rpc.auth.Register(registration)
    registration.display_name = "Bob"

    refusals = [
        await refused(create_invite(rpc, home.name, c.owner, request_id, role="child")),
        await refused(rpc.households.CreateHousehold(renamed, metadata=c.owner.metadata)),
        await refused(rpc.auth.Register(registration)),
    ]

    for refusal in refusals:
        assert (refusal.code, list(refusal.violations)) == (Code.INVALID_ARGUMENT, ["request_id"])
