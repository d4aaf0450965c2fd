"""Points and rewards through the real gateway, user and task services: API.md's ledger
(`GET /households/{hid}/points?user_id=`), rewards, and redemptions that never take a balance below zero — also
20 at once — with the abuse cases: another household's ids, a child, bad costs, replays."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.support.api import API, create_household, create_reward, earn, expect, join, problem, sign_up
from tests.support.fixtures import http_fixture, stack_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"], gateway=True)
http = http_fixture()


async def test_points_ledger_and_redeeming_over_rest(http: httpx.AsyncClient) -> None:
    owner, kid = await sign_up(http, "Olga"), await sign_up(http, "Kim")
    hid = await create_household(http, owner)
    await join(http, hid, owner, kid, "child")
    await earn(http, hid, owner, kid, 30)
    mine = expect(await http.get(f"{API}/households/{hid}/points", headers=kid.headers), 200)
    assert (mine["user_id"], mine["balance"]) == (kid.user_id, 30)
    [entry] = mine["items"]
    assert (entry["delta"], entry["reason"], entry["balance"]) == (30, "completion", 30)
    assert entry["completion_id"]
    # Anyone in the household reads anyone's.
    theirs = expect(
        await http.get(f"{API}/households/{hid}/points", params={"user_id": kid.user_id}, headers=owner.headers), 200
    )
    assert theirs == mine

    treat = await create_reward(http, hid, owner, 20, description="  a big one ")
    assert (treat["title"], treat["description"], treat["cost"], treat["created_by"]) == (
        "Ice cream",
        "a big one",
        20,
        owner.user_id,
    )
    listed = expect(await http.get(f"{API}/households/{hid}/rewards", headers=kid.headers), 200)
    assert [r["id"] for r in listed["items"]] == [treat["id"]]
    redeem = f"{API}/households/{hid}/rewards/{treat['id']}/redeem"
    spent = expect(await http.post(redeem, headers=kid.headers), 201)
    assert (spent["reward_id"], spent["user_id"], spent["cost"], spent["balance"]) == (
        treat["id"],
        kid.user_id,
        20,
        10,
    )
    refused = problem(await http.post(redeem, headers=kid.headers), 409, "conflict")
    assert "not enough points" in refused["detail"]
    after = expect(await http.get(f"{API}/households/{hid}/points", headers=kid.headers), 200)
    assert after["balance"] == 10
    assert [(e["delta"], e["reason"], e["reward_id"]) for e in after["items"]] == [
        (-20, "redemption", treat["id"]),
        (30, "completion", None),
    ]


async def test_twenty_parallel_redemptions_spend_only_what_the_balance_covers(http: httpx.AsyncClient) -> None:
    owner, member = await sign_up(http, "Olga"), await sign_up(http, "Mia")
    hid = await create_household(http, owner)
    await join(http, hid, owner, member, "member")
    await earn(http, hid, owner, member, 30)
    treat = await create_reward(http, hid, owner, 10)
    redeem = f"{API}/households/{hid}/rewards/{treat['id']}/redeem"
    replies = await asyncio.gather(*(http.post(redeem, headers=member.headers) for _ in range(20)))
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [201] * 3 + [409] * 17
    assert sorted(r.json()["balance"] for r in replies if r.status_code == 201) == [0, 10, 20]
    final = expect(await http.get(f"{API}/households/{hid}/points", headers=member.headers), 200)
    assert final["balance"] == 0


async def test_a_replayed_redeem_with_the_same_idempotency_key_spends_once(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Olga")
    hid = await create_household(http, owner)
    await earn(http, hid, owner, owner, 30)
    treat = await create_reward(http, hid, owner, 10)
    redeem = f"{API}/households/{hid}/rewards/{treat['id']}/redeem"
    headers = {**owner.headers, "Idempotency-Key": str(uuid.uuid4())}
    first = expect(await http.post(redeem, headers=headers), 201)
    again = expect(await http.post(redeem, headers=headers), 201)
    assert again == first
    assert expect(await http.get(f"{API}/households/{hid}/points", headers=owner.headers), 200)["balance"] == 20
    reward_headers = {**owner.headers, "Idempotency-Key": str(uuid.uuid4())}
    body = {"title": "Cinema", "cost": 5}
    made = [
        expect(await http.post(f"{API}/households/{hid}/rewards", json=body, headers=reward_headers), 201)
        for _ in range(2)
    ]
    assert made[0] == made[1]
    listed = expect(await http.get(f"{API}/households/{hid}/rewards", headers=owner.headers), 200)
    assert len(listed["items"]) == 2


async def test_abuse_is_refused(http: httpx.AsyncClient) -> None:
    owner, kid, outsider = await sign_up(http, "Olga"), await sign_up(http, "Kim"), await sign_up(http, "Eve")
    hid = await create_household(http, owner)
    await join(http, hid, owner, kid, "child")
    other = await create_household(http, outsider)
    await earn(http, other, outsider, outsider, 50)
    theirs = await create_reward(http, other, outsider, 10)
    rewards = f"{API}/households/{hid}/rewards"

    # A child creates no rewards.
    problem(
        await http.post(rewards, json={"title": "All the sweets", "cost": 1}, headers=kid.headers),
        403,
        "permission_denied",
    )
    # Costs out of 1..100000, and other bad bodies.
    for body in (
        {"title": "Free", "cost": 0},
        {"title": "Negative", "cost": -5},
        {"title": "Huge", "cost": 100_001},
        {"title": "Huger", "cost": 10**30},
        {"title": "Text", "cost": "10"},
        {"title": "", "cost": 5},
        {"title": "x" * 201, "cost": 5},
        {"title": "Extra", "cost": 5, "owner": "me"},
    ):
        problem(await http.post(rewards, json=body, headers=owner.headers), 422, "validation_failed")
    # Another household's reward, through one's own household or its own: not found.
    for url in (
        f"{rewards}/{theirs['id']}/redeem",
        f"{API}/households/{other}/rewards/{theirs['id']}/redeem",
    ):
        problem(await http.post(url, headers=owner.headers), 404, "not_found")
    problem(await http.get(f"{API}/households/{other}/rewards", headers=owner.headers), 404, "not_found")
    problem(await http.get(f"{API}/households/{other}/points", headers=owner.headers), 404, "not_found")
    problem(
        await http.get(f"{API}/households/{hid}/points", params={"user_id": outsider.user_id}, headers=owner.headers),
        404,
        "not_found",
    )
    problem(
        await http.get(f"{API}/households/{hid}/points", params={"user_id": "not-an-id"}, headers=owner.headers),
        422,
        "validation_failed",
    )
    assert expect(await http.get(f"{API}/households/{other}/points", headers=outsider.headers), 200)["balance"] == 50


async def test_an_api_key_reads_points_with_chores_read_and_needs_chores_write_to_spend(
    http: httpx.AsyncClient,
) -> None:
    owner = await sign_up(http, "Olga")
    hid = await create_household(http, owner)
    await earn(http, hid, owner, owner, 10)
    treat = await create_reward(http, hid, owner, 5)
    made = expect(
        await http.post(f"{API}/api-keys", json={"name": "wall", "scopes": ["chores:read"]}, headers=owner.headers), 201
    )
    key = {"Authorization": f"Bearer {made['key']}"}
    assert expect(await http.get(f"{API}/households/{hid}/points", headers=key), 200)["balance"] == 10
    expect(await http.get(f"{API}/households/{hid}/rewards", headers=key), 200)
    problem(
        await http.post(f"{API}/households/{hid}/rewards/{treat['id']}/redeem", headers=key), 403, "insufficient_scope"
    )
    problem(
        await http.post(f"{API}/households/{hid}/rewards", json={"title": "x", "cost": 1}, headers=key),
        403,
        "insufficient_scope",
    )
    assert expect(await http.get(f"{API}/households/{hid}/points", headers=owner.headers), 200)["balance"] == 10


async def test_deleting_a_reward_archives_it(http: httpx.AsyncClient) -> None:
    owner, kid = await sign_up(http, "Olga"), await sign_up(http, "Kim")
    hid = await create_household(http, owner)
    await join(http, hid, owner, kid, "child")
    await earn(http, hid, owner, kid, 10)
    treat = await create_reward(http, hid, owner, 5)
    url = f"{API}/households/{hid}/rewards/{treat['id']}"
    problem(await http.delete(url, headers=kid.headers), 403, "permission_denied")
    expect(await http.delete(url, headers=owner.headers), 204)
    assert expect(await http.get(f"{API}/households/{hid}/rewards", headers=kid.headers), 200)["items"] == []
    problem(await http.post(f"{url}/redeem", headers=kid.headers), 410, "gone")
    assert expect(await http.get(f"{API}/households/{hid}/points", headers=kid.headers), 200)["balance"] == 10
