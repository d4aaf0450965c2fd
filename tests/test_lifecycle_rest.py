"""The occurrence lifecycle through the real gateway, user and task services (API.md "Chores"; the table is in
services/task/scheduling.py's docstring): no running ahead of the schedule, and what each step answers over REST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.api import API, create_chore, create_household, expect, problem, sign_up
from tests.support.fixtures import http_fixture, stack_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"], gateway=True)
http = http_fixture()

DAILY = {"kind": "interval", "every": 1, "unit": "days"}


def days(n: float) -> str:
    return (datetime.now(UTC) + timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_thirty_completions_in_a_row_count_once(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Farmer")
    hid = await create_household(http, owner)
    for first_due in (None, days(0.5)):  # due now (the first completion is late) and due later today (early)
        fields = {"first_due_at": first_due} if first_due else {}
        chore = await create_chore(http, hid, owner, points=1000, recurrence=DAILY, **fields)
        url = f"{API}/households/{hid}/chores/{chore['id']}"
        answers = [await http.post(f"{url}/complete", json={}, headers=owner.headers) for _ in range(30)]
        assert [a.status_code for a in answers] == [201] + [409] * 29
        for refusal in answers[1:]:
            problem(refusal, 409, "not_due_yet")
        history = expect(await http.get(f"{url}/completions", headers=owner.headers), 200)
        assert [c["points"] for c in history["items"]] == [1000]  # points counted once
        after = expect(await http.get(url, headers=owner.headers), 200)
        assert after["next_due_at"] == answers[0].json()["chore"]["next_due_at"]  # the refusals moved nothing
