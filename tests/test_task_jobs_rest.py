"""The scans' settings and effects through the real gateway: a chore created over REST with rotate weekly, on_miss
advance, a grace and a penalty (API.md's `assignment`), marked missed by the miss scan, read back as a `missed`
occurrence, a `penalty` ledger entry and a debt; the settings' bounds as problems."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.task.jobs import MembershipZones, Scans
from tests.support.api import API, create_chore, create_household, expect, join, problem, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"], gateway=True)
http = http_fixture()


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_missed_chore_over_rest(stack: Stack, http: httpx.AsyncClient) -> None:
    owner, member = await sign_up(http, "Olga"), await sign_up(http, "Mia")
    hid = await create_household(http, owner)
    await join(http, hid, owner, member, "member")
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    assignment: dict[str, Any] = {
        "strategy": "round_robin",
        "assignees": [member.user_id, owner.user_id],
        "on_miss": "advance",
        "grace_minutes": 30,
        "miss_penalty_points": 5,
    }
    chore = await create_chore(
        http,
        hid,
        owner,
        recurrence={"kind": "interval", "every": 1, "unit": "days"},
        assignment=assignment,
        first_due_at=stamp(due),
    )
    assert chore["assignment"] | {"rotate": None} == assignment | {"rotate": None}
    weekly = await create_chore(http, hid, owner, assignment=assignment | {"rotate": "weekly"})
    assert weekly["assignment"]["rotate"] == "weekly"

    runtime = stack.servers["task"].runtime
    assert runtime.service_tokens is not None
    zones = MembershipZones(runtime.channels["user"], runtime.service_tokens)
    await Scans(runtime.sessions, zones, rng=random.Random(1)).missed(datetime.now(UTC))

    url = f"{API}/households/{hid}/chores/{chore['id']}"
    after = expect(await http.get(url, headers=owner.headers), 200)
    assert after["assignee_id"] == owner.user_id  # advanced
    assert after["next_due_at"] == stamp(due + timedelta(days=1))
    [row] = expect(await http.get(f"{url}/occurrences", headers=member.headers), 200)["items"]
    assert (row["outcome"], row["due_at"], row["assignee_id"]) == ("missed", stamp(due), member.user_id)
    assert (row["completed_by"], row["recorded_by"]) == (None, None)
    points = expect(await http.get(f"{API}/households/{hid}/points", headers=member.headers), 200)
    assert points["balance"] == -5
    assert [(e["delta"], e["reason"]) for e in points["items"]] == [(-5, "penalty")]


async def test_the_settings_are_bounded(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Olga")
    hid = await create_household(http, owner)
    rotation = [owner.user_id]
    for bad, field in (
        ({"strategy": "least_points", "assignees": rotation, "rotate": "weekly"}, "assignment.rotate"),
        (
            {"strategy": "round_robin", "assignees": rotation, "miss_penalty_points": 1001},
            "assignment.miss_penalty_points",
        ),
        ({"strategy": "round_robin", "assignees": rotation, "on_miss": "explode"}, "assignment.on_miss"),
        ({"strategy": "round_robin", "assignees": rotation, "grace_minutes": -1}, "assignment.grace_minutes"),
    ):
        body = {"title": "Bins", "points": 1, "recurrence": {"kind": "once"}, "assignment": bad}
        refused = problem(
            await http.post(f"{API}/households/{hid}/chores", json=body, headers=owner.headers),
            422,
            "validation_failed",
        )
        assert field in {error["field"] for error in refused["errors"]}, refused
