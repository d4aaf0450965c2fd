"""Membership, profile and household changes write their events into the user service's outbox in the same
transaction as the change (the same PostgreSQL transaction id, `xmin`, on both rows), with the right type,
household, actor and payload; refused changes (and changes to what a field already was) write none; the relay
publishes them to the `user` stream.

The module's stack runs without the outbox relay: publishing marks a row sent (an UPDATE, a new `xmin`), which
would hide the transaction that wrote it. The last test starts a stack of its own with the relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import sqlalchemy as sa
from google.protobuf import field_mask_pb2
from hearth.events.v1 import events_pb2
from hearth.user.v1 import user_pb2
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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
    register,
    stubs,
    user_stack,
)
from tests.support.events import household_events, outbox_events, payload
from tests.support.infra import infra
from tests.support.people import ROLES
from tests.support.rpc import refused
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")


# This module's own stack (in place of conftest.py's): no outbox relay, see above.
@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack() -> AsyncIterator[Stack]:
    async with user_stack(run_relay=False) as stack:
        yield stack


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def db(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(stack.databases["user"])
    yield engine
    await engine.dispose()


async def xmin(db: AsyncEngine, query: str, **params: Any) -> str:
    """The id of the transaction that last wrote the row `query` selects (`SELECT xmin::text ...`)."""
    async with db.connect() as conn:
        value = (await conn.execute(sa.text(query), params)).scalar_one()
    return str(value)


async def event_xmin(db: AsyncEngine, event: events_pb2.Envelope) -> str:
    return await xmin(db, "SELECT xmin::text FROM outbox WHERE event_id = :id", id=event.event_id)


async def membership_xmin(db: AsyncEngine, home: Home, person: Person) -> str:
    return await xmin(
        db,
        "SELECT xmin::text FROM memberships WHERE household_id = :h AND user_id = :u",
        h=home.id,
        u=person.user_id,
    )


async def set_role(rpc: Stubs, home: Home, target: Person, role: str, by: Person) -> user_pb2.Member:
    return await rpc.households.UpdateMember(
        user_pb2.UpdateMemberRequest(
            member=user_pb2.Member(name=home.member(target), role=ROLES[role]),
            update_mask=field_mask_pb2.FieldMask(paths=["role"]),
        ),
        metadata=by.metadata,
    )


async def remove(rpc: Stubs, home: Home, target: Person, by: Person) -> None:
    await rpc.households.DeleteMember(user_pb2.DeleteMemberRequest(name=home.member(target)), metadata=by.metadata)


async def test_creating_a_household_announces_it_and_its_owner(
    stack: Stack, rpc: Stubs, c: Cast, db: AsyncEngine
) -> None:
    home = await household(rpc, c.owner, display_name="Flat 9", time_zone="Europe/Vienna")

    [created] = await household_events(stack, "user", "household.created", home.id)
    [joined] = await household_events(stack, "user", "member.joined", home.id)

    assert (created.actor_id, created.source) == (c.owner.user_id, "user")
    assert payload(created, events_pb2.HouseholdCreated) == events_pb2.HouseholdCreated(
        household_id=home.id, display_name="Flat 9", time_zone="Europe/Vienna", owner_id=c.owner.user_id
    )
    owner = payload(joined, events_pb2.MemberJoined)
    assert (owner.household_id, owner.user_id, owner.display_name, owner.role) == (
        home.id,
        c.owner.user_id,
        "Olga",
        "owner",
    )
    assert joined.actor_id == c.owner.user_id
    txid = await membership_xmin(db, home, c.owner)
    assert await event_xmin(db, created) == txid
    assert await event_xmin(db, joined) == txid


async def test_accepting_an_invite_announces_the_new_member(stack: Stack, rpc: Stubs, c: Cast, db: AsyncEngine) -> None:
    home = await household(rpc, c.owner)

    member = await accept(rpc, (await invite(rpc, home, "child")).code, c.kid)

    [event] = [
        e for e in await household_events(stack, "user", "member.joined", home.id) if e.actor_id == c.kid.user_id
    ]
    joined = payload(event, events_pb2.MemberJoined)
    assert (joined.household_id, joined.user_id, joined.display_name, joined.role) == (
        home.id,
        c.kid.user_id,
        "Kim",
        "child",
    )
    assert joined.joined_at == member.join_time
    assert event.household_id == home.id
    assert await event_xmin(db, event) == await membership_xmin(db, home, c.kid)


async def test_role_changes_are_announced_once_and_only_when_made(
    stack: Stack, rpc: Stubs, c: Cast, db: AsyncEngine
) -> None:
    home = await full_household(rpc, c)

    await set_role(rpc, home, c.kid, "member", by=c.admin)
    await set_role(rpc, home, c.kid, "member", by=c.owner)  # no change: no event
    await refused(set_role(rpc, home, c.owner, "member", by=c.admin))  # refused: no event

    [event] = await household_events(stack, "user", "member.updated", home.id)
    assert event.actor_id == c.admin.user_id
    assert payload(event, events_pb2.MemberUpdated) == events_pb2.MemberUpdated(
        household_id=home.id, user_id=c.kid.user_id, role="member"
    )
    assert await event_xmin(db, event) == await membership_xmin(db, home, c.kid)


async def test_transferring_ownership_announces_both_role_changes(
    stack: Stack, rpc: Stubs, c: Cast, db: AsyncEngine
) -> None:
    home = await full_household(rpc, c)

    await set_role(rpc, home, c.member, "owner", by=c.owner)

    events = await household_events(stack, "user", "member.updated", home.id)
    changes = {
        (e.actor_id, payload(e, events_pb2.MemberUpdated).user_id, payload(e, events_pb2.MemberUpdated).role)
        for e in events
    }
    assert changes == {(c.owner.user_id, c.owner.user_id, "admin"), (c.owner.user_id, c.member.user_id, "owner")}
    txid = await membership_xmin(db, home, c.member)
    assert await membership_xmin(db, home, c.owner) == txid
    assert {await event_xmin(db, e) for e in events} == {txid}


async def test_removing_and_leaving_are_announced_with_who_did_it(stack: Stack, rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)

    await remove(rpc, home, c.kid, by=c.admin)
    await remove(rpc, home, c.member, by=c.member)
    await refused(remove(rpc, home, c.owner, by=c.owner))  # refused: no event

    left = await household_events(stack, "user", "member.left", home.id)
    assert [(e.actor_id, payload(e, events_pb2.MemberLeft).user_id) for e in left] == [
        (c.admin.user_id, c.kid.user_id),
        (c.member.user_id, c.member.user_id),
    ]
    assert {payload(e, events_pb2.MemberLeft).household_id for e in left} == {home.id}


async def test_deleting_a_household_lets_every_member_leave(stack: Stack, rpc: Stubs, c: Cast, db: AsyncEngine) -> None:
    home = await full_household(rpc, c)

    await rpc.households.DeleteHousehold(user_pb2.DeleteHouseholdRequest(name=home.name), metadata=c.owner.metadata)

    left = await household_events(stack, "user", "member.left", home.id)
    assert {payload(e, events_pb2.MemberLeft).user_id for e in left} == {
        p.user_id for p in (c.owner, c.admin, c.member, c.kid)
    }
    assert {e.actor_id for e in left} == {c.owner.user_id}
    household_txid = await xmin(db, "SELECT xmin::text FROM households WHERE id = :h", h=home.id)
    assert {await event_xmin(db, e) for e in left} == {household_txid}


async def test_refused_joins_write_no_event(stack: Stack, rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)
    code = (await invite(rpc, home, "member")).code

    await refused(accept(rpc, code, c.member))  # already a member

    assert len(await household_events(stack, "user", "member.joined", home.id)) == 4  # owner, admin, member, kid


async def update_user(rpc: Stubs, person: Person, paths: list[str], etag: str = "", **fields: str) -> user_pb2.User:
    return await rpc.users.UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(name="users/me", etag=etag, **fields), update_mask=field_mask_pb2.FieldMask(paths=paths)
        ),
        metadata=person.metadata,
    )


async def update_household(
    rpc: Stubs, home: Home, by: Person, paths: list[str], etag: str = "", **fields: str
) -> user_pb2.Household:
    return await rpc.households.UpdateHousehold(
        user_pb2.UpdateHouseholdRequest(
            household=user_pb2.Household(name=home.name, etag=etag, **fields),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        ),
        metadata=by.metadata,
    )


async def user_events(stack: Stack, person: Person) -> list[events_pb2.Envelope]:
    return [
        e
        for e in await outbox_events(stack, "user", "user.updated")
        if payload(e, events_pb2.UserUpdated).user_id == person.user_id
    ]


async def test_updating_a_profile_announces_what_changed_once_and_only_when_made(
    stack: Stack, rpc: Stubs, db: AsyncEngine
) -> None:
    person = await register(rpc, "Before")

    await update_user(rpc, person, ["display_name", "locale"], display_name="After", locale="en")  # locale: as it was
    [event] = await user_events(stack, person)
    assert await event_xmin(db, event) == await xmin(db, "SELECT xmin::text FROM users WHERE id = :u", u=person.user_id)

    await update_user(rpc, person, ["display_name"], display_name="After")  # no change: no event
    await refused(update_user(rpc, person, ["display_name"], etag='W/"1"', display_name="Stale"))  # refused
    await refused(update_user(rpc, person, ["time_zone"], time_zone="Nowhere/Special"))  # refused

    assert await user_events(stack, person) == [event]
    assert (event.type, event.actor_id, event.household_id, event.source) == (
        "user.updated",
        person.user_id,
        "",
        "user",
    )
    assert payload(event, events_pb2.UserUpdated) == events_pb2.UserUpdated(
        user_id=person.user_id,
        display_name="After",
        time_zone="UTC",
        locale="en",
        email=person.email,
        changed=["display_name"],
    )

    await update_user(rpc, person, ["time_zone", "locale"], time_zone="Asia/Tokyo", locale="ja")
    _, last = await user_events(stack, person)
    assert payload(last, events_pb2.UserUpdated) == events_pb2.UserUpdated(
        user_id=person.user_id,
        display_name="After",
        time_zone="Asia/Tokyo",
        locale="ja",
        email=person.email,
        changed=["time_zone", "locale"],
    )
    assert await event_xmin(db, last) == await xmin(db, "SELECT xmin::text FROM users WHERE id = :u", u=person.user_id)


async def test_updating_a_household_announces_it_with_every_member(
    stack: Stack, rpc: Stubs, c: Cast, db: AsyncEngine
) -> None:
    home = await full_household(rpc, c, display_name="Flat 9", time_zone="Europe/Berlin")

    await refused(update_household(rpc, home, c.member, ["display_name"], display_name="Mine"))  # not a manager
    await refused(update_household(rpc, home, c.owner, ["display_name"], etag='W/"99"', display_name="Stale"))
    await update_household(rpc, home, c.owner, ["display_name"], display_name="Flat 9")  # no change: no event
    assert await household_events(stack, "user", "household.updated", home.id) == []

    await update_household(
        rpc, home, c.admin, ["display_name", "time_zone"], display_name="Flat 9", time_zone="Europe/Lisbon"
    )

    [event] = await household_events(stack, "user", "household.updated", home.id)
    assert (event.actor_id, event.source) == (c.admin.user_id, "user")
    updated = payload(event, events_pb2.HouseholdUpdated)
    assert (updated.household_id, updated.display_name, updated.time_zone, list(updated.changed)) == (
        home.id,
        "Flat 9",
        "Europe/Lisbon",
        ["time_zone"],
    )
    assert sorted(updated.member_ids) == sorted(p.user_id for p in (c.owner, c.admin, c.member, c.kid))
    household_txid = await xmin(db, "SELECT xmin::text FROM households WHERE id = :h", h=home.id)
    assert await event_xmin(db, event) == household_txid


async def test_the_relay_publishes_the_events_to_the_user_stream() -> None:
    async with user_stack() as relayed, stubs(relayed) as rpc:
        owner, member = await people(rpc, "Owner", "Member")
        home = await household(rpc, owner)
        await accept(rpc, (await invite(rpc, home, "member")).code, member)
        expected = {e.event_id for e in await household_events(relayed, "user", "member.joined", home.id)}
        assert len(expected) == 2
        redis = aioredis.Redis.from_url(infra().redis_url)
        try:

            async def published() -> bool:
                entries = await redis.xrange(f"{relayed.namespace}.events.user")
                found = {events_pb2.Envelope.FromString(fields[b"envelope"]).event_id for _, fields in entries}
                return expected <= found

            await eventually(published)
        finally:
            await redis.aclose()
