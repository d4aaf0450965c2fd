"""Approval of a child's completion through REST, end to end: a pending completion is no chore.completed for notify
and analytics (no notification, not in the stats, no points) until an adult approves it; a rejected one never is.
Plus the REST shape of the review: fields, the pending list, the refusals as problems."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.support.api import API, Person, create_chore, create_household, expect, join, problem, sign_up
from tests.support.events import settled
from tests.support.fixtures import http_fixture, redis_fixture, stack_fixture
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task", "notify", "analytics"], gateway=True)
http = http_fixture()
redis = redis_fixture()


async def family(http: httpx.AsyncClient) -> tuple[str, Person, Person]:
    owner = await sign_up(http, "Parent")
    kid = await sign_up(http, "Kid")
    hid = await create_household(http, owner)
    await join(http, hid, owner, kid, "child")
    return hid, owner, kid


async def kids_chore(http: httpx.AsyncClient, hid: str, owner: Person, kid: Person, title: str) -> dict[str, Any]:
    return await create_chore(
        http,
        hid,
        owner,
        title=title,
        points=10,
        requires_approval=True,
        assignment={"strategy": "fixed", "assignees": [kid.user_id]},
    )


async def stats(http: httpx.AsyncClient, hid: str, who: Person) -> dict[str, Any]:
    answer: dict[str, Any] = expect(await http.get(f"{API}/households/{hid}/stats", headers=who.headers), 200)
    return answer


async def notifications(http: httpx.AsyncClient, who: Person, kind: str = "chore.completed") -> list[dict[str, Any]]:
    """`who`'s notifications of type `kind`, newest first."""
    page = expect(await http.get(f"{API}/notifications", headers=who.headers), 200)
    return [n for n in page["items"] if n["type"] == kind]


async def balance(http: httpx.AsyncClient, hid: str, owner: Person, who: Person) -> int:
    points = expect(
        await http.get(f"{API}/households/{hid}/points", params={"user_id": who.user_id}, headers=owner.headers), 200
    )
    return int(points["balance"])


