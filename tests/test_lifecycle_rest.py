"""The occurrence lifecycle through the real gateway, user and task services (API.md "Chores"; the table is in
services/task/scheduling.py's docstring): no running ahead of the schedule, and what each step answers over REST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.api import API, create_chore, create_household, expect, join, problem, sign_up
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


async def test_skip_snooze_undo_and_history_over_rest(http: httpx.AsyncClient) -> None:
    owner, kid = await sign_up(http, "Olga"), await sign_up(http, "Kai")
    hid = await create_household(http, owner)
    await join(http, hid, owner, kid, "child")
    chore = await create_chore(http, hid, owner, recurrence=DAILY, first_due_at=days(0.1))
    url = f"{API}/households/{hid}/chores/{chore['id']}"

    # Snooze: the due time moves, nothing else; not into the past, not past the next occurrence.
    until = days(0.2)
    snoozed = expect(await http.post(f"{url}/snooze", json={"until": until}, headers=owner.headers), 200)
    assert snoozed["next_due_at"] == until
    for bad in (days(-1), days(1.5), "2500-01-01T00:00:00Z", "tomorrow"):
        problem(await http.post(f"{url}/snooze", json={"until": bad}, headers=owner.headers), 422, "validation_failed")

    # Skip, replayed with the same Idempotency-Key: skipped once.
    key = {**owner.headers, "Idempotency-Key": "5a0c1d7e-1b2f-4c3d-8e9f-0a1b2c3d4e5f"}
    skipped = expect(await http.post(f"{url}/skip", headers=key), 200)
    assert expect(await http.post(f"{url}/skip", headers=key), 200) == skipped
    history = expect(await http.get(f"{url}/occurrences", headers=kid.headers), 200)
    [row] = history["items"]
    assert (row["outcome"], row["due_at"], row["recorded_by"], row["completed_by"]) == (
        "skipped",
        until,
        owner.user_id,
        None,
    )
    problem(await http.post(f"{url}/skip", headers=kid.headers), 403, "permission_denied")

    # Undo: a child may not undo someone else's completion; the owner may, and the chore goes back.
    other = await create_chore(http, hid, owner, recurrence=DAILY, first_due_at=days(0.1))
    other_url = f"{API}/households/{hid}/chores/{other['id']}"
    done = expect(await http.post(f"{other_url}/complete", json={}, headers=owner.headers), 201)
    problem(await http.delete(f"{other_url}/completions/{done['id']}", headers=kid.headers), 403, "permission_denied")
    expect(await http.delete(f"{other_url}/completions/{done['id']}", headers=owner.headers), 204)
    back = expect(await http.get(other_url, headers=owner.headers), 200)
    assert back["next_due_at"] == other["next_due_at"]
    assert expect(await http.get(f"{other_url}/occurrences", headers=owner.headers), 200)["items"] == []
    # Another household's chore id under this household, and this household's chore for an outsider: 404.
    stranger = await sign_up(http, "Stan")
    elsewhere = await create_household(http, stranger)
    foreign = f"{API}/households/{elsewhere}/chores/{chore['id']}"
    problem(await http.post(f"{foreign}/skip", headers=stranger.headers), 404, "not_found")
    problem(await http.get(f"{url}/occurrences", headers=stranger.headers), 404, "not_found")
