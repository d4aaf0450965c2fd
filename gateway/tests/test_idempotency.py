"""Idempotency-Key through the real gateway and services (gateway.idempotency): replay, reuse, concurrency,
scoping, failures that are not remembered, and a Redis that is not there."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from tests.support.api import API, create_household, expect, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.people import PASSWORD
from tests.support.stack import SERVICES, another_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(SERVICES, gateway=True)
http = http_fixture()

CHORE = {"title": "Water the plants", "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}}


def counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("hearth_gateway_idempotency_total", {"outcome": outcome}) or 0.0


def key() -> str:
    return str(uuid.uuid4())


async def chores(http: httpx.AsyncClient, hid: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = expect(await http.get(f"{API}/households/{hid}/chores", headers=headers), 200)[
        "items"
    ]
    return items


async def test_a_retry_gets_the_first_answer_and_the_work_happens_once(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Rita")
    hid = await create_household(http, owner)
    headers = {**owner.headers, "Idempotency-Key": key()}
    first = await http.post(f"{API}/households/{hid}/chores", json=CHORE, headers=headers)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    replays = counted("replayed")
    # The same request, its JSON spelled differently (key order, spacing): the same request.
    spelled = '{"assignment": {"strategy": "unassigned"}, "recurrence": {"kind": "once"}, "title": "Water the plants"}'
    again = await http.post(
        f"{API}/households/{hid}/chores", content=spelled, headers={**headers, "content-type": "application/json"}
    )
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-correlation-id"] != first.headers["x-correlation-id"]  # this request's own
    assert counted("replayed") == replays + 1
    assert [c["id"] for c in await chores(http, hid, owner.headers)] == [first.json()["id"]]


async def test_the_same_key_for_another_request_is_422(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Reuben")
    hid = await create_household(http, owner)
    headers = {**owner.headers, "Idempotency-Key": key()}
    expect(await http.post(f"{API}/households/{hid}/chores", json=CHORE, headers=headers), 201)
    for url, body in (
        (f"{API}/households/{hid}/chores", {**CHORE, "title": "Something else"}),
        (f"{API}/households", {"name": "Elsewhere", "timezone": "UTC"}),
    ):
        reused = await http.post(url, json=body, headers=headers)
        assert reused.status_code == 422, reused.text
        assert reused.headers["content-type"].startswith("application/problem+json")
        assert reused.json()["code"] == "idempotency_key_reused"
    assert len(await chores(http, hid, owner.headers)) == 1


async def test_concurrent_duplicates_run_once(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Connie")
    hid = await create_household(http, owner)
    headers = {**owner.headers, "Idempotency-Key": key()}
    answers = await asyncio.gather(
        *(http.post(f"{API}/households/{hid}/chores", json=CHORE, headers=headers) for _ in range(8))
    )
    created = [a for a in answers if a.status_code == 201]
    busy = [a for a in answers if a.status_code == 409]
    assert len(created) + len(busy) == 8, [a.text for a in answers]
    assert created
    assert len({a.json()["id"] for a in created}) == 1  # replays of the one that ran
    for answer in busy:
        assert answer.json()["code"] == "idempotency_key_in_use"
        assert answer.headers["retry-after"] == "1"
    assert len(await chores(http, hid, owner.headers)) == 1
    late = await http.post(f"{API}/households/{hid}/chores", json=CHORE, headers=headers)
    assert (late.status_code, late.json()["id"]) == (201, created[0].json()["id"])


async def test_keys_belong_to_their_caller(http: httpx.AsyncClient) -> None:
    alice, bob = await sign_up(http, "Alice"), await sign_up(http, "Bob")
    shared, body = key(), {"name": "Ours", "timezone": "UTC"}
    a, b = [
        expect(await http.post(f"{API}/households", json=body, headers={**who.headers, "Idempotency-Key": shared}), 201)
        for who in (alice, bob)
    ]
    assert a["id"] != b["id"]  # Bob's own household, not a replay of Alice's


async def test_anonymous_writes_replay_but_nothing_under_auth_is_kept(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Anon")
    hid = await create_household(http, owner)
    invite = expect(
        await http.post(f"{API}/households/{hid}/invites", json={"role": "member"}, headers=owner.headers), 201
    )
    headers = {"Idempotency-Key": f'"{key()}"'}  # the draft's structured-field form, quotes and all
    first = await http.post(f"{API}/invites/{invite['code']}/accept", headers=headers)
    second = await http.post(f"{API}/invites/{invite['code']}/accept", headers=headers)
    assert first.status_code == second.status_code == 401  # no credentials: the anonymous scope, replayed
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["www-authenticate"] == first.headers["www-authenticate"]
    body = {"email": f"{uuid.uuid4().hex}@example.com", "password": PASSWORD, "display_name": "Anon"}
    registered = await http.post(f"{API}/auth/register", json=body, headers=headers)
    again = await http.post(f"{API}/auth/register", json=body, headers=headers)
    assert registered.status_code == 201
    assert "idempotent-replayed" not in again.headers  # /auth/ is never kept: the user service's request_id answers
    assert again.json()["id"] == registered.json()["id"]


async def test_credentials_that_do_not_verify_never_share_the_anonymous_scope(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Vera")
    hid = await create_household(http, owner)
    shared = key()
    # The owner's token with two spaces: the route strips it (and so does the gateway's idempotency, alike).
    spaced = {"Authorization": f"Bearer  {owner.token}", "Idempotency-Key": shared}
    invite = await http.post(f"{API}/households/{hid}/invites", json={"role": "member"}, headers=spaced)
    assert invite.status_code == 201
    assert invite.headers["cache-control"] == "no-store"  # an invite's code is never kept
    for stranger in ({"Idempotency-Key": shared}, {"Authorization": "Bearer garbage", "Idempotency-Key": shared}):
        answer = await http.post(f"{API}/households/{hid}/invites", json={"role": "member"}, headers=stranger)
        assert answer.status_code == 401, answer.text
        assert "idempotent-replayed" not in answer.headers


async def test_keys_that_are_not_keys_are_422(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Kay")
    for bad in ("", "x" * 201, "has space", "naïve"):
        response = await http.post(
            f"{API}/households",
            json={"name": "Nope", "timezone": "UTC"},
            headers=[*owner.headers.items(), ("Idempotency-Key", bad.encode())],
        )
        assert response.status_code == 422, bad
        assert [e["field"] for e in response.json()["errors"]] == ["Idempotency-Key"]
    assert expect(await http.get(f"{API}/households", headers=owner.headers), 200)["items"] == []


async def test_a_5xx_is_not_remembered(stack: Any, http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Flo")
    hid = await create_household(http, owner)
    headers = {**owner.headers, "Idempotency-Key": key()}
    released = counted("released")
    async with another_gateway(stack, task_addr="127.0.0.1:1", grpc_timeout_seconds=1) as broken:
        failed = await broken.post(f"{API}/households/{hid}/chores", json=CHORE, headers=headers)
    assert failed.status_code == 503
    assert counted("released") == released + 1
    retried = await http.post(f"{API}/households/{hid}/chores", json=CHORE, headers=headers)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers  # it ran: the failure was not kept
    assert len(await chores(http, hid, owner.headers)) == 1


async def test_without_redis_writes_still_work(stack: Any, http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Nora")
    hid = await create_household(http, owner)
    bypassed = counted("bypassed")
    async with another_gateway(stack, redis_url="redis://127.0.0.1:1/0") as without:
        headers = {**owner.headers, "Idempotency-Key": key()}
        created = expect(await without.post(f"{API}/households/{hid}/chores", json=CHORE, headers=headers), 201)
        # The gateway cannot remember it; the task service's request_id (the forwarded key) still can.
        again = expect(await without.post(f"{API}/households/{hid}/chores", json=CHORE, headers=headers), 201)
    assert again["id"] == created["id"]
    assert counted("bypassed") >= bypassed + 2
    assert len(await chores(http, hid, owner.headers)) == 1


async def test_hostile_bodies_keep_their_answers(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Hal")
    hid = await create_household(http, owner)
    headers = {**owner.headers, "Idempotency-Key": key(), "content-type": "application/json"}
    too_big = await http.post(f"{API}/households/{hid}/chores", content=b"[" + b"1," * 600_000 + b"1]", headers=headers)
    assert too_big.status_code == 413
    # Nested past orjson's depth and an integer past 64 bits: fingerprinted as bytes, judged by the route (422).
    for hostile in (b"[" * 2000 + b"]" * 2000, b'{"title": 123456789012345678901234567890}'):
        headers["Idempotency-Key"] = key()
        first = await http.post(f"{API}/households/{hid}/chores", content=hostile, headers=headers)
        again = await http.post(f"{API}/households/{hid}/chores", content=hostile, headers=headers)
        assert first.status_code == again.status_code
        assert 400 <= first.status_code < 500, first.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["vary"] == first.headers["vary"] == "Accept-Language"  # a problem's, replayed too
    assert await chores(http, hid, owner.headers) == []


async def test_tokens_are_not_kept(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Tok")
    headers = {"Idempotency-Key": key()}
    body = {"email": person.email, "password": PASSWORD}
    first = expect(await http.post(f"{API}/auth/login", json=body, headers=headers), 200)
    second = await http.post(f"{API}/auth/login", json=body, headers=headers)
    assert second.headers["cache-control"] == "no-store"
    assert "idempotent-replayed" not in second.headers  # it ran again: new tokens, none kept in Redis
    assert expect(second, 200)["refresh_token"] != first["refresh_token"]


async def test_a_retryable_refusal_is_not_kept(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Ria")
    hid = await create_household(http, owner)
    invite = expect(
        await http.post(f"{API}/households/{hid}/invites", json={"role": "member"}, headers=owner.headers), 201
    )
    headers = {**owner.headers, "Idempotency-Key": key()}
    released = counted("released")
    # The owner is a member already: 409, an answer that says the state conflicts — not kept, a retry runs again.
    for _ in range(2):
        answer = await http.post(f"{API}/invites/{invite['code']}/accept", headers=headers)
        assert answer.status_code == 409, answer.text
        assert "idempotent-replayed" not in answer.headers
    assert counted("released") == released + 2


async def test_a_quoted_key_is_the_same_key_to_the_service(stack: Any, http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Quinn")
    hid = await create_household(http, owner)
    plain = key()
    # Without Redis the gateway keeps nothing: the task service's request_id alone decides, and it must see one key.
    async with another_gateway(stack, redis_url="redis://127.0.0.1:1/0") as without:
        quoted = {**owner.headers, "Idempotency-Key": f'"{plain}"'}
        created = expect(await without.post(f"{API}/households/{hid}/chores", json=CHORE, headers=quoted), 201)
        bare = {**owner.headers, "Idempotency-Key": plain}
        again = expect(await without.post(f"{API}/households/{hid}/chores", json=CHORE, headers=bare), 201)
    assert again["id"] == created["id"]
    assert len(await chores(http, hid, owner.headers)) == 1
