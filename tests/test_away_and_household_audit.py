"""Away periods and the household's audit log through the real gateway, user and task services:
PUT/GET/DELETE /households/{hid}/members/{uid}/away (JSON of API.md, problems for the refusals), the period
reaching the task service's away_periods (what assignment reads) and leaving it again, GET
/households/{hid}/audit (owner only, newest first, paged, with the HTTP client's address, User-Agent and
correlation id), and a deleted household's chores erased by the task service on household.deleted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.task.repository import AwayRepository
from services.task.scheduling import AwayPeriod
from tests.support.api import API, Person, create_chore, create_household, expect, join, problem, sign_up
from tests.support.fixtures import database_fixture, http_fixture, stack_fixture
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"], gateway=True)
http = http_fixture()

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


task_db = database_fixture("task")


@pytest_asyncio.fixture(loop_scope="module")
async def home(http: httpx.AsyncClient) -> dict[str, Any]:
    """A household of an owner's with an admin, a member and a child, and an outsider."""
    owner, admin, member, kid, outsider = [await sign_up(http, n) for n in ("Olga", "Adam", "Mia", "Kim", "Oscar")]
    hid = await create_household(http, owner)
    for person, role in ((admin, "admin"), (member, "member"), (kid, "child")):
        await join(http, hid, owner, person, role)
    return {"hid": hid, "owner": owner, "admin": admin, "member": member, "kid": kid, "outsider": outsider}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def days(n: float) -> str:
    return rfc3339(datetime.now(UTC) + timedelta(days=n))


def away_url(hid: str, person: Person) -> str:
    return f"{API}/households/{hid}/members/{person.user_id}/away"


async def task_away(task_db: AsyncEngine, hid: str) -> dict[uuid.UUID, AwayPeriod]:
    """The household's away periods as the task service's assignment reads them."""
    async with AsyncSession(task_db) as session:
        return await AwayRepository(session).household(uuid.UUID(hid))


# --- away ----------------------------------------------------------------------------------------


async def test_away_round_trip_and_the_task_service_hears_of_it(
    http: httpx.AsyncClient, home: dict[str, Any], task_db: AsyncEngine
) -> None:
    hid, member = home["hid"], home["member"]
    period = {"from": days(1), "to": days(8)}

    put = expect(await http.put(away_url(hid, member), json=period, headers=member.headers), 200)
    got = expect(await http.get(away_url(hid, member), headers=home["kid"].headers), 200)

    assert put == got == {"user_id": member.user_id, "household_id": hid, **period}

    async def arrived() -> dict[uuid.UUID, AwayPeriod]:
        return await task_away(task_db, hid)

    periods = await eventually(arrived)
    sent = AwayPeriod(datetime.fromisoformat(period["from"]), datetime.fromisoformat(period["to"]))
    assert periods[uuid.UUID(member.user_id)] == sent

    assert (await http.delete(away_url(hid, member), headers=home["owner"].headers)).status_code == 204
    problem(await http.get(away_url(hid, member), headers=member.headers), 404, "not_found")
    problem(await http.delete(away_url(hid, member), headers=member.headers), 404, "not_found")

    async def cleared() -> bool:
        return uuid.UUID(member.user_id) not in await task_away(task_db, hid)

    await eventually(cleared)


async def test_other_peoples_away_is_for_owners_and_admins(http: httpx.AsyncClient, home: dict[str, Any]) -> None:
    hid = home["hid"]
    period = {"from": days(1), "to": days(2)}

    for who, whom in (("kid", "member"), ("member", "kid"), ("admin", "owner")):
        refused = await http.put(away_url(hid, home[whom]), json=period, headers=home[who].headers)
        problem(refused, 403, "permission_denied")
    expect(await http.put(away_url(hid, home["kid"]), json=period, headers=home["admin"].headers), 200)
    expect(await http.put(away_url(hid, home["kid"]), json=period, headers=home["kid"].headers), 200)  # unchanged
    problem(await http.delete(away_url(hid, home["kid"]), headers=home["member"].headers), 403, "permission_denied")


async def test_outsiders_and_strangers_are_not_found(http: httpx.AsyncClient, home: dict[str, Any]) -> None:
    hid, outsider = home["hid"], home["outsider"]
    period = {"from": days(1), "to": days(2)}
    theirs = await create_household(http, outsider)

    problem(await http.put(away_url(hid, home["member"]), json=period, headers=outsider.headers), 404, "not_found")
    problem(await http.get(away_url(hid, home["member"]), headers=outsider.headers), 404, "not_found")
    # The owner names the outsider in the owner's household, and the outsider's household.
    problem(await http.put(away_url(hid, outsider), json=period, headers=home["owner"].headers), 404, "not_found")
    problem(await http.put(away_url(theirs, outsider), json=period, headers=home["owner"].headers), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": 2, "to": 1}, "to"),  # before it starts
        ({"from": 2, "to": 2}, "to"),  # empty
        ({"from": -3, "to": -1}, "to"),  # over already
        ({"from": 1, "to": 400}, "to"),  # longer than a year
        ({"from": 500, "to": 501}, "from"),  # too far ahead
        ({"to": 1}, "from"),
        ({"from": 1}, "to"),
    ],
)
async def test_bad_periods_are_422_with_the_field_named(
    http: httpx.AsyncClient, home: dict[str, Any], body: dict[str, float], field: str
) -> None:
    sent = {key: days(value) for key, value in body.items()}

    refused = problem(
        await http.put(away_url(home["hid"], home["owner"]), json=sent, headers=home["owner"].headers),
        422,
        "validation_failed",
    )

    assert [error["field"] for error in refused["errors"]] == [field]


