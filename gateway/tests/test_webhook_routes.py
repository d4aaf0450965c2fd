"""/households/{hid}/webhooks through the real gateway and services: a replayed create makes one webhook and the
secret never lands in the gateway's idempotency store, refusals are problem+json in the caller's language, and a
child or member cannot manage."""

from __future__ import annotations

import uuid

import httpx
import pytest
import redis.asyncio as aioredis

from tests.support.api import API, create_household, expect, join, problem, sign_up
from tests.support.fixtures import http_fixture, redis_fixture, stack_fixture
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "notify"], gateway=True)
http = http_fixture()
redis = redis_fixture()

BODY = {"url": "https://93.184.215.14/hearth", "events": ["chore.completed", "member.joined"]}


async def test_a_replayed_create_makes_one_webhook_and_no_secret_is_kept_by_the_gateway(
    http: httpx.AsyncClient, stack: Stack, redis: aioredis.Redis
) -> None:
    owner = await sign_up(http, "Owner")
    hid = await create_household(http, owner)
    key = str(uuid.uuid4())
    headers = {**owner.headers, "Idempotency-Key": key}
    first = await http.post(f"{API}/households/{hid}/webhooks", json=BODY, headers=headers)
    again = await http.post(f"{API}/households/{hid}/webhooks", json=BODY, headers=headers)
    made, replayed = expect(first, 201), expect(again, 201)
    assert first.headers["cache-control"] == "no-store"
    assert (replayed["id"], replayed["secret"]) == (made["id"], made["secret"])
    listed = expect(await http.get(f"{API}/households/{hid}/webhooks", headers=owner.headers), 200)["items"]
    assert [w["id"] for w in listed] == [made["id"]]
    assert "secret" not in listed[0]
    # Nothing of the gateway's idempotency records holds the secret (the no-store answer was not kept).
    async for name in redis.scan_iter(match=f"{stack.namespace}:gateway:idempotency:*"):
        kind = (await redis.type(name)).decode()
        values = [await redis.get(name)] if kind == "string" else list((await redis.hgetall(name)).values())
        assert not any(v and made["secret"].encode() in v for v in values)
    # The same key with another body is refused, not a second webhook.
    other = await http.post(f"{API}/households/{hid}/webhooks", json={**BODY, "events": ["*"]}, headers=headers)
    assert other.status_code == 422


async def test_refusals_are_problems_in_the_callers_language_and_children_and_members_cannot_manage(
    http: httpx.AsyncClient,
) -> None:
    owner, member, child = [await sign_up(http, name) for name in ("Owner", "Member", "Child")]
    hid = await create_household(http, owner)
    await join(http, hid, owner, member, "member")
    await join(http, hid, owner, child, "child")
    url = f"{API}/households/{hid}/webhooks"
    refused = await http.post(
        url, json={**BODY, "url": "https://localhost/x"}, headers={**owner.headers, "Accept-Language": "de"}
    )
    body = problem(refused, 422, "validation_failed")
    assert refused.headers["content-language"] == "de"
    (error,) = body["errors"]
    assert error["field"] == "url"
    assert "Loopback-Adresse" in error["message"]
    metadata = await http.post(url, json={**BODY, "url": "https://169.254.169.254/latest"}, headers=owner.headers)
    assert "cloud metadata address" in problem(metadata, 422, "validation_failed")["errors"][0]["message"]
    for who in (member, child):
        problem(await http.post(url, json=BODY, headers=who.headers), 403, "permission_denied")
        problem(await http.get(url, headers=who.headers), 403, "permission_denied")
    stranger = await sign_up(http, "Stranger")
    problem(await http.get(url, headers=stranger.headers), 404, "not_found")