async def test_a_pending_completion_reaches_notify_and_analytics_only_once_approved(
    stack: Stack, http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    hid, owner, kid = await family(http)
    partner = await sign_up(http, "Partner")
    await join(http, hid, owner, partner, "member")
    chore = await kids_chore(http, hid, owner, kid, "Tidy room")
    base = f"{API}/households/{hid}/chores/{chore['id']}"
    pending = expect(await http.post(f"{base}/complete", json={"note": "done!"}, headers=kid.headers), 201)
    assert (pending["status"], pending["reviewed_by"], pending["reviewed_at"]) == ("pending", None, None)
    await settled(stack, redis)
    assert (await stats(http, hid, owner))["household"]["completions"] == 0
    assert await notifications(http, owner) == []
    # The adults are asked to approve it instead, once each.
    for adult in (owner, partner):
        [asked] = await notifications(http, adult, "completion.submitted")
        assert asked["title"] == "Kid asks you to approve Tidy room"
    assert await balance(http, hid, owner, kid) == 0
    waiting = expect(
        await http.get(f"{API}/households/{hid}/completions", params={"status": "pending"}, headers=owner.headers),
        200,
    )
    assert [c["id"] for c in waiting["items"]] == [pending["id"]]

    approved = expect(
        await http.post(
            f"{base}/completions/{pending['id']}/approve", json={"note": "Great job"}, headers=owner.headers
        ),
        200,
    )
    assert (approved["status"], approved["reviewed_by"], approved["review_note"]) == (
        "approved",
        owner.user_id,
        "Great job",
    )
    assert approved["reviewed_at"] is not None
    await settled(stack, redis)
    counted = await stats(http, hid, owner)
    assert counted["household"]["completions"] == 1
    [kids_stats] = [m for m in counted["members"] if m["user_id"] == kid.user_id]
    assert (kids_stats["completions"], kids_stats["points"]) == (1, 10)
    # The owner approved it: no "Kid completed Tidy room" for them (nobody is told of what they did) but for the
    # household's other adults, once.
    assert await notifications(http, owner) == []
    [told] = await notifications(http, partner)
    assert told["title"] == "Kid completed Tidy room"
    [approval] = await notifications(http, kid, "completion.approved")  # the kid hears it was approved
    assert approval["title"] == "Parent approved Tidy room"
    assert await balance(http, hid, owner, kid) == 10
    empty = expect(
        await http.get(f"{API}/households/{hid}/completions", params={"status": "pending"}, headers=owner.headers),
        200,
    )
    assert empty["items"] == []


async def test_a_rejected_completion_never_counts_and_the_chore_is_open_again(
    stack: Stack, http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    hid, owner, kid = await family(http)
    chore = await kids_chore(http, hid, owner, kid, "Feed the cat")
    base = f"{API}/households/{hid}/chores/{chore['id']}"
    pending = expect(await http.post(f"{base}/complete", json={}, headers=kid.headers), 201)
    assert pending["chore"]["status"] == "done"  # a one-off chore: ended, pending review
    rejected = expect(
        await http.post(
            f"{base}/completions/{pending['id']}/reject", json={"note": "The bowl is empty"}, headers=owner.headers
        ),
        200,
    )
    assert (rejected["status"], rejected["review_note"]) == ("rejected", "The bowl is empty")
    reopened = expect(await http.get(base, headers=kid.headers), 200)
    assert (reopened["status"], reopened["next_due_at"]) == ("active", chore["next_due_at"])
    await settled(stack, redis)
    assert (await stats(http, hid, owner))["household"]["completions"] == 0
    assert await notifications(http, owner) == []
    [rejection] = await notifications(http, kid, "completion.rejected")  # the kid hears why
    assert rejection["body"].endswith(": The bowl is empty")
    assert await balance(http, hid, owner, kid) == 0
    # Approving it afterwards, or undoing it, is a conflict; the history shows it as rejected.
    problem(await http.post(f"{base}/completions/{pending['id']}/approve", headers=owner.headers), 409, "conflict")
    problem(await http.delete(f"{base}/completions/{pending['id']}", headers=owner.headers), 409, "conflict")
    history = expect(await http.get(f"{base}/completions", params={"status": "rejected"}, headers=owner.headers), 200)
    assert [c["id"] for c in history["items"]] == [pending["id"]]


async def test_a_rejection_after_the_chore_moved_on_counts_as_a_miss_in_the_stats(
    stack: Stack, http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    hid, owner, kid = await family(http)
    chore = await kids_chore(http, hid, owner, kid, "Water the plants")
    base = f"{API}/households/{hid}/chores/{chore['id']}"
    pending = expect(await http.post(f"{base}/complete", json={}, headers=kid.headers), 201)
    expect(await http.patch(base, json={"points": 20}, headers=owner.headers), 200)  # the chore moves on
    rejected = expect(await http.post(f"{base}/completions/{pending['id']}/reject", headers=owner.headers), 200)
    assert rejected["status"] == "rejected"
    [row] = expect(await http.get(f"{base}/occurrences", headers=owner.headers), 200)["items"]
    assert row["outcome"] == "missed"
    await settled(stack, redis)
    counted = await stats(http, hid, owner)
    assert (counted["household"]["completions"], counted["household"]["overdue"]) == (0, 1)
    [kids_stats] = [m for m in counted["members"] if m["user_id"] == kid.user_id]
    assert (kids_stats["completions"], kids_stats["missed"]) == (0, 1)


async def test_review_refusals_are_problems(stack: Stack, http: httpx.AsyncClient) -> None:
    hid, owner, kid = await family(http)
    outsider = await sign_up(http, "Outsider")
    chore = await kids_chore(http, hid, owner, kid, "Homework")
    base = f"{API}/households/{hid}/chores/{chore['id']}"
    pending = expect(await http.post(f"{base}/complete", json={}, headers=kid.headers), 201)
    approve = f"{base}/completions/{pending['id']}/approve"
    problem(await http.post(approve, headers=kid.headers), 403, "permission_denied")
    problem(await http.post(approve, headers=outsider.headers), 404, "not_found")
    problem(await http.post(approve, json={"note": "x" * 1001}, headers=owner.headers), 422, "validation_failed")
    unknown = problem(await http.post(approve, json={"grade": "A"}, headers=owner.headers), 422, "validation_failed")
    assert [e["field"] for e in unknown["errors"]] == ["grade"]
    problem(
        await http.get(f"{API}/households/{hid}/completions", params={"status": "maybe"}, headers=owner.headers),
        422,
        "validation_failed",
    )
    problem(
        await http.post(f"{base}/completions/0192f1b0-aa11-7b22-8c33-d44e55f66a77/reject", headers=owner.headers),
        404,
        "not_found",
    )
    # None of that touched it.
    still = expect(await http.get(f"{base}/completions", params={"status": "pending"}, headers=owner.headers), 200)
    assert [c["id"] for c in still["items"]] == [pending["id"]]
    # A replayed approval (same Idempotency-Key) answers as the first did.
    headers = {**owner.headers, "Idempotency-Key": "0192f1b0-aa11-7b22-8c33-d44e55f66a00"}
    first = expect(await http.post(approve, headers=headers), 200)
    again = expect(await http.post(approve, headers=headers), 200)
    assert first == again
