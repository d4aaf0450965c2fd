"""Chore CRUD completeness through the real gateway, user and task services (issue 16): merge patches inside
`recurrence` and `assignment`, the household's categories, label validation, claiming an unassigned chore — with
the abuse cases (another household's ids, a child, stale ETags, hostile input, replays)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from tests.support.api import API, Person, create_chore, create_household, expect, join, problem, sign_up
from tests.support.fixtures import http_fixture, stack_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"], gateway=True)
http = http_fixture()

MERGE_PATCH = "application/merge-patch+json"


def fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body["errors"]}


async def patch(http: httpx.AsyncClient, url: str, person: Person, body: Any, **headers: str) -> httpx.Response:
    """PATCH `body` as application/merge-patch+json (RFC 7396's own media type)."""
    return await http.patch(
        url, content=orjson.dumps(body), headers={**person.headers, "Content-Type": MERGE_PATCH, **headers}
    )


# --- merge patches inside recurrence and assignment ---------------------------------------------------------


async def test_a_nested_merge_patch_changes_only_the_members_it_names(http: httpx.AsyncClient) -> None:
    owner, mia = await sign_up(http, "Olga"), await sign_up(http, "Mia")
    hid = await create_household(http, owner)
    await join(http, hid, owner, mia, "member")
    chore = await create_chore(
        http,
        hid,
        owner,
        recurrence={"kind": "weekly", "every": 2, "days": ["mon", "thu"], "time": "18:00", "rolling": True},
        assignment={"strategy": "round_robin", "assignees": [owner.user_id, mia.user_id], "rotate": "on_completion"},
    )
    url = f"{API}/households/{hid}/chores/{chore['id']}"

    patched = expect(await patch(http, url, owner, {"assignment": {"grace_minutes": 30}}), 200)
    assert patched["assignment"] == chore["assignment"] | {"grace_minutes": 30}
    assert patched["recurrence"] == chore["recurrence"]
    assert patched["assignee_id"] == chore["assignee_id"]

    # The same kind: only the members present change; the rest of the schedule stays.
    patched = expect(await patch(http, url, owner, {"recurrence": {"kind": "weekly", "days": ["sat"]}}), 200)
    assert patched["recurrence"] == chore["recurrence"] | {"days": ["sat"]}
    # An empty object changes nothing, inside the assignment as at the top.
    for nothing in ({"assignment": {}}, {}):
        same = expect(await patch(http, url, owner, nothing), 200)
        assert (same["assignment"], same["etag"]) == (patched["assignment"], patched["etag"])
    # Plain JSON is a merge patch as well.
    patched = expect(
        await http.patch(url, json={"recurrence": {"kind": "weekly", "every": 3}}, headers=owner.headers), 200
    )
    assert patched["recurrence"] == chore["recurrence"] | {"days": ["sat"], "every": 3}
    assert patched["assignment"]["grace_minutes"] == 30


async def test_concurrent_nested_patches_of_different_members_all_survive(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Olga")
    hid = await create_household(http, owner)
    chore = await create_chore(http, hid, owner, assignment={"strategy": "fixed", "assignees": [owner.user_id]})
    url = f"{API}/households/{hid}/chores/{chore['id']}"
    # Each merges into what it read; one that read before another wrote merges again (no lost update).
    replies = await asyncio.gather(
        patch(http, url, owner, {"assignment": {"grace_minutes": 30}}),
        patch(http, url, owner, {"assignment": {"on_miss": "keep"}}),
        patch(http, url, owner, {"assignment": {"rotate": "on_completion"}}),
    )
    assert [r.status_code for r in replies] == [200, 200, 200], [r.text for r in replies]
    final = expect(await http.get(url, headers=owner.headers), 200)["assignment"]
    assert (final["grace_minutes"], final["on_miss"], final["rotate"]) == (30, "keep", "on_completion")


async def test_null_puts_a_member_back_to_its_default(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Olga")
    hid = await create_household(http, owner)
    chore = await create_chore(
        http,
        hid,
        owner,
        recurrence={"kind": "weekly", "days": ["mon"], "time": "07:30", "rolling": True, "months": [4, 5]},
        assignment={"strategy": "fixed", "assignees": [owner.user_id], "grace_minutes": 45},
    )
    url = f"{API}/households/{hid}/chores/{chore['id']}"
    patched = expect(
        await patch(
            http,
            url,
            owner,
            {"assignment": {"grace_minutes": None}, "recurrence": {"kind": "weekly", "time": None, "months": None}},
        ),
        200,
    )
    assert patched["assignment"] == chore["assignment"] | {"grace_minutes": 0}
    assert patched["recurrence"]["time"] is None
    assert "months" not in patched["recurrence"]
    assert (patched["recurrence"]["days"], patched["recurrence"]["rolling"]) == (["mon"], True)
    # A member every chore needs cannot be nulled away: the fixed chore would have no assignee.
    refused = problem(await patch(http, url, owner, {"assignment": {"assignees": None}}), 422, "validation_failed")
    assert "assignment.assignees" in fields(refused)
    assert expect(await http.get(url, headers=owner.headers), 200)["assignment"] == patched["assignment"]


async def test_another_kind_replaces_the_recurrence_whole(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Olga")
    hid = await create_household(http, owner)
    chore = await create_chore(
        http, hid, owner, recurrence={"kind": "interval", "every": 3, "unit": "days", "rolling": True, "months": [6]}
    )
    url = f"{API}/households/{hid}/chores/{chore['id']}"
    patched = expect(await patch(http, url, owner, {"recurrence": {"kind": "weekly", "days": ["tue"]}}), 200)
    # Nothing of the interval survives: not its unit, not its every, nor rolling and months.
    assert patched["recurrence"] == {"kind": "weekly", "every": 1, "days": ["tue"], "time": None, "rolling": False}
    patched = expect(await patch(http, url, owner, {"recurrence": {"kind": "once"}}), 200)
    assert patched["recurrence"] == {"kind": "once", "rolling": False}
    # The same kind with nothing else: a merge that changes nothing.
    again = expect(await patch(http, url, owner, {"recurrence": {"kind": "once"}}), 200)
    assert again["recurrence"] == patched["recurrence"]
    # A kind change that misses what the new kind needs is refused, and loses nothing.
    refused = problem(await patch(http, url, owner, {"recurrence": {"kind": "weekly"}}), 422, "validation_failed")
    assert "recurrence.days" in fields(refused)
    assert expect(await http.get(url, headers=owner.headers), 200)["recurrence"] == patched["recurrence"]


async def test_a_stale_if_match_is_412_for_a_nested_patch_too(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Olga")
    hid = await create_household(http, owner)
    chore = await create_chore(http, hid, owner, assignment={"strategy": "fixed", "assignees": [owner.user_id]})
    url = f"{API}/households/{hid}/chores/{chore['id']}"
    first = await patch(http, url, owner, {"assignment": {"grace_minutes": 10}}, **{"If-Match": f'"{chore["etag"]}"'})
    assert first.status_code == 200, first.text
    stale = await patch(http, url, owner, {"assignment": {"grace_minutes": 20}}, **{"If-Match": f'"{chore["etag"]}"'})
    problem(stale, 412, "precondition_failed")
    assert expect(await http.get(url, headers=owner.headers), 200)["assignment"]["grace_minutes"] == 10


async def test_unknown_or_hostile_nested_members_are_422(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Olga")
    hid = await create_household(http, owner)
    chore = await create_chore(http, hid, owner, recurrence={"kind": "weekly", "days": ["mon"]})
    url = f"{API}/households/{hid}/chores/{chore['id']}"
    for body, field in [
        ({"assignment": {"colour": "red"}}, "assignment.colour"),
        ({"recurrence": {"kind": "weekly", "unit": "days"}}, "recurrence.unit"),
        ({"recurrence": {"days": ["sat"]}}, "recurrence.kind"),
        ({"assignment": {"grace_minutes": 10**9}}, "assignment.grace_minutes"),
        ({"assignment": {"assignees": ["x"] * 51}}, "assignment.assignees"),
        ({"assignment": {"strategy": "telepathy"}}, "assignment.strategy"),
    ]:
        refused = problem(await patch(http, url, owner, body), 422, "validation_failed")
        assert field in fields(refused), (body, refused)
    assert expect(await http.get(url, headers=owner.headers), 200)["etag"] == chore["etag"]


async def test_nested_patches_keep_the_other_rules(http: httpx.AsyncClient) -> None:
    owner, kid, outsider = await sign_up(http, "Olga"), await sign_up(http, "Kim"), await sign_up(http, "Eve")
    hid = await create_household(http, owner)
    await join(http, hid, owner, kid, "child")
    chore = await create_chore(http, hid, owner)
    url = f"{API}/households/{hid}/chores/{chore['id']}"
    problem(await patch(http, url, kid, {"assignment": {"grace_minutes": 5}}), 403, "permission_denied")
    problem(await patch(http, url, outsider, {"assignment": {"grace_minutes": 5}}), 404, "not_found")
    other = await create_household(http, outsider)
    theirs = await create_chore(http, other, outsider)
    problem(
        await patch(http, f"{API}/households/{hid}/chores/{theirs['id']}", owner, {"assignment": {"grace_minutes": 5}}),
        404,
        "not_found",
    )
    # Someone outside the household cannot be put into the rotation by a merge either.
    refused = problem(
        await patch(http, url, owner, {"assignment": {"strategy": "fixed", "assignees": [outsider.user_id]}}),
        422,
        "validation_failed",
    )
    assert "assignment.assignees[0]" in fields(refused)


# --- categories ----------------------------------------------------------------------------------------------


async def test_categories_are_a_household_resource_chores_name(http: httpx.AsyncClient) -> None:
    owner, kid = await sign_up(http, "Olga"), await sign_up(http, "Kim")
    hid = await create_household(http, owner)
    await join(http, hid, owner, kid, "child")
    categories = f"{API}/households/{hid}/categories"

    garden = expect(await http.post(categories, json={"name": "  Garden "}, headers=owner.headers), 201)
    assert (garden["name"], garden["household_id"], garden["chore_count"]) == ("Garden", hid, 0)
    # Unique in the household whatever the case.
    problem(await http.post(categories, json={"name": "GARDEN"}, headers=owner.headers), 409, "conflict")
    # A chore with a name no category has yet makes the category; one in another case takes the category's spelling.
    kitchen_chore = await create_chore(http, hid, owner, category="Kitchen")
    lawn = await create_chore(http, hid, owner, category="garden")
    assert (kitchen_chore["category"], lawn["category"]) == ("Kitchen", "Garden")
    listed = expect(await http.get(categories, headers=kid.headers), 200)
    assert [(c["name"], c["chore_count"]) for c in listed["items"]] == [("Garden", 1), ("Kitchen", 1)]
    assert listed["next_page_token"] == ""

    # Renaming renames it on its chores (their ETags change); a name another category has is 409.
    url = f"{categories}/{garden['id']}"
    problem(await http.patch(url, json={"name": "kitchen"}, headers=owner.headers), 409, "conflict")
    renamed = expect(await http.patch(url, json={"name": "Yard"}, headers=owner.headers), 200)
    assert (renamed["id"], renamed["name"], renamed["chore_count"]) == (garden["id"], "Yard", 1)
    lawn_now = expect(await http.get(f"{API}/households/{hid}/chores/{lawn['id']}", headers=owner.headers), 200)
    assert lawn_now["category"] == "Yard"
    assert lawn_now["etag"] != lawn["etag"]
    by_name = expect(
        await http.get(f"{API}/households/{hid}/chores", params={"category": "Yard"}, headers=owner.headers), 200
    )
    assert [c["id"] for c in by_name["items"]] == [lawn["id"]]
    # The filter finds the category whatever the case it is given in.
    by_other_case = expect(
        await http.get(f"{API}/households/{hid}/chores", params={"category": "yARD"}, headers=owner.headers), 200
    )
    assert [c["id"] for c in by_other_case["items"]] == [lawn["id"]]
    # A change of case only is a rename too.
    assert expect(await http.patch(url, json={"name": "yard"}, headers=owner.headers), 200)["name"] == "yard"
    # An empty merge patch changes nothing.
    assert expect(await http.patch(url, json={}, headers=owner.headers), 200)["name"] == "yard"

    # Deleting clears it from its chores.
    expect(await http.delete(url, headers=owner.headers), 204)
    lawn_now = expect(await http.get(f"{API}/households/{hid}/chores/{lawn['id']}", headers=owner.headers), 200)
    assert lawn_now["category"] is None
    assert [c["name"] for c in expect(await http.get(categories, headers=owner.headers), 200)["items"]] == ["Kitchen"]
    problem(await http.delete(url, headers=owner.headers), 404, "not_found")


async def test_categories_page_by_name(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Olga")
    hid = await create_household(http, owner)
    categories = f"{API}/households/{hid}/categories"
    for name in ["delta", "Alpha", "charlie", "Bravo", "echo"]:
        expect(await http.post(categories, json={"name": name}, headers=owner.headers), 201)
    seen: list[str] = []
    token = ""
    while True:
        page = expect(
            await http.get(categories, params={"page_size": 2, "page_token": token}, headers=owner.headers), 200
        )
        seen += [c["name"] for c in page["items"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == ["Alpha", "Bravo", "charlie", "delta", "echo"]


async def test_categories_refuse_abuse(http: httpx.AsyncClient) -> None:
    owner, kid, outsider = await sign_up(http, "Olga"), await sign_up(http, "Kim"), await sign_up(http, "Eve")
    hid = await create_household(http, owner)
    await join(http, hid, owner, kid, "child")
    other = await create_household(http, outsider)
    theirs = expect(
        await http.post(f"{API}/households/{other}/categories", json={"name": "Secret"}, headers=outsider.headers), 201
    )
    categories = f"{API}/households/{hid}/categories"
    mine = expect(await http.post(categories, json={"name": "Garden"}, headers=owner.headers), 201)

    # A child reads them but changes none.
    expect(await http.get(categories, headers=kid.headers), 200)
    problem(await http.post(categories, json={"name": "Sweets"}, headers=kid.headers), 403, "permission_denied")
    problem(
        await http.patch(f"{categories}/{mine['id']}", json={"name": "Mine"}, headers=kid.headers),
        403,
        "permission_denied",
    )
    problem(await http.delete(f"{categories}/{mine['id']}", headers=kid.headers), 403, "permission_denied")
    # Another household's category through this household's URL, and this household for an outsider: 404.
    for method in ("patch", "delete"):
        kwargs: dict[str, Any] = {"json": {"name": "Taken"}} if method == "patch" else {}
        response = await getattr(http, method)(f"{categories}/{theirs['id']}", headers=owner.headers, **kwargs)
        problem(response, 404, "not_found")
    problem(await http.get(categories, headers=outsider.headers), 404, "not_found")
    problem(await http.post(categories, json={"name": "X"}, headers=outsider.headers), 404, "not_found")
    # Hostile names: empty, too long, control characters, wrong types, unknown fields.
    for body in ({"name": ""}, {"name": "   "}, {"name": "x" * 51}, {"name": "a\x00b"}, {"name": 5}, {"title": "x"}):
        problem(await http.post(categories, json=body, headers=owner.headers), 422, "validation_failed")
    problem(
        await http.patch(f"{categories}/{mine['id']}", json={"name": None}, headers=owner.headers),
        422,
        "validation_failed",
    )
    problem(
        await http.patch(f"{categories}/not-an-id", json={"name": "X"}, headers=owner.headers), 422, "validation_failed"
    )
    # Nothing changed anywhere.
    assert [c["name"] for c in expect(await http.get(categories, headers=owner.headers), 200)["items"]] == ["Garden"]


# --- labels --------------------------------------------------------------------------------------------------


async def test_labels_are_trimmed_deduplicated_bounded_and_filter_the_list(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Olga")
    hid = await create_household(http, owner)
    chores = f"{API}/households/{hid}/chores"
    tagged = await create_chore(http, hid, owner, labels=[" weekly ", "quick", "weekly"])
    assert tagged["labels"] == ["weekly", "quick"]
    await create_chore(http, hid, owner, labels=["monthly"])
    found = expect(await http.get(chores, params={"label": "quick"}, headers=owner.headers), 200)
    assert [c["id"] for c in found["items"]] == [tagged["id"]]
    assert expect(await http.get(chores, params={"label": "quic"}, headers=owner.headers), 200)["items"] == []
    base = {"title": "T", "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}}
    for labels in (["x"] * 21, [""], ["  "], ["x" * 51], ["a\x07b"], [5]):
        refused = problem(
            await http.post(chores, json=base | {"labels": labels}, headers=owner.headers), 422, "validation_failed"
        )
        assert any(f.startswith("labels") for f in fields(refused)), (labels, refused)
    problem(await http.get(chores, params={"label": "x" * 51}, headers=owner.headers), 422, "validation_failed")
    # A patch replaces the list, cleaned the same way.
    url = f"{chores}/{tagged['id']}"
    assert expect(await http.patch(url, json={"labels": ["b ", "b", "a"]}, headers=owner.headers), 200)["labels"] == [
        "b",
        "a",
    ]


# --- claim ---------------------------------------------------------------------------------------------------


async def test_claiming_an_unassigned_chore(http: httpx.AsyncClient) -> None:
    owner, kid, mia = await sign_up(http, "Olga"), await sign_up(http, "Kim"), await sign_up(http, "Mia")
    hid = await create_household(http, owner)
    await join(http, hid, owner, kid, "child")
    await join(http, hid, owner, mia, "member")
    chore = await create_chore(http, hid, owner, recurrence={"kind": "interval", "every": 1, "unit": "days"})
    assert chore["assignee_id"] is None
    claim = f"{API}/households/{hid}/chores/{chore['id']}/claim"

    # A child may claim; claiming again is harmless; someone else is refused.
    claimed = expect(await http.post(claim, headers=kid.headers), 200)
    assert claimed["assignee_id"] == kid.user_id
    again = expect(await http.post(claim, headers=kid.headers), 200)
    assert (again["assignee_id"], again["etag"]) == (kid.user_id, claimed["etag"])
    problem(await http.post(claim, headers=mia.headers), 409, "conflict")
    # The claimer may complete it now (a child completes only what is assigned to them).
    done = expect(
        await http.post(f"{API}/households/{hid}/chores/{chore['id']}/complete", json={}, headers=kid.headers), 201
    )
    # An unassigned chore's next occurrence is nobody's again.
    assert done["chore"]["assignee_id"] is None


async def test_claim_refuses_abuse(http: httpx.AsyncClient) -> None:
    owner, mia, outsider = await sign_up(http, "Olga"), await sign_up(http, "Mia"), await sign_up(http, "Eve")
    hid = await create_household(http, owner)
    await join(http, hid, owner, mia, "member")
    held = await create_chore(http, hid, owner, assignment={"strategy": "fixed", "assignees": [owner.user_id]})
    problem(await http.post(f"{API}/households/{hid}/chores/{held['id']}/claim", headers=mia.headers), 409, "conflict")
    free = await create_chore(http, hid, owner)
    problem(
        await http.post(f"{API}/households/{hid}/chores/{free['id']}/claim", headers=outsider.headers), 404, "not_found"
    )
    other = await create_household(http, outsider)
    theirs = await create_chore(http, other, outsider)
    problem(
        await http.post(f"{API}/households/{hid}/chores/{theirs['id']}/claim", headers=owner.headers), 404, "not_found"
    )
    problem(
        await http.post(f"{API}/households/{hid}/chores/nope/claim", headers=owner.headers), 422, "validation_failed"
    )
    expect(await http.delete(f"{API}/households/{hid}/chores/{free['id']}", headers=owner.headers), 204)
    problem(await http.post(f"{API}/households/{hid}/chores/{free['id']}/claim", headers=mia.headers), 410, "gone")
    problem(await http.post(f"{API}/households/{hid}/chores/{free['id']}/claim"), 401, "unauthenticated")


# --- subtasks ------------------------------------------------------------------------------------------------


def ticks(chore: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(s["title"], s["done"]) for s in chore["subtasks"]]


async def test_subtasks_are_ticked_per_occurrence(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Olga")
    hid = await create_household(http, owner)
    chore = await create_chore(
        http,
        hid,
        owner,
        recurrence={"kind": "interval", "every": 1, "unit": "days"},
        subtasks=[{"title": "Sweep"}, {"title": "  Mop "}],
    )
    assert ticks(chore) == [("Sweep", False), ("Mop", False)]
    sweep, mop = (s["id"] for s in chore["subtasks"])
    url = f"{API}/households/{hid}/chores/{chore['id']}"

    ticked = expect(await http.post(f"{url}/subtasks/{sweep}/tick", headers=owner.headers), 200)
    assert ticks(ticked) == [("Sweep", True), ("Mop", False)]
    assert ticked["etag"] != chore["etag"]
    # The same tick again changes nothing.
    again = expect(await http.post(f"{url}/subtasks/{sweep}/tick", headers=owner.headers), 200)
    assert again["etag"] == ticked["etag"]
    assert ticks(expect(await http.get(url, headers=owner.headers), 200)) == [("Sweep", True), ("Mop", False)]
    listed = expect(await http.get(f"{API}/households/{hid}/chores", headers=owner.headers), 200)
    assert ticks(listed["items"][0]) == [("Sweep", True), ("Mop", False)]
    unticked = expect(await http.post(f"{url}/subtasks/{sweep}/untick", headers=owner.headers), 200)
    assert ticks(unticked) == [("Sweep", False), ("Mop", False)]
    expect(await http.post(f"{url}/subtasks/{mop}/tick", headers=owner.headers), 200)

    # A snooze keeps the occurrence, and its ticks.
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    snoozed = expect(await http.post(f"{url}/snooze", json={"until": later}, headers=owner.headers), 200)
    assert ticks(snoozed) == [("Sweep", False), ("Mop", True)]
    # Completing moves on to the next occurrence: nothing ticked.
    done = expect(await http.post(f"{url}/complete", json={}, headers=owner.headers), 201)
    assert ticks(done["chore"]) == [("Sweep", False), ("Mop", False)]
    # The completion keeps what was ticked for its occurrence.
    assert done["subtasks_done"] == [{"id": mop, "title": "Mop"}]
    [listed_completion] = expect(await http.get(f"{url}/completions", headers=owner.headers), 200)["items"]
    assert listed_completion["subtasks_done"] == [{"id": mop, "title": "Mop"}]
    # Undoing the completion brings the occurrence back, ticks and all.
    expect(await http.delete(f"{url}/completions/{done['id']}", headers=owner.headers), 204)
    assert ticks(expect(await http.get(url, headers=owner.headers), 200)) == [("Sweep", False), ("Mop", True)]

    # A patch replaces the list: an id kept keeps its subtask and tick; the others are new or gone.
    patched = expect(
        await http.patch(
            url, json={"subtasks": [{"title": "Mop well", "id": mop}, {"title": "Dust"}]}, headers=owner.headers
        ),
        200,
    )
    assert ticks(patched) == [("Mop well", True), ("Dust", False)]
    assert patched["subtasks"][0]["id"] == mop
    assert patched["subtasks"][1]["id"] not in (sweep, mop)
    problem(await http.post(f"{url}/subtasks/{sweep}/tick", headers=owner.headers), 404, "not_found")
    cleared = expect(await http.patch(url, json={"subtasks": None}, headers=owner.headers), 200)
    assert cleared["subtasks"] == []


async def test_subtasks_refuse_abuse(http: httpx.AsyncClient) -> None:
    owner, kid, outsider = await sign_up(http, "Olga"), await sign_up(http, "Kim"), await sign_up(http, "Eve")
    hid = await create_household(http, owner)
    await join(http, hid, owner, kid, "child")
    chores = f"{API}/households/{hid}/chores"
    chore = await create_chore(http, hid, owner, subtasks=[{"title": "Sweep"}])
    [sweep] = [s["id"] for s in chore["subtasks"]]
    url = f"{chores}/{chore['id']}"
    tick = f"{url}/subtasks/{sweep}/tick"

    # A child ticks only a chore assigned to them.
    problem(await http.post(tick, headers=kid.headers), 403, "permission_denied")
    expect(await http.post(f"{url}/claim", headers=kid.headers), 200)
    assert ticks(expect(await http.post(tick, headers=kid.headers), 200)) == [("Sweep", True)]
    # Outsiders, another household's chore, unknown and malformed ids.
    problem(await http.post(tick, headers=outsider.headers), 404, "not_found")
    other = await create_household(http, outsider)
    theirs = await create_chore(http, other, outsider, subtasks=[{"title": "Secret"}])
    problem(
        await http.post(f"{chores}/{theirs['id']}/subtasks/{theirs['subtasks'][0]['id']}/tick", headers=owner.headers),
        404,
        "not_found",
    )
    problem(
        await http.post(f"{url}/subtasks/{theirs['subtasks'][0]['id']}/tick", headers=owner.headers), 404, "not_found"
    )
    problem(await http.post(f"{url}/subtasks/not-an-id/tick", headers=owner.headers), 422, "validation_failed")
    # Hostile lists: too many, titles empty or too long, control characters, an id the chore does not have.
    base = {"title": "T", "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}}
    for items, field in [
        ([{"title": "x"}] * 51, "subtasks"),
        ([{"title": ""}], "subtasks[0].title"),
        ([{"title": "x" * 201}], "subtasks[0].title"),
        ([{"title": "a\x00b"}], "subtasks[0].title"),
        ([{"title": "x", "done": True}], "subtasks[0].done"),
        ([{"title": "x", "id": theirs["subtasks"][0]["id"]}], "subtasks[0].id"),
    ]:
        refused = problem(
            await http.post(chores, json=base | {"subtasks": items}, headers=owner.headers), 422, "validation_failed"
        )
        assert field in fields(refused), (items, refused)
    refused = problem(
        await http.patch(
            url, json={"subtasks": [{"title": "x", "id": theirs["subtasks"][0]["id"]}]}, headers=owner.headers
        ),
        422,
        "validation_failed",
    )
    assert "subtasks[0].id" in fields(refused)
    assert ticks(expect(await http.get(url, headers=owner.headers), 200)) == [("Sweep", True)]
    # An archived chore's subtasks are not ticked any more.
    expect(await http.delete(url, headers=owner.headers), 204)
    problem(await http.post(tick, headers=owner.headers), 410, "gone")
