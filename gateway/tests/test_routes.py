"""Every slice route through the real gateway and the four real services: shapes, statuses, headers.

(The end-to-end story — events reaching notify and analytics — is tests/test_slice.py; here each
route's REST contract: JSON shapes of API.md, ETag / If-Match / If-None-Match, merge patches,
Idempotency-Key forwarding, error statuses.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.support.api import API, Person, create_chore, create_household, expect, join, problem, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.occurrences import reopen
from tests.support.stack import SERVICES, Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

RFC3339_Z = "%Y-%m-%dT%H:%M:%SZ"


stack = stack_fixture(SERVICES, gateway=True)
http = http_fixture()


def utc(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- users -------------------------------------------------------------------------------------------


async def test_profile_get_and_merge_patch(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Pat")
    me = expect(await http.get(f"{API}/users/me", headers=person.headers), 200)
    assert set(me) >= {"id", "email", "display_name", "timezone", "locale", "created_at"}
    assert not [key for key in me if "password" in key]
    utc(me["created_at"])

    patched = expect(
        await http.patch(
            f"{API}/users/me", json={"display_name": "  Patricia ", "timezone": "Europe/Berlin"}, headers=person.headers
        ),
        200,
    )
    assert patched["display_name"] == "Patricia"
    assert patched["timezone"] == "Europe/Berlin"
    assert patched["locale"] == me["locale"]  # absent from the patch: unchanged
    again = expect(await http.get(f"{API}/users/me", headers=person.headers), 200)
    assert (again["display_name"], again["timezone"]) == ("Patricia", "Europe/Berlin")

    bad = await http.patch(f"{API}/users/me", json={"timezone": "Mars/Olympus"}, headers=person.headers)
    assert "timezone" in {e["field"] for e in problem(bad, 422, "validation_failed")["errors"]}
    unknown = await http.patch(f"{API}/users/me", json={"password": "hunter2hunter2"}, headers=person.headers)
    problem(unknown, 422, "validation_failed")


async def test_profile_etags(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Eve")
    url = f"{API}/users/me"
    etag = (await http.get(url, headers=person.headers)).headers["etag"]
    cached = await http.get(url, headers={**person.headers, "If-None-Match": etag})
    assert (cached.status_code, cached.headers["etag"]) == (304, etag)

    changed = await http.patch(url, json={"display_name": "Evi"}, headers={**person.headers, "If-Match": etag})
    assert expect(changed, 200)["display_name"] == "Evi"
    assert changed.headers["etag"] != etag
    stale = await http.patch(url, json={"display_name": "Lost"}, headers={**person.headers, "If-Match": etag})
    problem(stale, 412, "precondition_failed")
    assert expect(await http.get(url, headers=person.headers), 200)["display_name"] == "Evi"
    # A changed profile no longer matches the old tag.
    assert (await http.get(url, headers={**person.headers, "If-None-Match": etag})).status_code == 200


# --- households, invites, members -------------------------------------------------------------------


async def test_households_crud(http: httpx.AsyncClient) -> None:
    owner, member = await sign_up(http, "Hanna"), await sign_up(http, "Hugo")
    created = await http.post(
        f"{API}/households", json={"name": "Flat 3", "timezone": "Europe/Berlin"}, headers=owner.headers
    )
    household = expect(created, 201)
    assert household["name"] == "Flat 3"
    assert household["timezone"] == "Europe/Berlin"
    assert household["role"] == "owner"
    hid = household["id"]

    listed = expect(await http.get(f"{API}/households", headers=owner.headers), 200)
    assert [h["id"] for h in listed["items"]] == [hid]
    assert listed["next_page_token"] == ""

    renamed = expect(await http.patch(f"{API}/households/{hid}", json={"name": "Flat 4"}, headers=owner.headers), 200)
    assert (renamed["name"], renamed["timezone"]) == ("Flat 4", "Europe/Berlin")
    assert expect(await http.get(f"{API}/households/{hid}", headers=owner.headers), 200)["name"] == "Flat 4"

    await join(http, hid, owner, member, "member")
    problem(await http.delete(f"{API}/households/{hid}", headers=member.headers), 403, "permission_denied")
    deleted = await http.delete(f"{API}/households/{hid}", headers=owner.headers)
    assert deleted.status_code == 204
    problem(await http.get(f"{API}/households/{hid}", headers=owner.headers), 404, "not_found")


async def test_household_etags(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Elke")
    created = await http.post(f"{API}/households", json={"name": "Loft", "timezone": "UTC"}, headers=owner.headers)
    hid = expect(created, 201)["id"]
    url = f"{API}/households/{hid}"
    etag = created.headers["etag"]
    assert (await http.get(url, headers=owner.headers)).headers["etag"] == etag
    assert (await http.get(url, headers={**owner.headers, "If-None-Match": etag})).status_code == 304

    renamed = await http.patch(url, json={"name": "Attic"}, headers={**owner.headers, "If-Match": etag})
    assert expect(renamed, 200)["name"] == "Attic"
    stale = await http.patch(url, json={"name": "Cellar"}, headers={**owner.headers, "If-Match": etag})
    problem(stale, 412, "precondition_failed")
    problem(await http.delete(url, headers={**owner.headers, "If-Match": etag}), 412, "precondition_failed")
    assert expect(await http.get(url, headers=owner.headers), 200)["name"] == "Attic"
    deleted = await http.delete(url, headers={**owner.headers, "If-Match": renamed.headers["etag"]})
    assert deleted.status_code == 204


async def test_ownership_is_transferred_by_making_someone_owner(http: httpx.AsyncClient) -> None:
    owner, heir = await sign_up(http, "Otto"), await sign_up(http, "Hedi")
    hid = await create_household(http, owner)
    await join(http, hid, owner, heir, "member")
    members = f"{API}/households/{hid}/members"
    problem(await http.delete(f"{members}/{owner.user_id}", headers=owner.headers), 403, "permission_denied")

    promoted = await http.patch(f"{members}/{heir.user_id}", json={"role": "owner"}, headers=owner.headers)
    assert expect(promoted, 200)["role"] == "owner"
    roles = {m["user_id"]: m["role"] for m in expect(await http.get(members, headers=heir.headers), 200)["items"]}
    assert roles == {owner.user_id: "admin", heir.user_id: "owner"}
    # Now the former owner may leave.
    assert (await http.delete(f"{members}/{owner.user_id}", headers=owner.headers)).status_code == 204


async def test_household_idempotency_key_is_forwarded(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Ida")
    body = {"name": "Once", "timezone": "UTC"}
    headers = {**owner.headers, "Idempotency-Key": "3c0d6f5e-2f9b-4d1a-9a55-0b8b8c1f0a01"}
    first = expect(await http.post(f"{API}/households", json=body, headers=headers), 201)
    second = expect(await http.post(f"{API}/households", json=body, headers=headers), 201)
    assert first["id"] == second["id"]
    assert len(expect(await http.get(f"{API}/households", headers=owner.headers), 200)["items"]) == 1


async def test_invites_and_members(http: httpx.AsyncClient) -> None:
    owner, admin, kid, late = [await sign_up(http, name) for name in ("Olive", "Adam", "Kim", "Lars")]
    hid = await create_household(http, owner)

    invite = expect(
        await http.post(f"{API}/households/{hid}/invites", json={"role": "admin"}, headers=owner.headers), 201
    )
    assert invite["code"]
    assert invite["role"] == "admin"
    assert utc(invite["expires_at"]) > datetime.now(UTC)
    membership = expect(await http.post(f"{API}/invites/{invite['code']}/accept", headers=admin.headers), 200)
    assert membership["user_id"] == admin.user_id
    assert membership["role"] == "admin"
    assert membership["household_id"] == hid
    utc(membership["joined_at"])
    # A used code is gone.
    problem(await http.post(f"{API}/invites/{invite['code']}/accept", headers=late.headers), 410, "gone")
    problem(await http.post(f"{API}/invites/no-such-code/accept", headers=late.headers), 404, "not_found")

    await join(http, hid, admin, kid, "child")
    bad_role = await http.post(f"{API}/households/{hid}/invites", json={"role": "owner"}, headers=owner.headers)
    assert "role" in {e["field"] for e in problem(bad_role, 422, "validation_failed")["errors"]}
    problem(
        await http.post(f"{API}/households/{hid}/invites", json={"role": "member"}, headers=kid.headers),
        403,
        "permission_denied",
    )

    members = expect(await http.get(f"{API}/households/{hid}/members", headers=kid.headers), 200)
    assert members["next_page_token"] == ""
    assert {(m["user_id"], m["role"]) for m in members["items"]} == {
        (owner.user_id, "owner"),
        (admin.user_id, "admin"),
        (kid.user_id, "child"),
    }
    for m in members["items"]:
        assert set(m) >= {"user_id", "display_name", "role", "joined_at"}
    page = expect(await http.get(f"{API}/households/{hid}/members", params={"page_size": 2}, headers=kid.headers), 200)
    assert len(page["items"]) == 2
    assert page["next_page_token"]

    promoted = expect(
        await http.patch(
            f"{API}/households/{hid}/members/{kid.user_id}", json={"role": "member"}, headers=owner.headers
        ),
        200,
    )
    assert promoted["role"] == "member"
    problem(
        await http.patch(
            f"{API}/households/{hid}/members/{owner.user_id}", json={"role": "member"}, headers=admin.headers
        ),
        403,
        "permission_denied",
    )

    # Leave (oneself) and remove (someone else): both 204, and the household is gone for them.
    assert (await http.delete(f"{API}/households/{hid}/members/{kid.user_id}", headers=kid.headers)).status_code == 204
    problem(await http.get(f"{API}/households/{hid}", headers=kid.headers), 404, "not_found")
    removed = await http.delete(f"{API}/households/{hid}/members/{admin.user_id}", headers=owner.headers)
    assert removed.status_code == 204
    left = expect(await http.get(f"{API}/households/{hid}/members", headers=owner.headers), 200)["items"]
    assert [m["user_id"] for m in left] == [owner.user_id]


# --- chores ------------------------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module")
async def home(http: httpx.AsyncClient) -> tuple[str, Person, Person]:
    owner, member = await sign_up(http, "Chloe"), await sign_up(http, "Max")
    hid = await create_household(http, owner)
    await join(http, hid, owner, member, "member")
    return hid, owner, member


async def test_chore_json_round_trips(http: httpx.AsyncClient, home: tuple[str, Person, Person]) -> None:
    hid, owner, member = home
    due = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    season = sorted({due.month, due.month % 12 + 1})  # a season that includes the first due date
    body = {
        "title": "  Clean the bathroom ",
        "description": "Sink, tub and mirror",
        "category": "cleaning",
        "labels": ["weekly", "wet"],
        "points": 30,
        "estimated_minutes": 45,
        "recurrence": {"kind": "interval", "every": 2, "unit": "weeks", "rolling": True, "months": season},
        "assignment": {"strategy": "fixed", "assignees": [member.user_id, owner.user_id]},
        "first_due_at": due.strftime(RFC3339_Z),
        "reminders": [{"before_minutes": 60}],
        "requires_photo": True,
    }
    response = await http.post(f"{API}/households/{hid}/chores", json=body, headers=owner.headers)
    chore = expect(response, 201)
    assert response.headers["etag"] == f'"{chore["etag"]}"'
    assert chore["id"]
    assert chore["household_id"] == hid
    assert chore["title"] == "Clean the bathroom"
    assert (chore["description"], chore["category"], chore["labels"]) == (
        "Sink, tub and mirror",
        "cleaning",
        ["weekly", "wet"],
    )
    assert (chore["points"], chore["estimated_minutes"]) == (30, 45)
    assert chore["recurrence"] == {
        "kind": "interval",
        "every": 2,
        "unit": "weeks",
        "rolling": True,
        "months": season,
    }
    assert chore["assignment"]["strategy"] == "fixed"
    assert chore["assignment"]["assignees"] == [member.user_id, owner.user_id]
    assert chore["assignee_id"] == member.user_id
    assert utc(chore["next_due_at"]) == due
    assert chore["reminders"] == [{"before_minutes": 60}]
    assert chore["requires_photo"] is True
    assert chore["status"] == "active"
    assert chore["created_by"] == owner.user_id
    utc(chore["created_at"])
    utc(chore["updated_at"])

    got = await http.get(f"{API}/households/{hid}/chores/{chore['id']}", headers=member.headers)
    assert expect(got, 200) == chore
    assert got.headers["etag"] == response.headers["etag"]


async def test_bad_chores_are_422(http: httpx.AsyncClient, home: tuple[str, Person, Person]) -> None:
    hid, owner, _ = home
    base = {"title": "X", "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}}
    for patch, field in [
        ({"points": 1001}, "points"),
        ({"title": "   "}, "title"),
        ({"recurrence": {"kind": "fortnightly"}}, "recurrence.kind"),
        ({"assignment": {"strategy": "fixed", "assignees": ["x"], "rotate": "hourly"}}, "assignment.rotate"),
        ({"first_due_at": "2026-11-22T18:00:00"}, "first_due_at"),  # no offset: ambiguous
    ]:
        response = await http.post(f"{API}/households/{hid}/chores", json=base | patch, headers=owner.headers)
        fields = {e["field"] for e in problem(response, 422, "validation_failed")["errors"]}
        assert field in fields, (patch, fields)


async def test_get_honours_if_none_match(http: httpx.AsyncClient, home: tuple[str, Person, Person]) -> None:
    hid, owner, _ = home
    chore = await create_chore(http, hid, owner, title="Trash")
    url = f"{API}/households/{hid}/chores/{chore['id']}"
    etag = (await http.get(url, headers=owner.headers)).headers["etag"]
    cached = await http.get(url, headers={**owner.headers, "If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag
    stale = await http.get(url, headers={**owner.headers, "If-None-Match": '"something-else"'})
    assert stale.status_code == 200
    listed = await http.get(url, headers={**owner.headers, "If-None-Match": f'"older", W/{etag}'})
    assert listed.status_code == 304
    assert (await http.get(url, headers={**owner.headers, "If-None-Match": "*"})).status_code == 304


async def test_patch_is_a_merge_patch_with_if_match(http: httpx.AsyncClient, home: tuple[str, Person, Person]) -> None:
    hid, owner, member = home
    chore = await create_chore(
        http, hid, owner, title="Laundry", description="Whites", labels=["home"], points=10, estimated_minutes=20
    )
    url = f"{API}/households/{hid}/chores/{chore['id']}"
    etag = (await http.get(url, headers=owner.headers)).headers["etag"]

    response = await http.patch(
        url,
        content=b'{"title": "Laundry (colours)", "description": null, "points": 15}',
        headers={**member.headers, "If-Match": etag, "Content-Type": "application/merge-patch+json"},
    )
    patched = expect(response, 200)
    assert patched["title"] == "Laundry (colours)"
    assert patched["points"] == 15
    assert patched["description"] == ""  # null removes it
    assert patched["labels"] == ["home"]  # absent: unchanged
    assert patched["estimated_minutes"] == 20
    assert response.headers["etag"] != etag
    assert response.headers["etag"] == f'"{patched["etag"]}"'

    stale = await http.patch(url, json={"points": 99}, headers={**owner.headers, "If-Match": etag})
    problem(stale, 412, "precondition_failed")
    assert expect(await http.get(url, headers=owner.headers), 200)["points"] == 15

    # Without If-Match (or with `*`) the patch applies (last writer wins).
    assert expect(await http.patch(url, json={"points": 16}, headers=owner.headers), 200)["points"] == 16
    star = await http.patch(url, json={"points": 17}, headers={**owner.headers, "If-Match": "*"})
    assert expect(star, 200)["points"] == 17
    problem(await http.patch(url, json={"colour": "red"}, headers=owner.headers), 422, "validation_failed")


async def test_delete_archives(http: httpx.AsyncClient, home: tuple[str, Person, Person]) -> None:
    hid, owner, _ = home
    chore = await create_chore(http, hid, owner, title="Old chore")
    url = f"{API}/households/{hid}/chores/{chore['id']}"
    problem(await http.delete(url, headers={**owner.headers, "If-Match": '"stale"'}), 412, "precondition_failed")
    deleted = await http.delete(url, headers=owner.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert expect(await http.get(url, headers=owner.headers), 200)["status"] == "archived"
    archived = expect(
        await http.get(f"{API}/households/{hid}/chores", params={"status": "archived"}, headers=owner.headers), 200
    )
    assert chore["id"] in [c["id"] for c in archived["items"]]
    active = expect(await http.get(f"{API}/households/{hid}/chores", headers=owner.headers), 200)
    assert chore["id"] not in [c["id"] for c in active["items"]]


async def test_list_filters(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Filo")
    hid = await create_household(http, owner)
    windows = await create_chore(http, hid, owner, title="Wash windows", category="cleaning", labels=["spring"])
    await create_chore(http, hid, owner, title="Mow lawn", category="garden", labels=["summer"])
    await create_chore(
        http, hid, owner, title="Feed cat", assignment={"strategy": "fixed", "assignees": [owner.user_id]}
    )

    async def titles(**params: Any) -> list[str]:
        page = expect(await http.get(f"{API}/households/{hid}/chores", params=params, headers=owner.headers), 200)
        return sorted(c["title"] for c in page["items"])

    assert await titles(category="garden") == ["Mow lawn"]
    assert await titles(label="spring") == ["Wash windows"]
    assert await titles(assignee_id=owner.user_id) == ["Feed cat"]
    assert await titles(q="windows") == ["Wash windows"]
    assert await titles(order_by="title") == ["Feed cat", "Mow lawn", "Wash windows"]
    by_title = expect(
        await http.get(f"{API}/households/{hid}/chores", params={"order_by": "title desc"}, headers=owner.headers), 200
    )
    assert [c["title"] for c in by_title["items"]] == ["Wash windows", "Mow lawn", "Feed cat"]
    bad = await http.get(f"{API}/households/{hid}/chores", params={"order_by": "secret"}, headers=owner.headers)
    problem(bad, 422, "validation_failed")
    bad_status = await http.get(f"{API}/households/{hid}/chores", params={"status": "lost"}, headers=owner.headers)
    problem(bad_status, 422, "validation_failed")
    assert windows["id"]


async def test_idempotency_key_creates_one_chore(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Idem")
    hid = await create_household(http, owner)
    body = {"title": "Once only", "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}}
    headers = {**owner.headers, "Idempotency-Key": "b6a1b1a4-5d7e-4a9a-8f44-6a8c4f1f2e10"}
    first = expect(await http.post(f"{API}/households/{hid}/chores", json=body, headers=headers), 201)
    second = expect(await http.post(f"{API}/households/{hid}/chores", json=body, headers=headers), 201)
    assert first["id"] == second["id"]
    listed = expect(await http.get(f"{API}/households/{hid}/chores", headers=owner.headers), 200)
    assert [c["id"] for c in listed["items"]] == [first["id"]]


async def test_complete_and_history(stack: Stack, http: httpx.AsyncClient, home: tuple[str, Person, Person]) -> None:
    hid, owner, member = home
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    chore = await create_chore(
        http,
        hid,
        owner,
        title="Water plants",
        points=5,
        recurrence={"kind": "interval", "every": 3, "unit": "days"},
        assignment={"strategy": "fixed", "assignees": [member.user_id]},
        first_due_at=due.strftime(RFC3339_Z),
    )
    url = f"{API}/households/{hid}/chores/{chore['id']}"
    headers = {**owner.headers, "Idempotency-Key": "4f7e0c55-54b4-4d43-9c53-7cda0a7b3c21"}
    response = await http.post(f"{url}/complete", json={"note": "  done, all of them "}, headers=headers)
    completion = expect(response, 201)
    assert completion["completed_by"] == owner.user_id
    assert completion["chore_id"] == chore["id"]
    assert completion["household_id"] == hid
    assert completion["note"] == "done, all of them"
    assert completion["points"] == 5
    assert utc(completion["due_at"]) == due
    utc(completion["completed_at"])
    # The chore as it is now rides along: moved on by one interval.
    assert utc(completion["chore"]["next_due_at"]) == due + timedelta(days=3)
    assert completion["chore"]["assignee_id"] == member.user_id
    assert utc(completion["chore"]["last_completed_at"]) == utc(completion["completed_at"])
    assert response.headers["etag"] == f'"{completion["chore"]["etag"]}"'

    retry = await http.post(f"{url}/complete", json={"note": "  done, all of them "}, headers=headers)
    assert expect(retry, 201) == completion  # the first answer, replayed by the gateway
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["etag"] == response.headers["etag"]
    other = await http.post(f"{url}/complete", json={"note": "done, all of them"}, headers=headers)
    problem(other, 422, "idempotency_key_reused")  # the same key for another request

    # The next occurrence is not open yet (the first completion was late): no running ahead of the schedule.
    problem(await http.post(f"{url}/complete", headers=member.headers), 409, "not_due_yet")
    await reopen(stack, chore["id"])
    # No body at all is fine too.
    second = expect(await http.post(f"{url}/complete", headers=member.headers), 201)
    assert second["completed_by"] == member.user_id

    history = expect(await http.get(f"{url}/completions", headers=member.headers), 200)
    assert [c["id"] for c in history["items"]] == [second["id"], completion["id"]]
    assert history["next_page_token"] == ""
    page = expect(await http.get(f"{url}/completions", params={"page_size": 1}, headers=member.headers), 200)
    assert [c["id"] for c in page["items"]] == [second["id"]]
    assert page["next_page_token"]


async def test_completion_rules_surface_as_problems(http: httpx.AsyncClient, home: tuple[str, Person, Person]) -> None:
    hid, owner, _ = home
    photo = await create_chore(http, hid, owner, title="Show the clean room", requires_photo=True)
    missing = await http.post(f"{API}/households/{hid}/chores/{photo['id']}/complete", json={}, headers=owner.headers)
    problem(missing, 422, "validation_failed")

    once = await create_chore(http, hid, owner, title="Fix the door")
    expect(await http.post(f"{API}/households/{hid}/chores/{once['id']}/complete", json={}, headers=owner.headers), 201)
    again = await http.post(f"{API}/households/{hid}/chores/{once['id']}/complete", json={}, headers=owner.headers)
    problem(again, 410, "gone")

    unknown = await http.post(
        f"{API}/households/{hid}/chores/{once['id']}/complete", json={"when": "now"}, headers=owner.headers
    )
    problem(unknown, 422, "validation_failed")


# --- notifications and analytics --------------------------------------------------------------------


async def test_notifications_read_and_read_all(http: httpx.AsyncClient) -> None:
    owner, member = await sign_up(http, "Nora"), await sign_up(http, "Ned")
    hid = await create_household(http, owner)
    await join(http, hid, owner, member, "member")
    chores = [await create_chore(http, hid, member, title=f"Job {n}") for n in range(2)]
    for chore in chores:
        expect(await http.post(f"{API}/households/{hid}/chores/{chore['id']}/complete", headers=member.headers), 201)

    async def owners_inbox() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = expect(await http.get(f"{API}/notifications", headers=owner.headers), 200)[
            "items"
        ]
        completed = [n for n in items if n["type"] == "chore.completed"]
        return items if len(completed) == 2 else None

    items = await eventually(owners_inbox)
    first = items[0]
    assert set(first) >= {"id", "type", "title", "body", "household_id", "created_at", "read_at", "read"}
    assert first["household_id"] == hid
    assert first["read"] is False
    assert first["read_at"] is None

    read = expect(await http.post(f"{API}/notifications/{first['id']}/read", headers=owner.headers), 200)
    assert read["read"] is True
    utc(read["read_at"])
    unread = expect(await http.get(f"{API}/notifications", params={"unread": "true"}, headers=owner.headers), 200)
    assert first["id"] not in [n["id"] for n in unread["items"]]
    assert unread["items"]

    # Someone else's notification is invisible.
    problem(await http.post(f"{API}/notifications/{first['id']}/read", headers=member.headers), 404, "not_found")

    done = await http.post(f"{API}/notifications/read-all", headers=owner.headers)
    assert done.status_code == 204
    assert (
        expect(await http.get(f"{API}/notifications", params={"unread": True}, headers=owner.headers), 200)["items"]
        == []
    )


async def test_stats_window(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Stan")
    hid = await create_household(http, owner)
    chore = await create_chore(http, hid, owner, title="Sweep", points=7, estimated_minutes=10)
    expect(await http.post(f"{API}/households/{hid}/chores/{chore['id']}/complete", headers=owner.headers), 201)

    async def counted() -> dict[str, Any] | None:
        stats: dict[str, Any] = expect(await http.get(f"{API}/households/{hid}/stats", headers=owner.headers), 200)
        return stats if stats["household"]["completions"] == 1 else None

    stats = await eventually(counted)
    [mine] = [m for m in stats["members"] if m["user_id"] == owner.user_id]
    assert set(mine) >= {
        "user_id",
        "completions",
        "points",
        "on_time_rate",
        "current_streak",
        "best_streak",
        "share",
        "missed",
    }
    assert mine["missed"] == 0
    assert (mine["completions"], mine["points"]) == (1, 7)
    assert set(stats["household"]) >= {"completions", "completion_rate", "overdue", "fairness"}

    past = datetime.now(UTC) - timedelta(days=60)
    window = {"from": past.strftime(RFC3339_Z), "to": (past + timedelta(days=7)).strftime(RFC3339_Z)}
    old = expect(await http.get(f"{API}/households/{hid}/stats", params=window, headers=owner.headers), 200)
    assert old["household"]["completions"] == 0
    bad = await http.get(f"{API}/households/{hid}/stats", params={"from": "yesterday"}, headers=owner.headers)
    assert "from" in {e["field"] for e in problem(bad, 422, "validation_failed")["errors"]}

    outsider = await sign_up(http, "Otto")
    problem(await http.get(f"{API}/households/{hid}/stats", headers=outsider.headers), 404, "not_found")


# --- input no service can store --------------------------------------------------------------------


def named_fields(response: httpx.Response) -> set[str]:
    return {e["field"] for e in problem(response, 422, "validation_failed")["errors"]}


async def test_unrepresentable_timestamps_are_422_with_the_field_named(
    http: httpx.AsyncClient, home: tuple[str, Person, Person]
) -> None:
    hid, owner, _ = home
    chore = await create_chore(http, hid, owner)
    chores = f"{API}/households/{hid}/chores"
    # Year 1 at +05:00 is before datetime.min in UTC; 9999-12-31 at -01:00 is after datetime.max.
    too_early, too_late = "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-01:00"
    complete = f"{chores}/{chore['id']}/complete"
    assert named_fields(await http.post(complete, json={"completed_at": too_early}, headers=owner.headers)) == {
        "completed_at"
    }
    assert named_fields(
        await http.post(complete, json={"completed_at": "1899-12-31T23:59:59Z"}, headers=owner.headers)
    ) == {"completed_at"}
    for params, field in [
        ({"due_before": "0001-01-01T00:00:00+01:00"}, "due_before"),
        ({"due_after": too_late}, "due_after"),
        ({"due_after": "2200-01-01T00:00:01Z"}, "due_after"),
    ]:
        assert named_fields(await http.get(chores, params=params, headers=owner.headers)) == {field}, params
    body = {"title": "X", "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}}
    assert named_fields(await http.post(chores, json=body | {"first_due_at": too_late}, headers=owner.headers)) == {
        "first_due_at"
    }
    patched = await http.patch(f"{chores}/{chore['id']}", json={"next_due_at": too_early}, headers=owner.headers)
    assert named_fields(patched) == {"next_due_at"}
    stats = f"{API}/households/{hid}/stats"
    assert named_fields(await http.get(stats, params={"from": too_early}, headers=owner.headers)) == {"from"}
    assert named_fields(await http.get(stats, params={"to": too_late}, headers=owner.headers)) == {"to"}
    # The edges of the range are accepted.
    edge = {"due_after": "1900-01-01T00:00:00Z", "due_before": "2200-01-01T00:00:00Z"}
    expect(await http.get(chores, params=edge, headers=owner.headers), 200)


async def test_control_characters_are_422_with_the_field_named(
    http: httpx.AsyncClient, home: tuple[str, Person, Person]
) -> None:
    hid, owner, _ = home
    chores = f"{API}/households/{hid}/chores"
    base = {"title": "X", "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}}
    for patch, field in [
        ({"title": "Di\u0000shes"}, "title"),
        ({"description": "bell\u0007"}, "description"),
        ({"labels": ["ok", "n\u0000o"]}, "labels"),
        ({"recurrence": {"kind": "rrule", "rrule": "FREQ=DAILY\u0000"}}, "recurrence.rrule"),
        ({"assignment": {"strategy": "fixed", "assignees": ["\u0000"]}}, "assignment.assignees"),
    ]:
        response = await http.post(chores, json=base | patch, headers=owner.headers)
        assert named_fields(response) == {field}, patch
    for name in ("q", "category", "label", "page_token"):
        response = await http.get(chores, params={name: "a\x00b"}, headers=owner.headers)
        assert named_fields(response) == {name}, name
    chore = await create_chore(http, hid, owner)
    complete = await http.post(f"{chores}/{chore['id']}/complete", json={"note": "n\u0000"}, headers=owner.headers)
    assert named_fields(complete) == {"note"}
    # Tab, newline and carriage return are text.
    fine = expect(await http.post(chores, json=base | {"description": "a\tb\r\nc"}, headers=owner.headers), 201)
    assert fine["description"] == "a\tb\r\nc"
