"""HouseholdService's household methods over real gRPC: create, get, list (keyset pages), update, delete,
and who may do which. Each test makes its own households; the people (`cast`) are shared by the module."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2
from hearth.user.v1 import user_pb2

from kit.validation import REQUEST_ID_MAX_LENGTH
from services.user.tests.helpers import (
    Cast,
    Home,
    Person,
    Stubs,
    accept,
    full_household,
    household,
    invite,
    people,
)
from tests.support.rpc import refused

pytestmark = pytest.mark.asyncio(loop_scope="module")

Code = grpc.StatusCode


async def get(rpc: Stubs, home: Home, person: Person) -> user_pb2.Household:
    return await rpc.households.GetHousehold(user_pb2.GetHouseholdRequest(name=home.name), metadata=person.metadata)


async def update(
    rpc: Stubs, home: Home, person: Person, paths: list[str], etag: str = "", **fields: str
) -> user_pb2.Household:
    return await rpc.households.UpdateHousehold(
        user_pb2.UpdateHouseholdRequest(
            household=user_pb2.Household(name=home.name, etag=etag, **fields),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        ),
        metadata=person.metadata,
    )


async def delete(rpc: Stubs, home: Home, person: Person, etag: str = "") -> None:
    await rpc.households.DeleteHousehold(
        user_pb2.DeleteHouseholdRequest(name=home.name, etag=etag), metadata=person.metadata
    )


async def list_all(rpc: Stubs, person: Person, page_size: int) -> list[user_pb2.Household]:
    """Every page of the person's households, following next_page_token; checks each page's size bound."""
    found: list[user_pb2.Household] = []
    token = ""
    while True:
        page = await rpc.households.ListHouseholds(
            user_pb2.ListHouseholdsRequest(page_size=page_size, page_token=token), metadata=person.metadata
        )
        assert len(page.households) <= (page_size or 50)
        found += page.households
        token = page.next_page_token
        if not token:
            return found


# --- create / get ----------------------------------------------------------------------------------


async def test_create_makes_the_caller_the_owner(rpc: Stubs, c: Cast) -> None:
    before = datetime.now(UTC)

    created = await rpc.households.CreateHousehold(
        user_pb2.CreateHouseholdRequest(
            household=user_pb2.Household(display_name="  Flat 3  ", time_zone="Europe/Berlin")
        ),
        metadata=c.owner.metadata,
    )

    assert created.name.startswith("households/")
    assert uuid.UUID(created.name.removeprefix("households/")).version == 7
    assert created.display_name == "Flat 3"
    assert created.time_zone == "Europe/Berlin"
    assert created.caller_role == user_pb2.ROLE_OWNER
    assert created.etag
    assert before - timedelta(seconds=1) <= created.create_time.ToDatetime(tzinfo=UTC) <= datetime.now(UTC)
    home = Home(created.name, c.owner)
    assert await get(rpc, home, c.owner) == created
    members = await rpc.households.ListMembers(user_pb2.ListMembersRequest(parent=home.name), metadata=c.owner.metadata)
    assert [(m.user, m.role) for m in members.members] == [(c.owner.name, user_pb2.ROLE_OWNER)]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"display_name": "", "time_zone": "UTC"}, "household.display_name"),
        ({"display_name": "   ", "time_zone": "UTC"}, "household.display_name"),
        ({"display_name": "x" * 101, "time_zone": "UTC"}, "household.display_name"),
        ({"display_name": "Home", "time_zone": ""}, "household.time_zone"),
        ({"display_name": "Home", "time_zone": "Europe/Atlantis"}, "household.time_zone"),
    ],
)
async def test_create_validates(rpc: Stubs, c: Cast, fields: dict[str, str], field: str) -> None:
    refusal = await refused(
        rpc.households.CreateHousehold(
            user_pb2.CreateHouseholdRequest(household=user_pb2.Household(**fields)), metadata=c.owner.metadata
        )
    )

    assert refusal.code == Code.INVALID_ARGUMENT
    assert list(refusal.violations) == [field]


async def test_create_needs_a_caller(rpc: Stubs) -> None:
    refusal = await refused(
        rpc.households.CreateHousehold(
            user_pb2.CreateHouseholdRequest(household=user_pb2.Household(display_name="Home", time_zone="UTC"))
        )
    )

    assert refusal.code == Code.UNAUTHENTICATED


async def test_create_with_a_request_id_creates_once_per_caller(rpc: Stubs) -> None:
    first_person, second_person = await people(rpc, "Retrier", "Namesake")
    request_id = str(uuid.uuid4())
    request = user_pb2.CreateHouseholdRequest(
        household=user_pb2.Household(display_name="Once", time_zone="UTC"), request_id=request_id
    )

    first = await rpc.households.CreateHousehold(request, metadata=first_person.metadata)
    retry = await rpc.households.CreateHousehold(request, metadata=first_person.metadata)
    someone_else = await rpc.households.CreateHousehold(request, metadata=second_person.metadata)

    assert retry.name == first.name
    assert someone_else.name != first.name  # request ids are the caller's own
    assert [h.name for h in await list_all(rpc, first_person, 10)] == [first.name]
    too_long = await refused(
        rpc.households.CreateHousehold(
            user_pb2.CreateHouseholdRequest(household=request.household, request_id="x" * (REQUEST_ID_MAX_LENGTH + 1)),
            metadata=first_person.metadata,
        )
    )
    assert list(too_long.violations) == ["request_id"]
    longest = await rpc.households.CreateHousehold(
        user_pb2.CreateHouseholdRequest(household=request.household, request_id="y" * REQUEST_ID_MAX_LENGTH),
        metadata=first_person.metadata,
    )
    assert longest.name != first.name


async def test_get_shows_each_member_their_own_role(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)

    roles = {p.display_name: (await get(rpc, home, p)).caller_role for p in (c.owner, c.admin, c.member, c.kid)}

    assert roles == {
        "Olga": user_pb2.ROLE_OWNER,
        "Adam": user_pb2.ROLE_ADMIN,
        "Mia": user_pb2.ROLE_MEMBER,
        "Kim": user_pb2.ROLE_CHILD,
    }


async def test_get_is_not_found_for_outsiders_and_unknown_households(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner)

    outsider = await refused(get(rpc, home, c.outsider))
    unknown = await refused(get(rpc, Home(f"households/{uuid.uuid4()}", c.owner), c.owner))
    malformed = await refused(get(rpc, Home("households/not-an-id", c.owner), c.owner))

    assert (outsider.code, outsider.reason) == (Code.NOT_FOUND, "NOT_FOUND")
    assert (unknown.code, unknown.message) == (Code.NOT_FOUND, outsider.message)  # nothing to tell them apart
    assert malformed.code == Code.INVALID_ARGUMENT
    assert list(malformed.violations) == ["name"]


# --- list ------------------------------------------------------------------------------------------


async def test_list_pages_through_exactly_the_callers_households(rpc: Stubs, c: Cast) -> None:
    person, friend = await people(rpc, "Lister", "Friend")
    owned = [await household(rpc, person, display_name=f"Mine {i}") for i in range(3)]
    joined = [
        await household(rpc, friend, (person, role), display_name=f"Theirs {role}") for role in ("admin", "child")
    ]
    await household(rpc, friend, display_name="Not mine")
    await household(rpc, c.owner, (c.member, "member"), display_name="Not mine either")

    pages = []
    token = ""
    while True:
        page = await rpc.households.ListHouseholds(
            user_pb2.ListHouseholdsRequest(page_size=2, page_token=token), metadata=person.metadata
        )
        pages.append([h.name for h in page.households])
        token = page.next_page_token
        if not token:
            break

    assert [len(page) for page in pages] == [2, 2, 1]
    listed = await list_all(rpc, person, 2)
    assert [h.name for h in listed] == [h.name for h in owned + joined]  # creation order (UUIDv7), no repeats
    assert [h.caller_role for h in listed] == [user_pb2.ROLE_OWNER] * 3 + [user_pb2.ROLE_ADMIN, user_pb2.ROLE_CHILD]
    assert [h.display_name for h in listed] == ["Mine 0", "Mine 1", "Mine 2", "Theirs admin", "Theirs child"]
    assert [h.name for h in await list_all(rpc, person, 200)] == [h.name for h in listed]
    assert [h.name for h in await list_all(rpc, person, 0)] == [h.name for h in listed]  # 0: the default size


async def test_list_leaves_out_deleted_households_and_starts_empty(rpc: Stubs) -> None:
    (person,) = await people(rpc, "Fresh")

    assert await list_all(rpc, person, 5) == []
    kept, gone = await household(rpc, person, display_name="Kept"), await household(rpc, person, display_name="Gone")
    await delete(rpc, gone, person)

    assert [h.name for h in await list_all(rpc, person, 5)] == [kept.name]


async def test_list_refuses_bad_page_arguments(rpc: Stubs, c: Cast) -> None:
    person, other = await people(rpc, "Paged", "Other")
    for i in range(3):
        await household(rpc, person, display_name=f"H{i}")
    page = await rpc.households.ListHouseholds(user_pb2.ListHouseholdsRequest(page_size=1), metadata=person.metadata)
    assert page.next_page_token

    foreign = await refused(
        rpc.households.ListHouseholds(
            user_pb2.ListHouseholdsRequest(page_size=1, page_token=page.next_page_token), metadata=other.metadata
        )
    )
    garbage = await refused(
        rpc.households.ListHouseholds(
            user_pb2.ListHouseholdsRequest(page_token="!!not-a-token"), metadata=person.metadata
        )
    )
    negative = await refused(
        rpc.households.ListHouseholds(user_pb2.ListHouseholdsRequest(page_size=-1), metadata=person.metadata)
    )

    assert (foreign.code, list(foreign.violations)) == (Code.INVALID_ARGUMENT, ["page_token"])
    assert (garbage.code, list(garbage.violations)) == (Code.INVALID_ARGUMENT, ["page_token"])
    assert (negative.code, list(negative.violations)) == (Code.INVALID_ARGUMENT, ["page_size"])


# --- update ----------------------------------------------------------------------------------------


async def test_update_changes_only_the_masked_fields(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner, display_name="Old name", time_zone="Europe/Berlin")
    original = await get(rpc, home, c.owner)

    renamed = await update(rpc, home, c.owner, ["display_name"], display_name=" New name ", time_zone="Asia/Tokyo")
    moved = await update(rpc, home, c.owner, ["time_zone"], display_name="ignored", time_zone="Asia/Tokyo")

    assert (renamed.display_name, renamed.time_zone) == ("New name", "Europe/Berlin")
    assert (moved.display_name, moved.time_zone) == ("New name", "Asia/Tokyo")
    assert moved.create_time == original.create_time
    assert moved.update_time.ToDatetime() > original.update_time.ToDatetime()
    assert len({original.etag, renamed.etag, moved.etag}) == 3
    assert moved.caller_role == user_pb2.ROLE_OWNER
    assert await get(rpc, home, c.owner) == moved


async def test_update_without_a_mask_changes_the_fields_given(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner, display_name="Before", time_zone="UTC")

    updated = await update(rpc, home, c.owner, [], display_name="After")

    assert (updated.display_name, updated.time_zone) == ("After", "UTC")


async def test_admins_may_update_members_and_children_may_not(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c, display_name="Shared")

    by_admin = await update(rpc, home, c.admin, ["display_name"], display_name="By admin")
    member = await refused(update(rpc, home, c.member, ["display_name"], display_name="By member"))
    child = await refused(update(rpc, home, c.kid, ["display_name"], display_name="By child"))
    outsider = await refused(update(rpc, home, c.outsider, ["display_name"], display_name="By outsider"))

    assert by_admin.caller_role == user_pb2.ROLE_ADMIN
    assert (member.code, member.reason) == (Code.PERMISSION_DENIED, "PERMISSION_DENIED")
    assert child.code == Code.PERMISSION_DENIED
    assert outsider.code == Code.NOT_FOUND
    assert (await get(rpc, home, c.owner)).display_name == "By admin"


@pytest.mark.parametrize(
    ("paths", "fields", "field"),
    [
        (["caller_role"], {}, "update_mask"),
        (["display_name", "create_time"], {"display_name": "x"}, "update_mask"),
        (["display_name"], {"display_name": " "}, "household.display_name"),
        (["time_zone"], {"time_zone": "Not/AZone"}, "household.time_zone"),
    ],
)
async def test_update_refuses_unknown_paths_and_invalid_values(
    rpc: Stubs, c: Cast, paths: list[str], fields: dict[str, str], field: str
) -> None:
    home = await household(rpc, c.owner, display_name="Unchanged")
    before = await get(rpc, home, c.owner)

    refusal = await refused(update(rpc, home, c.owner, paths, **fields))

    assert refusal.code == Code.INVALID_ARGUMENT
    assert list(refusal.violations) == [field]
    assert await get(rpc, home, c.owner) == before


async def test_update_with_the_wildcard_mask_sets_every_updatable_field(rpc: Stubs, c: Cast) -> None:
    """AIP-134 (kit.field_mask): `*` alone is every updatable field — a full replacement, so each must be given."""
    home = await household(rpc, c.owner, display_name="Wild")
    before = await get(rpc, home, c.owner)

    partial = await refused(update(rpc, home, c.owner, ["*"], display_name="Only the name"))
    combined = await refused(update(rpc, home, c.owner, ["*", "time_zone"], display_name="X", time_zone="UTC"))
    assert await get(rpc, home, c.owner) == before
    updated = await update(rpc, home, c.owner, ["*"], display_name="Card", time_zone="Asia/Tokyo")

    assert (partial.code, list(partial.violations)) == (Code.INVALID_ARGUMENT, ["household.time_zone"])
    assert (combined.code, list(combined.violations)) == (Code.INVALID_ARGUMENT, ["update_mask"])
    assert (updated.display_name, updated.time_zone) == ("Card", "Asia/Tokyo")


async def test_create_and_update_report_every_invalid_field_at_once(rpc: Stubs, c: Cast) -> None:
    created = await refused(
        rpc.households.CreateHousehold(
            user_pb2.CreateHouseholdRequest(
                household=user_pb2.Household(display_name=" ", time_zone="Not/AZone"), request_id="r\x00"
            ),
            metadata=c.owner.metadata,
        )
    )
    home = await household(rpc, c.owner, display_name="Kept")
    updated = await refused(
        update(rpc, home, c.owner, ["display_name", "time_zone"], display_name="x" * 101, time_zone="Not/AZone")
    )

    assert created.code == Code.INVALID_ARGUMENT
    assert set(created.violations) == {"household.display_name", "household.time_zone", "request_id"}
    assert updated.code == Code.INVALID_ARGUMENT
    assert set(updated.violations) == {"household.display_name", "household.time_zone"}
    assert (await get(rpc, home, c.owner)).display_name == "Kept"


async def test_update_and_delete_honour_the_etag(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner, display_name="Versioned")
    read = await get(rpc, home, c.owner)
    changed = await update(rpc, home, c.owner, ["display_name"], etag=read.etag, display_name="Changed")

    stale_update = await refused(update(rpc, home, c.owner, ["display_name"], etag=read.etag, display_name="Lost"))
    stale_delete = await refused(delete(rpc, home, c.owner, etag=read.etag))

    assert (stale_update.code, stale_update.reason) == (Code.FAILED_PRECONDITION, "PRECONDITION_FAILED")
    assert (stale_delete.code, stale_delete.reason) == (Code.FAILED_PRECONDITION, "PRECONDITION_FAILED")
    assert (await get(rpc, home, c.owner)).display_name == "Changed"
    await delete(rpc, home, c.owner, etag=changed.etag)
    assert (await refused(get(rpc, home, c.owner))).code == Code.NOT_FOUND


# --- delete ----------------------------------------------------------------------------------------


async def test_only_the_owner_deletes(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)

    for person in (c.admin, c.member, c.kid):
        refusal = await refused(delete(rpc, home, person))
        assert (refusal.code, refusal.reason) == (Code.PERMISSION_DENIED, "PERMISSION_DENIED")
    outsider = await refused(delete(rpc, home, c.outsider))
    assert outsider.code == Code.NOT_FOUND
    assert (await get(rpc, home, c.member)).display_name == "Home"  # still there

    await delete(rpc, home, c.owner)

    for person in (c.owner, c.admin, c.member, c.kid):
        assert (await refused(get(rpc, home, person))).code == Code.NOT_FOUND
        listed = await rpc.households.ListHouseholds(user_pb2.ListHouseholdsRequest(), metadata=person.metadata)
        assert home.name not in [h.name for h in listed.households]
    members = await refused(
        rpc.households.ListMembers(user_pb2.ListMembersRequest(parent=home.name), metadata=c.owner.metadata)
    )
    assert members.code == Code.NOT_FOUND
    assert (await refused(delete(rpc, home, c.owner))).code == Code.NOT_FOUND  # already gone


async def test_an_invite_to_a_deleted_household_is_not_found(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner)
    code = (await invite(rpc, home, "member")).code
    await delete(rpc, home, c.owner)

    refusal = await refused(accept(rpc, code, c.outsider))

    assert refusal.code == Code.NOT_FOUND
