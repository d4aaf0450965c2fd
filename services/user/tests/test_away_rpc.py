"""Away periods over real gRPC (HouseholdService.SetAway / GetAway / DeleteAway): who may set, read and clear
whose, the periods refused (inverted, past, over a year, too far ahead, missing, unrepresentable), other
households' ids, and the events: member.away_set / member.away_cleared written once per change, in the
transaction of the change, and cleared when the member leaves. Deleting the household: household.deleted once,
after every member.left, in the deletion's transaction.

The module's stack runs without the outbox relay (as test_events.py's), so an event row's `xmin` is still the
transaction that wrote it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from hearth.events.v1 import events_pb2
from hearth.user.v1 import user_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from services.user.tests.helpers import Cast, Home, Person, Stubs, full_household, household
from tests.support.events import delivered, household_events, payload
from tests.support.fixtures import database_fixture, stack_fixture
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

Code = grpc.StatusCode


# This module's own stack (in place of conftest.py's): no outbox relay, see above.
stack = stack_fixture(["user"], settings_overrides={"user": {"run_relay": False}})
db = database_fixture("user")


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


def soon(days: float = 1) -> datetime:
    """A moment `days` from now, whole seconds (as a client would send it)."""
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


def away_name(home: Home, person: Person) -> str:
    return f"{home.member(person)}/away"


async def set_away(
    rpc: Stubs, home: Home, target: Person, by: Person, start: datetime | None, end: datetime | None
) -> user_pb2.Away:
    away = user_pb2.Away(name=away_name(home, target))
    if start is not None:
        away.start_time.CopyFrom(stamp(start))
    if end is not None:
        away.end_time.CopyFrom(stamp(end))
    return await rpc.households.SetAway(user_pb2.SetAwayRequest(away=away), metadata=by.metadata)


async def get_away(rpc: Stubs, home: Home, target: Person, by: Person) -> user_pb2.Away:
    return await rpc.households.GetAway(user_pb2.GetAwayRequest(name=away_name(home, target)), metadata=by.metadata)


async def clear_away(rpc: Stubs, home: Home, target: Person, by: Person) -> None:
    await rpc.households.DeleteAway(user_pb2.DeleteAwayRequest(name=away_name(home, target)), metadata=by.metadata)


async def household_outbox(db: AsyncEngine, home: Home, *types: str) -> list[events_pb2.Envelope]:
    """The household's events of `types` in the outbox, in the order they were written."""
    async with db.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT envelope FROM outbox WHERE event_type = ANY(:types) ORDER BY id"), {"types": list(types)}
        )
        envelopes = [events_pb2.Envelope.FromString(row.envelope) for row in rows]
    return [e for e in envelopes if e.household_id == home.id]


Announced = tuple[str, str, datetime | None, datetime | None]


async def away_events(db: AsyncEngine, home: Home) -> list[Announced]:
    """(type, user id, start, end) of the household's away events, in the order they were written."""
    out: list[Announced] = []
    for event in await household_outbox(db, home, "member.away_set", "member.away_cleared"):
        if event.type == "member.away_set":
            body = payload(event, events_pb2.MemberAwaySet)
            start, end = body.start_time.ToDatetime(tzinfo=UTC), body.end_time.ToDatetime(tzinfo=UTC)
            out.append((event.type, body.user_id, start, end))
        else:
            out.append((event.type, payload(event, events_pb2.MemberAwayCleared).user_id, None, None))
    return out


async def xmin(db: AsyncEngine, query: str, **params: str) -> str:
    async with db.connect() as conn:
        return str((await conn.execute(sa.text(query), params)).scalar_one())


# --- setting, reading, replacing, clearing --------------------------------------------------------


