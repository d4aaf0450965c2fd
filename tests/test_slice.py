"""The first vertical slice, end to end through the real gateway and all four real services.

register → login → /users/me → household → invites (member, child) → members → chores (once/interval,
fixed/unassigned) → keyset pages → get → complete (next_due_at moves) → the `chore.completed` event
reaches notify (the other adults' inboxes) and analytics (per-member stats).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.api import API, PASSWORD, Person, create_chore, create_household, expect, join, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.infra import unique
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")


stack = stack_fixture(gateway=True)
http = http_fixture()


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_register_rejects_duplicates_and_weak_passwords(http: httpx.AsyncClient) -> None:
    email = f"{unique('dup')}@example.com"
    body = {"email": email, "password": PASSWORD, "display_name": "Dana"}
    user = expect(await http.post(f"{API}/auth/register", json=body), 201)
    assert user["email"] == email
    assert not {key for key in user if "password" in key}

    duplicate = await http.post(f"{API}/auth/register", json={**body, "email": email.upper()})
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"].startswith("application/problem+json")
    assert duplicate.json()["code"] == "conflict"

    weak = await http.post(
        f"{API}/auth/register", json={**body, "email": f"{unique('w')}@example.com", "password": "short"}
    )
    assert weak.status_code == 422
    problem = weak.json()
    assert problem["code"] == "validation_failed"
    assert "password" in {error["field"] for error in problem["errors"]}
    assert problem["correlation_id"] == weak.headers["x-correlation-id"]


async def test_the_whole_slice(http: httpx.AsyncClient) -> None:
    alice, bob, carol = [await sign_up(http, name) for name in ("Alice", "Bob", "Carol")]

    me = expect(await http.get(f"{API}/users/me", headers=alice.headers), 200)
    assert me["id"] == alice.user_id
    assert me["email"] == alice.email
    assert me["display_name"] == "Alice"

    hid = await create_household(http, alice)
    assert (await join(http, hid, alice, bob, "member"))["role"] == "member"
    await join(http, hid, alice, carol, "child")
    members = expect(await http.get(f"{API}/households/{hid}/members", headers=bob.headers), 200)["items"]
    assert {(m["user_id"], m["role"]) for m in members} == {
        (alice.user_id, "owner"),
        (bob.user_id, "member"),
        (carol.user_id, "child"),
    }
    assert all(m["display_name"] and m["joined_at"] for m in members)

    first_due = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    weekly = await create_chore(
        http,
        hid,
        alice,
        title="Vacuum the stairs",
        points=20,
        estimated_minutes=30,
        recurrence={"kind": "interval", "every": 1, "unit": "weeks"},
        assignment={"strategy": "fixed", "assignees": [alice.user_id]},
        first_due_at=rfc3339(first_due),
    )
    assert weekly["assignee_id"] == alice.user_id
    assert parse_time(weekly["next_due_at"]) == first_due
    once = await create_chore(http, hid, bob, title="Fix the tap", recurrence={"kind": "once"})
    assert once["assignee_id"] in (None, "")
    for n in range(3):
        await create_chore(http, hid, bob, title=f"Water plant {n}")

    # Keyset pages: every chore exactly once, in due order, the last page with an empty token.
    seen: list[str] = []
    token = ""
    while True:
        page = expect(
            await http.get(
                f"{API}/households/{hid}/chores", params={"page_size": 2, "page_token": token}, headers=carol.headers
            ),
            200,
        )
        assert len(page["items"]) <= 2
        seen += [chore["id"] for chore in page["items"]]
        token = page["next_page_token"]
        if not token:
            break
    assert len(seen) == 5
    assert len(set(seen)) == 5
    assert seen[0] == weekly["id"]  # the only overdue one comes first

    got = expect(await http.get(f"{API}/households/{hid}/chores/{weekly['id']}", headers=carol.headers), 200)
    assert got["title"] == "Vacuum the stairs"
    recurrence = {key: got["recurrence"].get(key) for key in ("kind", "every", "unit")}
    assert recurrence == {"kind": "interval", "every": 1, "unit": "weeks"}

    completion = expect(
        await http.post(f"{API}/households/{hid}/chores/{weekly['id']}/complete", json={}, headers=alice.headers), 201
    )
    assert completion["completed_by"] == alice.user_id
    after = expect(await http.get(f"{API}/households/{hid}/chores/{weekly['id']}", headers=alice.headers), 200)
    # Schedule-based weekly chore: the next occurrence is one week after the one just done.
    assert parse_time(after["next_due_at"]) == first_due + timedelta(weeks=1)

    # notify: Bob (the other adult) hears about it; Alice (who did it) and Carol (a child) do not.
    # (Members joining told each other too: those are member.joined notifications.)
    async def completions_told(person: Person, **params: str) -> list[dict[str, Any]]:
        items = expect(await http.get(f"{API}/notifications", params=params, headers=person.headers), 200)["items"]
        return [n for n in items if n["type"] == "chore.completed"]

    async def bobs_inbox() -> list[dict[str, Any]]:
        return await completions_told(bob)

    [note] = await eventually(bobs_inbox)
    assert "Vacuum the stairs" in note["title"] + note.get("body", "")
    for person in (alice, carol):
        assert await completions_told(person) == []

    expect(await http.post(f"{API}/notifications/{note['id']}/read", headers=bob.headers), 200)
    assert await completions_told(bob, unread="true") == []

    # analytics: the completion counts for Alice.
    async def alices_stats() -> dict[str, Any] | None:
        stats = expect(await http.get(f"{API}/households/{hid}/stats", headers=carol.headers), 200)
        by_user = {m["user_id"]: m for m in stats["members"]}
        return stats if by_user.get(alice.user_id, {}).get("completions") == 1 else None

    stats = await eventually(alices_stats)
    by_user = {m["user_id"]: m for m in stats["members"]}
    assert by_user[alice.user_id]["points"] == 20
    assert by_user[alice.user_id]["share"] == pytest.approx(1.0)
    assert by_user[bob.user_id]["completions"] == 0
    assert stats["household"]["completions"] == 1


async def test_outsiders_see_nothing_and_children_cannot_create(http: httpx.AsyncClient) -> None:
    owner, child, outsider = [await sign_up(http, name) for name in ("Olga", "Kid", "Eve")]
    hid = await create_household(http, owner)
    await join(http, hid, owner, child, "child")
    chore = await create_chore(http, hid, owner, assignment={"strategy": "fixed", "assignees": [child.user_id]})

    for path in (f"/households/{hid}/chores", f"/households/{hid}/chores/{chore['id']}", f"/households/{hid}/members"):
        response = await http.get(f"{API}{path}", headers=outsider.headers)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"

    denied = await http.post(
        f"{API}/households/{hid}/chores",
        json={"title": "Nope", "points": 1, "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}},
        headers=child.headers,
    )
    assert denied.status_code == 403
    assert denied.json()["code"] == "permission_denied"
    # ...but a child completes the chores assigned to them.
    expect(
        await http.post(f"{API}/households/{hid}/chores/{chore['id']}/complete", json={}, headers=child.headers), 201
    )


async def test_malformed_and_unknown_input_is_422_problem_json(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Mal")
    hid = await create_household(http, owner)
    headers = {**owner.headers, "content-type": "application/json", "x-correlation-id": "corr-test-1"}
    broken = await http.post(f"{API}/households/{hid}/chores", content=b'{"title": ', headers=headers)
    assert broken.status_code == 422
    assert broken.headers["content-type"].startswith("application/problem+json")
    assert broken.headers["x-correlation-id"] == "corr-test-1"
    assert broken.json()["correlation_id"] == "corr-test-1"

    unknown = await http.post(
        f"{API}/households/{hid}/chores",
        json={
            "title": "x",
            "points": 1,
            "recurrence": {"kind": "once"},
            "assignment": {"strategy": "unassigned"},
            "colour": "red",
        },
        headers=owner.headers,
    )
    assert unknown.status_code == 422
    assert "colour" in {error["field"].split(".")[-1] for error in unknown.json()["errors"]}

    bad_points = await http.post(
        f"{API}/households/{hid}/chores",
        json={"title": "x", "points": 5000, "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}},
        headers=owner.headers,
    )
    assert bad_points.status_code == 422
    assert "points" in {error["field"] for error in bad_points.json()["errors"]}
    listed = expect(await http.get(f"{API}/households/{hid}/chores", headers=owner.headers), 200)
    assert listed["items"] == []  # nothing half-created


async def test_bad_tokens_are_401(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Tok")
    header, payload, signature = person.token.split(".")

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = f"{header}.{b64({**claims, 'sub': '00000000-0000-7000-8000-000000000000'})}.{signature}"
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    for token in (None, "garbage", forged, unsigned):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await http.get(f"{API}/users/me", headers=headers)
        assert response.status_code == 401, token
        assert response.json()["code"] == "unauthenticated"
    assert (await http.get(f"{API}/users/me", headers=person.headers)).status_code == 200
