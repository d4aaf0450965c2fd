"""A missed occurrence reaches the household's stats: task's real miss scan marks it and publishes chore.overdue,
analytics counts it in `overdue`, the holder's `missed` and the completion rate; a one-off chore keeps its due
time, so once it is done late after all it is a completion and no longer a miss."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from services.task.jobs import MembershipZones, Scans
from tests.support.api import API, create_chore, create_household, expect, sign_up
from tests.support.events import settled
from tests.support.fixtures import http_fixture, redis_fixture, stack_fixture
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task", "analytics"], gateway=True)
http = http_fixture()
redis = redis_fixture()


def scans(stack: Stack) -> Scans:
    """The scans as the worker runs them, on the stack's task database."""
    runtime = stack.servers["task"].runtime
    assert runtime.service_tokens is not None
    return Scans(
        runtime.sessions, MembershipZones(runtime.channels["user"], runtime.service_tokens), rng=random.Random(7)
    )


async def stats(http: httpx.AsyncClient, household_id: str, headers: dict[str, str]) -> dict[str, Any]:
    answer: dict[str, Any] = expect(await http.get(f"{API}/households/{household_id}/stats", headers=headers), 200)
    return answer


async def test_a_missed_one_off_chore_counts_until_it_is_done_late(
    stack: Stack, http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    owner = await sign_up(http, "Misser")
    household_id = await create_household(http, owner)
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    chore = await create_chore(
        http,
        household_id,
        owner,
        title="Forgotten",
        first_due_at=due.strftime("%Y-%m-%dT%H:%M:%SZ"),
        assignment={"strategy": "fixed", "assignees": [owner.user_id]},
    )
    await scans(stack).missed(datetime.now(UTC))
    await settled(stack, redis)

    missed = await stats(http, household_id, owner.headers)
    assert (missed["household"]["overdue"], missed["household"]["completion_rate"]) == (1, 0.0)
    [me] = missed["members"]
    assert (me["missed"], me["completions"]) == (1, 0)

    chores = f"{API}/households/{household_id}/chores"
    expect(await http.post(f"{chores}/{chore['id']}/complete", json={}, headers=owner.headers), 201)
    await settled(stack, redis)

    done = await stats(http, household_id, owner.headers)
    assert (done["household"]["overdue"], done["household"]["completions"]) == (0, 1)
    assert done["household"]["completion_rate"] == 1.0
    [me] = done["members"]
    assert (me["missed"], me["completions"], me["on_time_rate"]) == (0, 1, 0.0)