async def test_a_member_marks_themselves_away_and_every_member_sees_it(
    stack: Stack, rpc: Stubs, c: Cast, db: AsyncEngine
) -> None:
    home = await full_household(rpc, c)
    start, end = soon(1), soon(8)

    away = await set_away(rpc, home, c.member, c.member, start, end)

    assert away.name == away_name(home, c.member)
    assert (away.start_time.ToDatetime(tzinfo=UTC), away.end_time.ToDatetime(tzinfo=UTC)) == (start, end)
    for reader in (c.owner, c.admin, c.kid, c.member):
        assert await get_away(rpc, home, c.member, reader) == away
    assert await away_events(db, home) == [("member.away_set", c.member.user_id, start, end)]
    (event,) = await household_events(stack, "user", "member.away_set", home.id)
    assert event.actor_id == c.member.user_id
    # One transaction wrote the period and its event.
    period_txid = await xmin(
        db,
        "SELECT xmin::text FROM away_periods WHERE household_id = :h AND user_id = :u",
        h=home.id,
        u=c.member.user_id,
    )
    assert await xmin(db, "SELECT xmin::text FROM outbox WHERE event_id = :id", id=event.event_id) == period_txid


async def test_the_same_period_again_announces_nothing_and_a_new_one_replaces_it(
    rpc: Stubs, c: Cast, db: AsyncEngine
) -> None:
    home = await full_household(rpc, c)
    first, second = (soon(1), soon(3)), (soon(10), soon(20))

    replies = [await set_away(rpc, home, c.member, c.member, *first) for _ in range(3)]  # a retried PUT
    replaced = await set_away(rpc, home, c.member, c.member, *second)

    assert replies[0] == replies[1] == replies[2]
    assert await get_away(rpc, home, c.member, c.owner) == replaced
    assert await away_events(db, home) == [
        ("member.away_set", c.member.user_id, *first),
        ("member.away_set", c.member.user_id, *second),
    ]


async def test_clearing_announces_once_and_then_there_is_nothing_to_clear(rpc: Stubs, c: Cast, db: AsyncEngine) -> None:
    home = await full_household(rpc, c)
    await set_away(rpc, home, c.kid, c.kid, soon(1), soon(2))

    await clear_away(rpc, home, c.kid, c.kid)

    assert (await refused(get_away(rpc, home, c.kid, c.owner))).code == Code.NOT_FOUND
    again = await refused(clear_away(rpc, home, c.kid, c.kid))
    assert again.code == Code.NOT_FOUND
    events = await away_events(db, home)
    assert [kind for kind, *_ in events] == ["member.away_set", "member.away_cleared"]


async def test_a_member_without_a_period_has_none_to_show(rpc: Stubs, c: Cast) -> None:
    home = await full_household(rpc, c)

    missing = await refused(get_away(rpc, home, c.admin, c.member))

    assert missing.code == Code.NOT_FOUND
    assert missing.message == "this member has no away period"


async def test_a_period_that_has_begun_may_be_set(rpc: Stubs, c: Cast) -> None:
    """Only its end must be ahead: "away since yesterday, back on Friday"."""
    home = await household(rpc, c.owner)
    start = soon(-1)

    away = await set_away(rpc, home, c.owner, c.owner, start, soon(2))

    assert away.start_time.ToDatetime(tzinfo=UTC) == start


# --- who may -------------------------------------------------------------------------------------


async def test_managers_set_and_clear_the_away_periods_of_members_and_children(
    stack: Stack, rpc: Stubs, c: Cast, db: AsyncEngine
) -> None:
    home = await full_household(rpc, c)

    await set_away(rpc, home, c.member, c.owner, soon(1), soon(2))
    await set_away(rpc, home, c.kid, c.admin, soon(1), soon(2))
    await set_away(rpc, home, c.admin, c.owner, soon(1), soon(2))
    await clear_away(rpc, home, c.member, c.admin)

    assert [(kind, user) for kind, user, *_ in await away_events(db, home)] == [
        ("member.away_set", c.member.user_id),
        ("member.away_set", c.kid.user_id),
        ("member.away_set", c.admin.user_id),
        ("member.away_cleared", c.member.user_id),
    ]
    actors = {e.actor_id for e in await household_events(stack, "user", "member.away_set", home.id)}
    assert actors == {c.owner.user_id, c.admin.user_id}


