"""An undone completion leaves the household's stats: task publishes completion.undone, analytics forgets the
completion it had counted (its points went back in task's ledger with an undo entry)."""

from __future__ import annotations

import httpx
import pytest
import redis.asyncio as aioredis

from tests.support.api import API, create_chore, create_household, expect, sign_up
from tests.support.events import settled
from tests.support.fixtures import http_fixture, redis_fixture, stack_fixture
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task", "analytics"], gateway=True)
http = http_fixture()
redis = redis_fixture()


async def stats(http: httpx.AsyncClient, household_id: str, headers: dict[str, str]) -> dict[str, object]:
    answer: dict[str, object] = expect(await http.get(f"{API}/households/{household_id}/stats", headers=headers), 200)
    return answer


async def test_an_undone_completion_counts_for_nobody_in_the_stats(
    stack: Stack, http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    owner = await sign_up(http, "Undoer")
    household_id = await create_household(http, owner)
    kept = await create_chore(http, household_id, owner, title="Kept", points=3)
    taken_back = await create_chore(http, household_id, owner, title="Taken back", points=40)
    chores = f"{API}/households/{household_id}/chores"
    expect(await http.post(f"{chores}/{kept['id']}/complete", json={}, headers=owner.headers), 201)
    undone = expect(await http.post(f"{chores}/{taken_back['id']}/complete", json={}, headers=owner.headers), 201)
    await settled(stack, redis)
    before = await stats(http, household_id, owner.headers)
    assert before["household"]["completions"] == 2  # type: ignore[index]

    undo = f"{chores}/{taken_back['id']}/completions/{undone['id']}"
    assert (await http.delete(undo, headers=owner.headers)).status_code == 204
    await settled(stack, redis)

    after = await stats(http, household_id, owner.headers)
    assert after["household"]["completions"] == 1  # type: ignore[index]
    [me] = after["members"]  # type: ignore[index]
    assert (me["completions"], me["points"]) == (1, 3)
    points = expect(await http.get(f"{API}/households/{household_id}/points", headers=owner.headers), 200)
    assert points["balance"] == 3
