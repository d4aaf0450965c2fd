"""The fast route (gateway.fastlane) answers exactly as the FastAPI route does, and hands on what it cannot judge.

Two gateways in front of the same services — one with the fast route, one without (`fast_routes=False`) — get
the same requests; every answer must be the same (status, media type, body, the correlation id aside), and the
counter says which gateway path served each.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from tests.support.api import API, create_chore, create_household, expect, join, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.stack import SERVICES, another_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(SERVICES, gateway=True)
http = http_fixture()


def served(outcome: str) -> float:
    return REGISTRY.get_sample_value("hearth_gateway_fast_routes_total", {"outcome": outcome}) or 0.0


def answer(response: httpx.Response) -> tuple[int, str, Any]:
    body = response.json()
    if isinstance(body, dict):
        body.pop("correlation_id", None)
    return response.status_code, response.headers["content-type"], body


async def test_the_fast_route_answers_as_the_fastapi_route(stack: Any, http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Fay")
    child = await sign_up(http, "Kit")
    outsider = await sign_up(http, "Oz")
    hid = await create_household(http, owner)
    await join(http, hid, owner, child, "child")
    for title, category, labels in (
        ("Dishes", "kitchen", ["daily"]),
        ("Vacuum", "floors", []),
        ("Bins", "", ["weekly"]),
    ):
        await create_chore(http, hid, owner, title=title, category=category or None, labels=labels)
    await create_chore(
        http, hid, owner, title="Feed the cat", assignment={"strategy": "fixed", "assignees": [child.user_id]}
    )
    first = expect(await http.get(f"{API}/households/{hid}/chores?page_size=2", headers=owner.headers), 200)
    token = first["next_page_token"]
    assert token

    url = f"{API}/households/{hid}/chores"
    plainly_valid = [
        "",
        "?page_size=2",
        f"?page_size=2&page_token={token}",
        "?page_size=200",
        "?status=archived",
        "?status=due",
        "?category=kitchen",
        "?label=weekly",
        f"?assignee_id={child.user_id}",
        "?assignee_id=",
        "?q=dishes",
        "?order_by=title%20desc",
        "?order_by=points",
        "?unknown=ignored",
    ]
    judged_by_fastapi = [
        "?page_size=0",
        "?page_size=201",
        "?page_size=abc",
        "?page_size=",
        "?page_size=05",
        "?page_size=2&page_size=3",
        "?status=bogus",
        "?status=",
        "?order_by=title%20sideways",
        "?order_by=",
        "?order_by=title%0A",  # Python's `$` would take it; pydantic's pattern does not
        "?page_size=5%0A",
        "?category=%01",
        "?q=" + "x" * 201,
        "?page_token=" + "t" * 2001,
        "?due_before=2030-01-01T00:00:00Z",
        "?due_after=yesterday",
    ]
    cases = [(url + query, owner.headers, True) for query in plainly_valid]
    cases += [(url + query, owner.headers, False) for query in judged_by_fastapi]
    cases += [
        (url, child.headers, True),  # a child lists too
        (url, outsider.headers, True),  # verified, then refused by the task service: 404
        (f"{API}/households/{'h' * 65}/chores", owner.headers, False),
        (f"{API}/households/not-a-uuid/chores", owner.headers, True),  # the task service judges the id
        (url, {}, False),
        (url, {"Authorization": "Bearer not-a-token"}, False),
        (url, {"Authorization": "Bearer hk_" + "k" * 40}, False),
        (url, {"Authorization": "Basic b3duZXI6cHc="}, False),
    ]
    async with another_gateway(stack, fast_routes=False) as slow:
        for target, headers, fast in cases:
            before = served("served"), served("passed")
            via_fast = await http.get(target, headers=headers)
            after = served("served"), served("passed")
            assert after == ((before[0] + 1, before[1]) if fast else (before[0], before[1] + 1)), target
            via_fastapi = await slow.get(target, headers=headers)
            assert answer(via_fast) == answer(via_fastapi), target
            assert via_fast.headers.get("x-correlation-id")

    listed = expect(await http.get(url + "?category=kitchen", headers=owner.headers), 200)
    assert [chore["title"] for chore in listed["items"]] == ["Dishes"]
    outsider_answer = await http.get(url, headers=outsider.headers)
    assert outsider_answer.status_code == 404
    assert outsider_answer.headers["content-type"].startswith("application/problem+json")


async def test_the_fast_route_counts_under_the_route_template(stack: Any, http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Mo")
    hid = await create_household(http, owner)
    label = {"method": "GET", "route": "/api/v1/households/{hid}/chores", "status": "200"}
    before = REGISTRY.get_sample_value("hearth_http_requests_total", label) or 0.0
    expect(await http.get(f"{API}/households/{hid}/chores", headers=owner.headers), 200)
    assert REGISTRY.get_sample_value("hearth_http_requests_total", label) == before + 1


async def test_with_the_key_source_down_the_answer_is_503_not_500(stack: Any, http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Kent")
    hid = await create_household(http, owner)
    # A fresh gateway whose user service (the JWKS source) does not answer: it cannot verify any token yet.
    async with another_gateway(stack, user_addr="127.0.0.1:1", grpc_timeout_seconds=1) as cut_off:
        listed = await cut_off.get(f"{API}/households/{hid}/chores", headers=owner.headers)
        written = await cut_off.post(
            f"{API}/households/{hid}/chores",
            json={"title": "x", "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}},
            headers={**owner.headers, "Idempotency-Key": "k-503"},
        )
    for answer in (listed, written):
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "unavailable"
