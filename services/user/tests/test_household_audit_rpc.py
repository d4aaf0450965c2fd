"""A household's audit log over real gRPC (AuditService.ListAuditEvents, parent households/{h}): role changes,
ownership transfers, removals and leaving are recorded with who did it, to whom, from where and under which
request; deleting the household is recorded in the owner's own log; only the owner reads the household's,
newest first, in keyset pages; refused changes record nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf import field_mask_pb2
from hearth.user.v1 import user_pb2, user_pb2_grpc

from services.user.tests.helpers import Cast, Home, Person, Stubs, full_household, household
from tests.support.people import ROLES
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

Code = grpc.StatusCode
BROWSER = "hearth-test/1.0 (audit)"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def audit(stack: Stack) -> AsyncIterator[user_pb2_grpc.AuditServiceStub]:
    # Its own channel, with a User-Agent of its own, so the recorded one is seen to be the caller's.
    options = [("grpc.primary_user_agent", BROWSER)]
    async with grpc.aio.insecure_channel(stack.addr("user"), options=options) as channel:
        yield user_pb2_grpc.AuditServiceStub(channel)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def households(stack: Stack) -> AsyncIterator[user_pb2_grpc.HouseholdServiceStub]:
    """HouseholdService on a channel with BROWSER as its User-Agent."""
    options = [("grpc.primary_user_agent", BROWSER)]
    async with grpc.aio.insecure_channel(stack.addr("user"), options=options) as channel:
        yield user_pb2_grpc.HouseholdServiceStub(channel)


def with_correlation(person: Person, correlation_id: str) -> tuple[tuple[str, str], ...]:
    return (*person.metadata, ("x-correlation-id", correlation_id))


async def read_log(
    audit: user_pb2_grpc.AuditServiceStub, parent: str, by: Person, page_size: int = 0
) -> list[user_pb2.AuditEvent]:
    """Every page of `parent`'s log, as `by` reads it."""
    found: list[user_pb2.AuditEvent] = []
    token = ""
    while True:
        page = await audit.ListAuditEvents(
            user_pb2.ListAuditEventsRequest(parent=parent, page_size=page_size, page_token=token), metadata=by.metadata
        )
        assert len(page.audit_events) <= (page_size or 50)
        found += page.audit_events
        token = page.next_page_token
        if not token:
            return found


def details(event: user_pb2.AuditEvent) -> dict[str, Any]:
    return dict(json.loads(event.details_json))


async def set_role(
    households: user_pb2_grpc.HouseholdServiceStub, home: Home, target: Person, role: str, by: Person, cid: str = ""
) -> user_pb2.Member:
    return await households.UpdateMember(
        user_pb2.UpdateMemberRequest(
            member=user_pb2.Member(name=home.member(target), role=ROLES[role]),
            update_mask=field_mask_pb2.FieldMask(paths=["role"]),
        ),
        metadata=with_correlation(by, cid) if cid else by.metadata,
    )


async def test_a_role_change_is_recorded_with_who_whom_from_where_and_which_request(
    audit: user_pb2_grpc.AuditServiceStub, households: user_pb2_grpc.HouseholdServiceStub, rpc: Stubs, c: Cast
) -> None:
    home = await full_household(rpc, c)

    await set_role(households, home, c.member, "admin", c.owner, cid="role-change-1")

    (event,) = await read_log(audit, home.name, c.owner)
    assert event.action == "member.role_changed"
    assert event.name.startswith(f"{home.name}/auditEvents/")
    assert (event.actor, event.target) == (c.owner.name, home.member(c.member))
    assert details(event) == {"from": "member", "to": "admin"}
    assert event.ip_address == "127.0.0.1"
    assert event.user_agent.startswith(BROWSER)
    assert event.correlation_id == "role-change-1"
    assert event.create_time.seconds > 0


async def test_setting_a_role_it_already_has_and_refused_changes_record_nothing(
    audit: user_pb2_grpc.AuditServiceStub, households: user_pb2_grpc.HouseholdServiceStub, rpc: Stubs, c: Cast
) -> None:
    home = await full_household(rpc, c)

    await set_role(households, home, c.member, "member", c.owner)  # no change
    for call in (
        set_role(households, home, c.member, "child", c.kid),  # a child manages nobody
        set_role(households, home, c.admin, "member", c.admin),  # only the owner manages admins
        set_role(households, home, c.owner, "member", c.owner),  # the owner's role is handed over, not changed
        set_role(households, home, c.member, "owner", c.admin),  # only the owner hands the household over
    ):
        assert (await refused(call)).code == Code.PERMISSION_DENIED

    assert await read_log(audit, home.name, c.owner) == []


async def test_an_ownership_transfer_is_recorded_once_and_the_new_owner_reads_the_log(
    audit: user_pb2_grpc.AuditServiceStub, households: user_pb2_grpc.HouseholdServiceStub, rpc: Stubs, c: Cast
) -> None:
    home = await full_household(rpc, c)

    await set_role(households, home, c.member, "owner", c.owner)

    (event,) = await read_log(audit, home.name, c.member)
    assert event.action == "household.ownership_transferred"
    assert (event.actor, event.target) == (c.owner.name, home.member(c.member))
    assert details(event) == {"previous_role": "member"}
    # The previous owner stayed on as an admin, and an admin does not read the household's log.
    assert (await refused(read_log(audit, home.name, c.owner))).code == Code.PERMISSION_DENIED