async def test_a_child_may_mark_themselves_away(rpc: Stubs, c: Cast) -> None:
    """The table's decision (roles.py): "oneself" is every role's; an owner or admin can clear it again."""
    home = await full_household(rpc, c)

    await set_away(rpc, home, c.kid, c.kid, soon(1), soon(5))
    await clear_away(rpc, home, c.kid, c.owner)

    assert (await refused(get_away(rpc, home, c.kid, c.kid))).code == Code.NOT_FOUND


@pytest.mark.parametrize(
    ("actor", "target"),
    [
        ("kid", "member"),  # a child: only their own
        ("kid", "owner"),
        ("member", "member2"),  # a member: only their own
        ("member", "kid"),
        ("admin", "owner"),  # an admin manages neither the owner ...
        ("admin", "admin2"),  # ... nor another admin
    ],
)
async def test_who_may_not_change_someone_elses_away_period(
    rpc: Stubs, c: Cast, actor: str, target: str, db: AsyncEngine
) -> None:
    cast = ((c.admin, "admin"), (c.admin2, "admin"), (c.member, "member"), (c.member2, "member"), (c.kid, "child"))
    home = await household(rpc, c.owner, *cast)
    who, whom = getattr(c, actor), getattr(c, target)
    await set_away(rpc, home, whom, c.owner, soon(1), soon(2))

    for call in (
        set_away(rpc, home, whom, who, soon(3), soon(4)),
        clear_away(rpc, home, whom, who),
    ):
        refusal = await refused(call)
        assert refusal.code == Code.PERMISSION_DENIED, refusal

    assert (await get_away(rpc, home, whom, who)).end_time.ToDatetime(tzinfo=UTC) < soon(3)  # unchanged
    assert len(await away_events(db, home)) == 1  # the owner's, nothing of the refused calls


# --- other households, outsiders, names ----------------------------------------------------------


async def test_outsiders_and_other_households_ids_are_not_found(rpc: Stubs, c: Cast, db: AsyncEngine) -> None:
    home = await full_household(rpc, c)
    theirs = await household(rpc, c.outsider, (c.member2, "member"))
    await set_away(rpc, theirs, c.member2, c.member2, soon(1), soon(2))

    calls = {
        # an outsider asks about home
        "outsider": lambda: set_away(rpc, home, c.member, c.outsider, soon(1), soon(2)),
        "outsider reads": lambda: get_away(rpc, home, c.member, c.outsider),
        "outsider clears": lambda: clear_away(rpc, home, c.member, c.outsider),
        # home's owner names the other household's member, in the other household and in home
        "other household": lambda: set_away(rpc, theirs, c.member2, c.owner, soon(1), soon(2)),
        "other household reads": lambda: get_away(rpc, theirs, c.member2, c.owner),
        "other household clears": lambda: clear_away(rpc, theirs, c.member2, c.owner),
        "not a member here": lambda: set_away(rpc, home, c.member2, c.owner, soon(1), soon(2)),
        "not a member here, read": lambda: get_away(rpc, home, c.member2, c.owner),
    }
    for label, call in calls.items():
        refusal = await refused(call())
        assert refusal.code == Code.NOT_FOUND, label
        assert refusal.message in ("household not found", "member not found"), label

    # Theirs is untouched, and nothing was announced in home.
    assert (await get_away(rpc, theirs, c.member2, c.outsider)).name == away_name(theirs, c.member2)
    assert await away_events(db, home) == []
    assert len(await away_events(db, theirs)) == 1


