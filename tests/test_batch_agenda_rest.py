"""POST /households/{hid}/chores/batch and GET /users/me/agenda through the real gateway: per-item results as
problems in the caller's language, atomic mode, the 500-item bound, a replayed batch, the agenda's order and
`until`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.api import API, create_chore, create_household, expect, join, problem, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"], gateway=True)
http = http_fixture()


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def item(title: str, **fields: Any) -> dict[str, Any]:
    return {"title": title, "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}, **fields}


async def count(http: httpx.AsyncClient, hid: str, headers: dict[str, str]) -> int:
    page = expect(await http.get(f"{API}/households/{hid}/chores", params={"page_size": 200}, headers=headers), 200)
    return len(page["items"])


async def test_a_batch_answers_each_item_and_an_atomic_one_all_or_nothing(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    owner = await sign_up(http, "Batcher")
    stranger = await sign_up(http, "Stranger")
    hid = await create_household(http, owner)
    url = f"{API}/households/{hid}/chores/batch"
    not_a_member = item("Dishes", assignment={"strategy": "fixed", "assignees": [stranger.user_id]})
    body = {"items": [item("Bins"), not_a_member, item("Windows", points=3)]}
    answer = expect(await http.post(url, json=body, headers={**owner.headers, "Accept-Language": "de"}), 200)
    bins, dishes, windows = answer["results"]
    assert [r["index"] for r in answer["results"]] == [0, 1, 2]
    assert (bins["chore"]["title"], windows["chore"]["points"]) == ("Bins", 3)
    assert "error" not in bins
    assert "chore" not in dishes
    error = dishes["error"]
    assert (error["status"], error["code"], error["type"]) == (
        422,
        "validation_failed",
        "https://hearth.dev/problems/validation_failed",
    )
    assert [e["field"] for e in error["errors"]] == ["assignment.assignees[0]"]
    assert error["title"] == "Die Anfrage ist ungültig"  # in the caller's language, as a single request's
    assert await count(http, hid, owner.headers) == 2

    atomic = expect(await http.post(url, json={**body, "atomic": True}, headers=owner.headers), 200)
    assert [r["error"]["code"] for r in atomic["results"]] == ["conflict", "validation_failed", "conflict"]
    assert await count(http, hid, owner.headers) == 2


async def test_a_full_batch_of_500_and_a_replay_of_it(stack: Stack, http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Mover")
    hid = await create_household(http, owner)
    url = f"{API}/households/{hid}/chores/batch"
    body = {"items": [item(f"Chore {i:03}") for i in range(500)], "atomic": True}
    headers = {**owner.headers, "Idempotency-Key": "0192f1b0-aa11-7b22-8c33-d44e55f6b500"}
    first = expect(await http.post(url, json=body, headers=headers, timeout=60), 200)
    assert [r["chore"]["title"] for r in first["results"]] == [f"Chore {i:03}" for i in range(500)]
    again = expect(await http.post(url, json=body, headers=headers, timeout=60), 200)
    assert again == first  # the first answer; nothing made twice
    listed = expect(
        await http.get(f"{API}/households/{hid}/chores", params={"page_size": 200}, headers=owner.headers), 200
    )
    assert listed["next_page_token"]  # 500 chores: more than one page
    one_more = problem(
        await http.post(url, json={"items": [item(f"C{i}") for i in range(501)]}, headers=owner.headers),
        422,
        "validation_failed",
    )
    assert [e["field"] for e in one_more["errors"]] == ["items"]


async def test_batch_refusals_are_problems(stack: Stack, http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Parent")
    kid = await sign_up(http, "Kid")
    outsider = await sign_up(http, "Outsider")
    hid = await create_household(http, owner)
    await join(http, hid, owner, kid, "child")
    url = f"{API}/households/{hid}/chores/batch"
    body = {"items": [item("Bins")]}
    problem(await http.post(url, json=body, headers=kid.headers), 403, "permission_denied")
    problem(await http.post(url, json=body, headers=outsider.headers), 404, "not_found")
    problem(await http.post(url, json=body), 401, "unauthenticated")
    unknown = problem(
        await http.post(url, json={"items": [item("Bins", colour="red")]}, headers=owner.headers),
        422,
        "validation_failed",
    )
    assert [e["field"] for e in unknown["errors"]] == ["items[0].colour"]
    problem(await http.post(url, json={"items": []}, headers=owner.headers), 422, "validation_failed")
    problem(await http.post(url, json={"items": "all"}, headers=owner.headers), 422, "validation_failed")
    assert await count(http, hid, owner.headers) == 0


async def test_the_agenda_across_households(stack: Stack, http: httpx.AsyncClient) -> None:
    me = await sign_up(http, "Busy")
    mine = await create_household(http, me)
    theirs_owner = await sign_up(http, "Neighbour")
    theirs = await create_household(http, theirs_owner)
    await join(http, theirs, theirs_owner, me, "member")
    start = datetime.now(UTC).replace(microsecond=0)

    async def assigned(hid: str, creator: Any, title: str, hours: int) -> dict[str, Any]:
        return await create_chore(
            http,
            hid,
            creator,
            title=title,
            first_due_at=rfc3339(start + timedelta(hours=hours)),
            assignment={"strategy": "fixed", "assignees": [me.user_id]},
        )

    await assigned(mine, me, "Mine later", 10)
    await assigned(theirs, theirs_owner, "Theirs soon", 1)
    await assigned(mine, me, "Mine overdue", -2)
    url = f"{API}/users/me/agenda"
    page = expect(await http.get(url, headers=me.headers), 200)
    assert [c["title"] for c in page["items"]] == ["Mine overdue", "Theirs soon", "Mine later"]
    assert {c["household_id"] for c in page["items"]} == {mine, theirs}
    assert page["next_page_token"] == ""
    soon = expect(await http.get(url, params={"until": rfc3339(start + timedelta(hours=5))}, headers=me.headers), 200)
    assert [c["title"] for c in soon["items"]] == ["Mine overdue", "Theirs soon"]
    first = expect(await http.get(url, params={"page_size": 1}, headers=me.headers), 200)
    rest = expect(await http.get(url, params={"page_token": first["next_page_token"]}, headers=me.headers), 200)
    assert [c["title"] for c in first["items"] + rest["items"]] == ["Mine overdue", "Theirs soon", "Mine later"]
    assert expect(await http.get(url, headers=theirs_owner.headers), 200)["items"] == []
    problem(await http.get(url), 401, "unauthenticated")
    problem(await http.get(url, params={"until": "tomorrow"}, headers=me.headers), 422, "validation_failed")
    problem(await http.get(url, params={"page_token": "forged"}, headers=me.headers), 422, "validation_failed")