async def test_removals_and_leaving_are_recorded(
    audit: user_pb2_grpc.AuditServiceStub, households: user_pb2_grpc.HouseholdServiceStub, rpc: Stubs, c: Cast
) -> None:
    home = await full_household(rpc, c)

    await households.DeleteMember(user_pb2.DeleteMemberRequest(name=home.member(c.kid)), metadata=c.admin.metadata)
    await households.DeleteMember(user_pb2.DeleteMemberRequest(name=home.member(c.member)), metadata=c.member.metadata)

    left, removed = await read_log(audit, home.name, c.owner)  # newest first
    assert (removed.action, removed.actor, removed.target) == ("member.removed", c.admin.name, home.member(c.kid))
    assert details(removed) == {"role": "child", "left": False}
    assert (left.action, left.actor, left.target) == ("member.removed", c.member.name, home.member(c.member))
    assert details(left) == {"role": "member", "left": True}


async def test_deleting_the_household_is_recorded_in_the_owners_own_log(
    audit: user_pb2_grpc.AuditServiceStub, households: user_pb2_grpc.HouseholdServiceStub, rpc: Stubs, c: Cast
) -> None:
    home = await household(rpc, c.owner, display_name="Flat 9")

    await households.DeleteHousehold(
        user_pb2.DeleteHouseholdRequest(name=home.name), metadata=with_correlation(c.owner, "delete-flat-9")
    )

    mine = [e for e in await read_log(audit, "users/me", c.owner) if e.action == "household.deleted"]
    assert [(e.actor, e.target, e.correlation_id) for e in mine] == [(c.owner.name, home.name, "delete-flat-9")]
    assert details(mine[0]) == {"display_name": "Flat 9"}
    # The household's own log went with it: nobody is a member any more.
    assert (await refused(read_log(audit, home.name, c.owner))).code == Code.NOT_FOUND


@pytest.mark.parametrize("who", ["admin", "member", "kid"])
async def test_only_the_owner_reads_the_households_log(
    audit: user_pb2_grpc.AuditServiceStub, rpc: Stubs, c: Cast, who: str
) -> None:
    home = await full_household(rpc, c)

    refusal = await refused(read_log(audit, home.name, getattr(c, who)))

    assert refusal.code == Code.PERMISSION_DENIED


async def test_outsiders_and_malformed_parents_learn_nothing(
    audit: user_pb2_grpc.AuditServiceStub, rpc: Stubs, c: Cast
) -> None:
    home = await full_household(rpc, c)

    assert (await refused(read_log(audit, home.name, c.outsider))).code == Code.NOT_FOUND
    missing = "households/0192f1a2-7c3e-7d41-9a55-3b1f0c2d4e51"
    assert (await refused(read_log(audit, missing, c.owner))).code == Code.NOT_FOUND
    for parent in ("households/not-an-id", "households/", f"{home.name}/members"):
        assert (await refused(read_log(audit, parent, c.owner))).code == Code.INVALID_ARGUMENT, parent


async def test_the_log_is_newest_first_in_keyset_pages_of_one_household_only(
    audit: user_pb2_grpc.AuditServiceStub, households: user_pb2_grpc.HouseholdServiceStub, rpc: Stubs, c: Cast
) -> None:
    home = await full_household(rpc, c)
    other = await full_household(rpc, c)
    roles = ["child", "member", "child", "member", "child"]
    for role in roles:
        await set_role(households, home, c.member, role, c.owner)
        await set_role(households, other, c.kid, "member" if role == "child" else "child", c.owner)

    everything = await read_log(audit, home.name, c.owner)
    paged = await read_log(audit, home.name, c.owner, page_size=2)

    assert [details(e)["to"] for e in everything] == list(reversed(roles))
    assert {e.target for e in everything} == {home.member(c.member)}
    assert [e.name for e in paged] == [e.name for e in everything]
    # A page token is bound to its household's log.
    first = await audit.ListAuditEvents(
        user_pb2.ListAuditEventsRequest(parent=home.name, page_size=2), metadata=c.owner.metadata
    )
    foreign = audit.ListAuditEvents(
        user_pb2.ListAuditEventsRequest(parent=other.name, page_token=first.next_page_token),
        metadata=c.owner.metadata,
    )
    assert (await refused(foreign)).code == Code.INVALID_ARGUMENT
    negative = audit.ListAuditEvents(
        user_pb2.ListAuditEventsRequest(parent=home.name, page_size=-1), metadata=c.owner.metadata
    )
    assert (await refused(negative)).code == Code.INVALID_ARGUMENT


async def test_the_owners_own_security_events_stay_out_of_the_households_log(
    audit: user_pb2_grpc.AuditServiceStub, rpc: Stubs, c: Cast
) -> None:
    home = await full_household(rpc, c)  # the cast logged in: login.succeeded is in each one's own log

    assert await read_log(audit, home.name, c.owner) == []
    assert any(e.action == "login.succeeded" for e in await read_log(audit, "users/me", c.owner))