@pytest.mark.parametrize(
    "name",
    [
        "",
        "households/x/members/y/away",
        "households/0192f1a2-7c3e-7d41-9a55-3b1f0c2d4e51/members/0192f1a2-7c3e-7d41-9a55-3b1f0c2d4e51",
        "households/0192f1a2-7c3e-7d41-9a55-3b1f0c2d4e51/members/0192f1a2-7c3e-7d41-9a55-3b1f0c2d4e51/away/x",
    ],
)
async def test_malformed_names_are_invalid(rpc: Stubs, c: Cast, name: str) -> None:
    for call in (
        rpc.households.GetAway(user_pb2.GetAwayRequest(name=name), metadata=c.owner.metadata),
        rpc.households.DeleteAway(user_pb2.DeleteAwayRequest(name=name), metadata=c.owner.metadata),
    ):
        assert (await refused(call)).code == Code.INVALID_ARGUMENT


async def test_without_a_token_nothing_is_answered(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner)

    refusal = await refused(rpc.households.GetAway(user_pb2.GetAwayRequest(name=away_name(home, c.owner))))

    assert refusal.code == Code.UNAUTHENTICATED


# --- the periods refused -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        (2, 2, "end_time", "must be after the start of the away period"),
        (3, 2, "end_time", "must be after the start of the away period"),
        (-3, -1, "end_time", "must be in the future"),
        (1, 1 + 367, "end_time", "an away period may last at most 366 days"),
        (-300, 100, "end_time", "an away period may last at most 366 days"),
        (400, 401, "start_time", "an away period may start at most 366 days ahead"),
        (None, 2, "start_time", "is required"),
        (1, None, "end_time", "is required"),
    ],
)
async def test_periods_that_make_no_sense_are_refused_with_the_field_named(
    rpc: Stubs, c: Cast, start: float | None, end: float | None, field: str, message: str, db: AsyncEngine
) -> None:
    home = await household(rpc, c.owner)

    refusal = await refused(
        set_away(
            rpc,
            home,
            c.owner,
            c.owner,
            None if start is None else soon(start),
            None if end is None else soon(end),
        )
    )

    assert refusal.code == Code.INVALID_ARGUMENT
    assert refusal.violations == {field: message}
    assert (await refused(get_away(rpc, home, c.owner, c.owner))).code == Code.NOT_FOUND
    assert await away_events(db, home) == []


async def test_unrepresentable_and_absurd_timestamps_are_refused(rpc: Stubs, c: Cast) -> None:
    home = await household(rpc, c.owner)
    for seconds in (2**50, -(2**50), 253402300800 * 2):
        away = user_pb2.Away(name=away_name(home, c.owner), start_time=Timestamp(seconds=seconds))
        away.end_time.CopyFrom(stamp(soon(2)))
        refusal = await refused(rpc.households.SetAway(user_pb2.SetAwayRequest(away=away), metadata=c.owner.metadata))
        assert refusal.code == Code.INVALID_ARGUMENT
        assert set(refusal.violations) == {"start_time"}
    # Within what a datetime holds but not what Hearth stores (kit.timestamps).
    far = datetime(2300, 1, 1, tzinfo=UTC)
    refusal = await refused(set_away(rpc, home, c.owner, c.owner, soon(1), far))
    assert set(refusal.violations) == {"end_time"}


# --- floods and races ----------------------------------------------------------------------------


async def test_concurrent_changes_to_one_members_period_queue_up(rpc: Stubs, c: Cast, db: AsyncEngine) -> None:
    home = await full_household(rpc, c)
    periods = [(soon(1), soon(2 + n)) for n in range(12)]

    setters = [c.owner, c.admin, c.member] * 4
    await asyncio.gather(
        *(set_away(rpc, home, c.member, by, *period) for by, period in zip(setters, periods, strict=True))
    )

    events = await away_events(db, home)
    assert len(events) == len(periods)  # each a change of the one before it: all announced, none lost
    final = await get_away(rpc, home, c.member, c.owner)
    # The period that stands is the one the last event announced.
    assert events[-1][2:] == (final.start_time.ToDatetime(tzinfo=UTC), final.end_time.ToDatetime(tzinfo=UTC))


# --- leaving and deleting ------------------------------------------------------------------------


