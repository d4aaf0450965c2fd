"""Chore CRUD completeness through the real gateway, user and task services (issue 16): merge patches inside
`recurrence` and `assignment`, the household's categories, label validation, claiming an unassigned chore — with
the abuse cases (another household's ids, a child, stale ETags, hostile input, replays)."""

from __future__ import annotations

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
    # Plain JSON is a merge patch as well.
    patched = expect(
        await http.patch(url, json={"recurrence": {"kind": "weekly", "every": 3}}, headers=owner.headers), 200
    )
    assert patched["recurrence"] == chore["recurrence"] | {"days": ["sat"], "every": 3}
    assert patched["assignment"]["grace_minutes"] == 30


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
