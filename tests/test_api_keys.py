"""API keys end to end, through the real gateway and every service: `Bearer hk_…` is exchanged for a scoped token
and remembered; each service enforces the scopes (a chores:read key completing a chore is 403
insufficient_scope over REST, PERMISSION_DENIED INSUFFICIENT_SCOPE over gRPC); a deleted key stops at once."""

from __future__ import annotations

import grpc
import httpx
import pytest
from hearth.task.v1 import task_pb2, task_pb2_grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc

from tests.support.api import API, Person, create_chore, create_household, expect, join, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(gateway=True)
http = http_fixture()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def new_key(http: httpx.AsyncClient, person: Person, *scopes: str, name: str = "Script") -> dict[str, str]:
    response = await http.post(f"{API}/api-keys", json={"name": name, "scopes": list(scopes)}, headers=person.headers)
    created: dict[str, str] = expect(response, 201)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["location"] == f"{API}/api-keys/{created['id']}"
    return created


async def test_a_read_key_reads_chores_but_completing_one_is_insufficient_scope_over_rest_and_grpc(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    owner = await sign_up(http, "KeyOwner")
    household_id = await create_household(http, owner)
    chore = await create_chore(http, household_id, owner)
    reader = await new_key(http, owner, "chores:read")
    chores = f"{API}/households/{household_id}/chores"

    listed = expect(await http.get(chores, headers=bearer(reader["key"])), 200)  # the fast route
    assert [c["id"] for c in listed["items"]] == [chore["id"]]
    one = expect(await http.get(f"{chores}/{chore['id']}", headers=bearer(reader["key"])), 200)
    assert one["id"] == chore["id"]

    refused_rest = await http.post(f"{chores}/{chore['id']}/complete", json={}, headers=bearer(reader["key"]))
    assert refused_rest.status_code == 403, refused_rest.text
    assert refused_rest.headers["content-type"].startswith("application/problem+json")
    assert refused_rest.json()["code"] == "insufficient_scope"

    # Directly over gRPC, with the token the key exchanges for: the task service itself refuses.
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        pair = await user_pb2_grpc.AuthServiceStub(channel).ExchangeApiKey(
            user_pb2.ExchangeApiKeyRequest(key=reader["key"])
        )
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        refusal = await refused(
            task_pb2_grpc.ChoreServiceStub(channel).CompleteChore(
                task_pb2.CompleteChoreRequest(name=f"households/{household_id}/chores/{chore['id']}"),
                metadata=(("authorization", f"Bearer {pair.access_token}"),),
            )
        )
    assert (refusal.code, refusal.reason) == (grpc.StatusCode.PERMISSION_DENIED, "INSUFFICIENT_SCOPE")

    # Nothing was completed by the refused calls; a chores:write key completes it.
    assert (
        expect(await http.get(f"{chores}/{chore['id']}", headers=owner.headers), 200).get("last_completed_at") is None
    )
    writer = await new_key(http, owner, "chores:write")
    expect(await http.post(f"{chores}/{chore['id']}/complete", json={}, headers=bearer(writer["key"])), 201)


async def test_a_chores_only_key_lists_chores_of_a_household_no_service_has_asked_about_yet(
    http: httpx.AsyncClient,
) -> None:
    """The task service's membership question (the user service's) is its own step, asked with its own identity:
    a key without households:read still lists chores when no answer is cached."""
    owner = await sign_up(http, "Cold")
    key = await new_key(http, owner, "chores:read")
    household_id = await create_household(http, owner)  # after the key: nothing asked about it yet
    listed = expect(await http.get(f"{API}/households/{household_id}/chores", headers=bearer(key["key"])), 200)
    assert listed["items"] == []
    assert (await http.get(f"{API}/households/{household_id}", headers=bearer(key["key"]))).status_code == 403


async def test_a_key_acts_as_its_user_only_within_their_households(http: httpx.AsyncClient) -> None:
    owner, stranger = await sign_up(http, "Home"), await sign_up(http, "Stranger")
    household_id = await create_household(http, owner)
    key = await new_key(http, stranger, "chores:read", "households:read")
    assert (await http.get(f"{API}/households/{household_id}", headers=bearer(key["key"]))).status_code == 404
    assert (await http.get(f"{API}/households/{household_id}/chores", headers=bearer(key["key"]))).status_code == 404


async def test_a_child_s_key_is_no_stronger_than_the_child(http: httpx.AsyncClient) -> None:
    owner, child = await sign_up(http, "Parent"), await sign_up(http, "Kid")
    household_id = await create_household(http, owner)
    await join(http, household_id, owner, child, "child")
    key = await new_key(http, child, "chores:write", "households:write")
    chore = {
        "title": "Sneaky",
        "points": 1000,
        "recurrence": {"kind": "once"},
        "assignment": {"strategy": "unassigned"},
    }
    made = await http.post(f"{API}/households/{household_id}/chores", json=chore, headers=bearer(key["key"]))
    assert made.status_code == 403
    assert made.json()["code"] == "permission_denied"  # the role's refusal, not the scope's


async def test_keys_are_listed_without_the_key_and_cannot_manage_keys(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Lister")
    created = await new_key(http, person, "chores:read", "chores:write", name="Home Assistant")
    assert created["key"].startswith("hk_")
    assert created["scopes"] == ["chores:read", "chores:write"]
    assert created["expires_at"] is None
    assert created["last_used_at"] is None

    listed = expect(await http.get(f"{API}/api-keys", headers=person.headers), 200)
    [shown] = listed["items"]
    assert "key" not in shown
    assert shown["prefix"] == created["key"][:11]
    assert {shown["id"], shown["name"]} == {created["id"], "Home Assistant"}

    for call in (
        http.get(f"{API}/api-keys", headers=bearer(created["key"])),
        http.post(f"{API}/api-keys", json={"name": "x", "scopes": ["chores:read"]}, headers=bearer(created["key"])),
        http.delete(f"{API}/api-keys/{created['id']}", headers=bearer(created["key"])),
        http.get(f"{API}/auth/sessions", headers=bearer(created["key"])),
    ):
        answer = await call
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "insufficient_scope"
    used = expect(await http.get(f"{API}/api-keys", headers=person.headers), 200)["items"][0]
    assert used["last_used_at"] is not None


async def test_a_deleted_key_stops_at_once_though_the_gateway_remembered_its_token(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Deleter")
    created = await new_key(http, person, "profile:read")
    assert expect(await http.get(f"{API}/users/me", headers=bearer(created["key"])), 200)["id"] == person.user_id
    [first] = expect(await http.get(f"{API}/api-keys", headers=person.headers), 200)["items"]
    for _ in range(3):
        assert expect(await http.get(f"{API}/users/me", headers=bearer(created["key"])), 200)["id"] == person.user_id
    # Exchanged once, then remembered: no further exchange moved its last use.
    [later] = expect(await http.get(f"{API}/api-keys", headers=person.headers), 200)["items"]
    assert later["last_used_at"] == first["last_used_at"] is not None

    assert (await http.delete(f"{API}/api-keys/{created['id']}", headers=person.headers)).status_code == 204

    after = await http.get(f"{API}/users/me", headers=bearer(created["key"]))
    assert after.status_code == 401
    assert after.json()["code"] == "unauthenticated"
    assert (await http.delete(f"{API}/api-keys/{created['id']}", headers=person.headers)).status_code == 404
    assert expect(await http.get(f"{API}/api-keys", headers=person.headers), 200)["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["chores:delete"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["chores:read"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "scopes": ["chores:read"], "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "", "scopes": ["chores:read"]}, "name"),
        ({"name": "x", "scopes": ["chores:read"] * 21}, "scopes"),
        ({"name": "x", "scopes": "chores:read"}, "scopes"),
        ({"name": "x", "scopes": ["chores:read"], "admin": True}, "admin"),
    ],
)
async def test_a_bad_key_request_is_422_naming_the_field(
    http: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    person = await sign_up(http, "Careless")
    answer = await http.post(f"{API}/api-keys", json=body, headers=person.headers)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "validation_failed"
    assert any(error["field"].split(".")[-1] == field for error in problem["errors"]), problem
    assert expect(await http.get(f"{API}/api-keys", headers=person.headers), 200)["items"] == []


async def test_a_retried_create_is_told_which_key_it_made(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Retrier")
    headers = {**person.headers, "Idempotency-Key": "key-create-1"}
    body = {"name": "Cron", "scopes": ["chores:read"]}
    first = expect(await http.post(f"{API}/api-keys", json=body, headers=headers), 201)
    again = await http.post(f"{API}/api-keys", json=body, headers=headers)
    assert again.status_code == 409, again.text
    assert first["id"] in again.json()["detail"]
    assert first["key"] not in again.text
    assert len(expect(await http.get(f"{API}/api-keys", headers=person.headers), 200)["items"]) == 1


async def test_a_made_up_key_is_401_like_any_bad_token(http: httpx.AsyncClient) -> None:
    for key in ("hk_" + "A" * 43, "hk_", "hk_" + "x" * 300):
        answer = await http.get(f"{API}/users/me", headers=bearer(key))
        assert answer.status_code == 401
        assert answer.json()["code"] == "unauthenticated"