async def test_leaving_or_being_removed_clears_the_away_period_before_the_member_leaves(
    rpc: Stubs, c: Cast, db: AsyncEngine
) -> None:
    home = await full_household(rpc, c)
    await set_away(rpc, home, c.member, c.member, soon(1), soon(2))
    await set_away(rpc, home, c.kid, c.kid, soon(1), soon(2))

    await rpc.households.DeleteMember(
        user_pb2.DeleteMemberRequest(name=home.member(c.member)), metadata=c.member.metadata
    )
    await rpc.households.DeleteMember(user_pb2.DeleteMemberRequest(name=home.member(c.kid)), metadata=c.owner.metadata)

    written = await household_outbox(db, home, "member.away_cleared", "member.left")
    assert [(e.type, delivered(e).payload.user_id) for e in written] == [
        ("member.away_cleared", c.member.user_id),
        ("member.left", c.member.user_id),
        ("member.away_cleared", c.kid.user_id),
        ("member.left", c.kid.user_id),
    ]
    # Coming back, they are not away.
    code = (
        await rpc.households.CreateInvite(
            user_pb2.CreateInviteRequest(parent=home.name, invite=user_pb2.Invite(role=user_pb2.ROLE_MEMBER)),
            metadata=c.owner.metadata,
        )
    ).code
    await rpc.households.AcceptInvite(user_pb2.AcceptInviteRequest(code=code), metadata=c.member.metadata)
    assert (await refused(get_away(rpc, home, c.member, c.member))).code == Code.NOT_FOUND


async def test_a_member_without_a_period_leaves_without_an_away_event(rpc: Stubs, c: Cast, db: AsyncEngine) -> None:
    home = await full_household(rpc, c)

    await rpc.households.DeleteMember(user_pb2.DeleteMemberRequest(name=home.member(c.kid)), metadata=c.kid.metadata)

    assert await away_events(db, home) == []


async def test_deleting_a_household_announces_household_deleted_once_after_everyone_left(
    stack: Stack, rpc: Stubs, c: Cast, db: AsyncEngine
) -> None:
    home = await full_household(rpc, c)
    await set_away(rpc, home, c.member, c.member, soon(1), soon(2))

    await rpc.households.DeleteHousehold(user_pb2.DeleteHouseholdRequest(name=home.name), metadata=c.owner.metadata)

    (deleted,) = await household_events(stack, "user", "household.deleted", home.id)
    assert payload(deleted, events_pb2.HouseholdDeleted).household_id == home.id
    assert deleted.actor_id == c.owner.user_id
    written = await household_outbox(db, home, "member.left", "household.deleted")
    assert [e.type for e in written] == ["member.left"] * 4 + ["household.deleted"]
    household_txid = await xmin(db, "SELECT xmin::text FROM households WHERE id = :h", h=home.id)
    assert await xmin(db, "SELECT xmin::text FROM outbox WHERE event_id = :id", id=deleted.event_id) == household_txid
    async with db.connect() as conn:
        kept = await conn.execute(sa.text("SELECT count(*) FROM away_periods WHERE household_id = :h"), {"h": home.id})
        assert kept.scalar_one() == 0
    # Deleting it again: there is nothing (and nothing more is announced).
    again = await refused(
        rpc.households.DeleteHousehold(user_pb2.DeleteHouseholdRequest(name=home.name), metadata=c.owner.metadata)
    )
    assert again.code == Code.NOT_FOUND
    assert len(await household_events(stack, "user", "household.deleted", home.id)) == 1


@pytest.mark.parametrize("who", ["admin", "member", "kid", "outsider"])
async def test_only_the_owner_deletes_and_a_refusal_announces_nothing(
    stack: Stack, rpc: Stubs, c: Cast, who: str
) -> None:
    home = await full_household(rpc, c)

    refusal = await refused(
        rpc.households.DeleteHousehold(
            user_pb2.DeleteHouseholdRequest(name=home.name), metadata=getattr(c, who).metadata
        )
    )

    assert refusal.code == (Code.NOT_FOUND if who == "outsider" else Code.PERMISSION_DENIED)
    assert await household_events(stack, "user", "household.deleted", home.id) == []
