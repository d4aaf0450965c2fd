"""Sessions that really end, through the real gateway and every service: after a logout, a revoked session or a
refresh token's reuse, the session's access token is refused at once by the gateway and, directly over gRPC, by
the other services too; sessions list where they came from (the HTTP client the gateway forwards); the audit log
shows it."""

from __future__ import annotations

import grpc
import httpx
import pytest
from hearth.task.v1 import task_pb2, task_pb2_grpc

from tests.support.api import API, PASSWORD, Person, create_household, expect, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(gateway=True)
http = http_fixture()

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def task_answers(stack: Stack, token: str, household_id: str) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        try:
            await task_pb2_grpc.ChoreServiceStub(channel).ListChores(
                task_pb2.ListChoresRequest(parent=f"households/{household_id}"),
                metadata=(("authorization", f"Bearer {token}"),),
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


async def login(http: httpx.AsyncClient, person: Person, user_agent: str = FIREFOX) -> dict[str, str]:
    body = {"email": person.email, "password": PASSWORD}
    return dict(expect(await http.post(f"{API}/auth/login", json=body, headers={"User-Agent": user_agent}), 200))


async def test_a_logged_out_token_is_refused_at_once_by_the_gateway_and_the_services(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    person = await sign_up(http, "Logout")
    household_id = await create_household(http, person)
    chores = f"{API}/households/{household_id}/chores"
    assert (await http.get(chores, headers=person.headers)).status_code == 200
    assert await task_answers(stack, person.token, household_id) == grpc.StatusCode.OK

    assert (await http.post(f"{API}/auth/logout", headers=person.headers)).status_code == 204

    # The very next request through the gateway, on the fast route and on an ordinary one.
    for url in (chores, f"{API}/users/me"):
        refused = await http.get(url, headers=person.headers)
        assert refused.status_code == 401, url
        assert refused.json()["code"] == "unauthenticated"

    # The task service hears it within a Redis round trip.
    async def task_refuses() -> bool:
        return await task_answers(stack, person.token, household_id) == grpc.StatusCode.UNAUTHENTICATED

    await eventually(task_refuses)


async def test_revoking_a_session_through_rest_stops_that_device(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "TwoDevices")
    laptop = await login(http, person)

    listed = expect(await http.get(f"{API}/auth/sessions", headers=bearer(laptop["access_token"])), 200)
    current = [s for s in listed["items"] if s["current"]]
    assert len(listed["items"]) == 2
    assert len(current) == 1
    assert current[0]["device"] == "Firefox on Linux"
    assert current[0]["user_agent"] == FIREFOX  # the HTTP client's, forwarded by the gateway
    assert current[0]["ip"] == "127.0.0.1"
    assert set(current[0]) == {
        "id",
        "device",
        "user_agent",
        "ip",
        "created_at",
        "last_used_at",
        "expires_at",
        "current",
    }

    revoked = await http.delete(f"{API}/auth/sessions/{current[0]['id']}", headers=person.headers)
    assert revoked.status_code == 204
    assert (await http.get(f"{API}/users/me", headers=bearer(laptop["access_token"]))).status_code == 401
    assert (await http.get(f"{API}/users/me", headers=person.headers)).status_code == 200
    gone = await http.post(f"{API}/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    assert gone.status_code == 401


async def test_another_users_session_cannot_be_revoked(http: httpx.AsyncClient) -> None:
    victim, attacker = await sign_up(http, "Victim"), await sign_up(http, "Attacker")
    session_id = expect(await http.get(f"{API}/auth/sessions", headers=victim.headers), 200)["items"][0]["id"]

    attempt = await http.delete(f"{API}/auth/sessions/{session_id}", headers=attacker.headers)

    assert attempt.status_code == 404
    assert (await http.get(f"{API}/users/me", headers=victim.headers)).status_code == 200


async def test_revoking_all_other_sessions(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Tidy")
    other = await login(http, person)

    ended = expect(await http.delete(f"{API}/auth/sessions", headers=person.headers), 200)

    assert len(ended["revoked"]) == 1
    assert (await http.get(f"{API}/users/me", headers=bearer(other["access_token"]))).status_code == 401
    assert (await http.get(f"{API}/users/me", headers=person.headers)).status_code == 200


async def test_a_reused_refresh_token_ends_the_session_for_everyone_holding_it(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Robbed")
    renewed = expect(await http.post(f"{API}/auth/refresh", json={"refresh_token": person.refresh_token}), 200)

    reuse = await http.post(f"{API}/auth/refresh", json={"refresh_token": person.refresh_token})

    assert reuse.status_code == 401
    assert (await http.get(f"{API}/users/me", headers=bearer(renewed["access_token"]))).status_code == 401


async def test_the_audit_log_shows_logins_from_where_and_failed_attempts(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Audited")
    await login(http, person)
    wrong = await http.post(f"{API}/auth/login", json={"email": person.email, "password": "not the password!"})
    assert wrong.status_code == 401

    log = expect(await http.get(f"{API}/users/me/audit", headers=person.headers), 200)

    actions = [event["action"] for event in log["items"]]
    assert actions[:3] == ["login.failed", "login.succeeded", "login.succeeded"]  # newest first
    failed, firefox = log["items"][0], log["items"][1]
    assert failed["details"] == {"reason": "wrong_password"}
    assert failed["actor_id"] == ""
    assert (firefox["user_agent"], firefox["ip"], firefox["actor_id"]) == (FIREFOX, "127.0.0.1", person.user_id)
    assert firefox["correlation_id"]
    page = expect(await http.get(f"{API}/users/me/audit?page_size=1", headers=person.headers), 200)
    assert len(page["items"]) == 1
    assert page["next_page_token"]