@pytest.mark.parametrize(
    "body",
    [
        {"from": "2026-12-20T00:00:00", "to": "2027-01-02T00:00:00Z"},  # no offset: not RFC 3339
        {"from": "next monday", "to": "2027-01-02T00:00:00Z"},
        {"from": 1766188800, "to": 1767312000},
        {"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"},
        {"from": "2026-12-20T00:00:00Z", "to": "2027-01-02T00:00:00Z", "reason": "holiday"},
        {"start_time": "2026-12-20T00:00:00Z", "end_time": "2027-01-02T00:00:00Z"},
    ],
)
async def test_hostile_bodies_are_422(http: httpx.AsyncClient, home: dict[str, Any], body: dict[str, Any]) -> None:
    response = await http.put(away_url(home["hid"], home["owner"]), json=body, headers=home["owner"].headers)

    problem(response, 422, "validation_failed")
    problem(await http.get(away_url(home["hid"], home["owner"]), headers=home["owner"].headers), 404, "not_found")


# --- the household's audit log -------------------------------------------------------------------


async def test_the_owner_reads_the_households_audit_newest_first_in_pages(
    http: httpx.AsyncClient, home: dict[str, Any]
) -> None:
    hid, owner = home["hid"], home["owner"]
    members = f"{API}/households/{hid}/members"
    sent = {**owner.headers, "User-Agent": FIREFOX, "X-Correlation-ID": "make-mia-an-admin"}
    expect(await http.patch(f"{members}/{home['member'].user_id}", json={"role": "admin"}, headers=sent), 200)
    expect(await http.patch(f"{members}/{home['member'].user_id}", json={"role": "member"}, headers=owner.headers), 200)
    assert (await http.delete(f"{members}/{home['kid'].user_id}", headers=home["admin"].headers)).status_code == 204

    log = expect(await http.get(f"{API}/households/{hid}/audit", headers=owner.headers), 200)

    assert [(e["action"], e["details"]) for e in log["items"]] == [
        ("member.removed", {"role": "child", "left": False}),
        ("member.role_changed", {"from": "admin", "to": "member"}),
        ("member.role_changed", {"from": "member", "to": "admin"}),
    ]
    first = log["items"][2]
    assert (first["actor_id"], first["target"]) == (owner.user_id, f"households/{hid}/members/{home['member'].user_id}")
    assert (first["ip"], first["user_agent"], first["correlation_id"]) == ("127.0.0.1", FIREFOX, "make-mia-an-admin")
    assert log["next_page_token"] == ""

    seen, token = [], ""
    while True:
        page = expect(
            await http.get(
                f"{API}/households/{hid}/audit", params={"page_size": 1, "page_token": token}, headers=owner.headers
            ),
            200,
        )
        seen += [e["id"] for e in page["items"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == [e["id"] for e in log["items"]]


async def test_the_households_audit_is_the_owners_only(http: httpx.AsyncClient, home: dict[str, Any]) -> None:
    audit = f"{API}/households/{home['hid']}/audit"

    for who in ("admin", "member", "kid"):
        problem(await http.get(audit, headers=home[who].headers), 403, "permission_denied")
    problem(await http.get(audit, headers=home["outsider"].headers), 404, "not_found")
    problem(
        await http.get(audit, headers=home["owner"].headers, params={"page_token": "forged"}), 422, "validation_failed"
    )
    problem(await http.get(audit, headers=home["owner"].headers, params={"page_size": 500}), 422, "validation_failed")
    assert (await http.get(audit)).status_code == 401


# --- deleting the household ----------------------------------------------------------------------


async def test_a_deleted_households_chores_are_erased_by_the_task_service(
    http: httpx.AsyncClient, task_db: AsyncEngine
) -> None:
    owner = await sign_up(http, "Dora")
    hid = await create_household(http, owner)
    await create_chore(http, hid, owner)

    async def chores() -> int:
        async with task_db.connect() as conn:
            count = await conn.execute(sa.text("SELECT count(*) FROM chores WHERE household_id = :h"), {"h": hid})
            return int(count.scalar_one())

    assert await chores() == 1

    assert (await http.delete(f"{API}/households/{hid}", headers=owner.headers)).status_code == 204

    async def erased() -> bool:
        return await chores() == 0

    await eventually(erased)
    mine = expect(await http.get(f"{API}/users/me/audit", headers=owner.headers), 200)
    assert mine["items"][0]["action"] == "household.deleted"
    assert mine["items"][0]["target"] == f"households/{hid}"
