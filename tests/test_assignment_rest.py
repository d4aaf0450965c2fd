"""Assignment through the real gateway, user and task services: a round-robin chore created and completed over
REST (API.md's `assignment` shape), skipping a member whose away period (PUT …/members/{uid}/away) reached the
task service, and the strategies' refusals as problems."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.task.repository import AwayRepository
from tests.support.api import API, create_chore, create_household, expect, join, problem, sign_up
from tests.support.fixtures import database_fixture, http_fixture, stack_fixture
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"], gateway=True)
http = http_fixture()
task_db = database_fixture("task")


def days(n: float) -> str:
    return (datetime.now(UTC) + timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_round_robin_over_rest_skips_the_away(http: httpx.AsyncClient, task_db: AsyncEngine) -> None:
    owner, admin, member = [await sign_up(http, n) for n in ("Olga", "Adam", "Mia")]
    hid = await create_household(http, owner)
    await join(http, hid, owner, admin, "admin")
    await join(http, hid, owner, member, "member")
    away = {"from": days(1), "to": days(8)}
    expect(
        await http.put(f"{API}/households/{hid}/members/{member.user_id}/away", json=away, headers=member.headers), 200
    )

    async def arrived() -> bool:
        async with AsyncSession(task_db) as session:
            return uuid.UUID(member.user_id) in await AwayRepository(session).household(uuid.UUID(hid))

    await eventually(arrived)
    rotation = [member.user_id, admin.user_id, owner.user_id]
    assignment: dict[str, Any] = {"strategy": "round_robin", "assignees": rotation, "rotate": "on_completion"}
    chore = await create_chore(
        http,
        hid,
        owner,
        recurrence={"kind": "interval", "every": 1, "unit": "days"},
        assignment=assignment,
        first_due_at=days(2),
    )
    assert chore["assignment"]["strategy"] == "round_robin"
    assert chore["assignment"]["assignees"] == rotation
    assert chore["assignee_id"] == admin.user_id  # Mia is first but away on the due day

    url = f"{API}/households/{hid}/chores/{chore['id']}"
    expect(await http.post(f"{url}/complete", json={}, headers=admin.headers), 201)
    after = expect(await http.get(url, headers=owner.headers), 200)
    assert after["assignee_id"] == owner.user_id

    for bad, field in (
        ({"strategy": "least_points"}, "assignment.assignees"),
        ({"strategy": "random", "assignees": rotation, "rotate": "daily"}, "assignment.rotate"),
        ({"strategy": "round_robin", "assignees": [str(uuid.uuid4())]}, "assignment.assignees[0]"),
    ):
        body = {"title": "Bins", "points": 1, "recurrence": {"kind": "once"}, "assignment": bad}
        refused = problem(
            await http.post(f"{API}/households/{hid}/chores", json=body, headers=owner.headers),
            422,
            "validation_failed",
        )
        assert field in {error["field"] for error in refused["errors"]}, refused
