"""The second factor and the password over REST (API.md "Auth and users"): /auth/mfa/totp*, /auth/login with a code,
/auth/password/{change,forgot,reset}, and a new email through PATCH /users/me — through the real gateway and the
real user service, answers as problem+json with the codes API.md fixes, and the strict auth budget on each."""

from __future__ import annotations

import httpx
import pytest
import pytest_asyncio

from services.user.tests.credentials import (
    Totp,
    current_step,
    sign_in_long_ago,
    stored_reset_token,
    wrong_code,
)
from tests.support.api import API, PASSWORD, Person, assert_rate_limited, expect, problem, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.infra import unique
from tests.support.stack import Stack, another_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user"], gateway=True)
http = http_fixture()
NEW_PASSWORD = "a brand new passphrase"
TOTP = f"{API}/auth/mfa/totp"


@pytest_asyncio.fixture(loop_scope="module")
async def person(http: httpx.AsyncClient) -> Person:
    return await sign_up(http, "Ada")


async def login(http: httpx.AsyncClient, person: Person, password: str = PASSWORD, **code: str) -> httpx.Response:
    return await http.post(f"{API}/auth/login", json={"email": person.email, "password": password, **code})


async def turn_on(http: httpx.AsyncClient, person: Person) -> Totp:
    enrolled = await http.post(TOTP, headers=person.headers)
    body = expect(enrolled, 200)
    assert enrolled.headers["cache-control"] == "no-store"
    totp = Totp(body["secret"], current_step())
    activated = await http.post(f"{TOTP}/activate", json={"code": totp.activation_code}, headers=person.headers)
    assert activated.headers["cache-control"] == "no-store"
    return Totp(totp.secret, totp.step, expect(activated, 200)["recovery_codes"])


async def test_enrol_activate_sign_in_with_codes_and_turn_it_off(http: httpx.AsyncClient, person: Person) -> None:
    enrolled = expect(await http.post(TOTP, json={}, headers=person.headers), 200)
    assert set(enrolled) == {"secret", "otpauth_uri"}
    assert enrolled["otpauth_uri"].startswith("otpauth://totp/Hearth:")
    totp = Totp(enrolled["secret"], current_step())
    wrong = await http.post(f"{TOTP}/activate", json={"code": wrong_code(totp.activation_code)}, headers=person.headers)
    assert "code" in {e["field"] for e in problem(wrong, 401, "mfa_required")["errors"]}
    activated = await http.post(f"{TOTP}/activate", json={"code": totp.activation_code}, headers=person.headers)
    codes = expect(activated, 200)["recovery_codes"]
    assert len(codes) == 10

    problem(await login(http, person), 401, "mfa_required")
    problem(await login(http, person, totp_code=totp.activation_code), 401, "mfa_required")  # spent by activation
    assert expect(await login(http, person, totp_code=totp.next_code), 200)["access_token"]
    problem(await login(http, person, totp_code=totp.next_code), 401, "mfa_required")  # replay
    expect(await login(http, person, totp_code=codes[0]), 200)
    problem(await login(http, person, totp_code=codes[0]), 401, "mfa_required")  # single use

    off = f"{TOTP}"
    problem(await http.request("DELETE", off, json={"code": "000000"}, headers=person.headers), 401, "mfa_required")
    problem(await http.request("DELETE", off, json={}, headers=person.headers), 422, "validation_failed")
    assert (await http.request("DELETE", off, json={"code": codes[1]}, headers=person.headers)).status_code == 204
    expect(await login(http, person), 200)
    problem(await http.request("DELETE", off, json={"code": codes[2]}, headers=person.headers), 404, "not_found")


async def test_without_a_token_the_mfa_routes_are_401(http: httpx.AsyncClient) -> None:
    problem(await http.post(TOTP), 401, "unauthenticated")
    problem(await http.post(f"{TOTP}/activate", json={"code": "123456"}), 401, "unauthenticated")
    problem(await http.request("DELETE", TOTP, json={"code": "123456"}), 401, "unauthenticated")
    problem(await http.post(f"{API}/auth/password/change", json={}), 401, "unauthenticated")


async def stale_session(stack: Stack, http: httpx.AsyncClient, person: Person) -> dict[str, str]:
    """The person's session as it is long after signing in: a refreshed access token carries the old auth_time."""
    await sign_in_long_ago(stack, person.user_id)
    pair = expect(await http.post(f"{API}/auth/refresh", json={"refresh_token": person.refresh_token}), 200)
    return {"Authorization": f"Bearer {pair['access_token']}"}


async def test_changes_long_after_signing_in_need_the_password(stack: Stack, http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Stale")
    stale = await stale_session(stack, http, person)

    problem(await http.post(TOTP, headers=stale), 403, "reauthentication_required")
    wrong = await http.post(TOTP, json={"password": "not the password"}, headers=stale)
    assert {e["field"] for e in problem(wrong, 403, "reauthentication_required")["errors"]} == {"password"}
    expect(await http.post(TOTP, json={"password": PASSWORD}, headers=stale), 200)
    moved = await http.patch(f"{API}/users/me", json={"email": f"{unique('moved')}@example.com"}, headers=stale)
    problem(moved, 403, "reauthentication_required")


async def test_a_new_email_through_the_profile(http: httpx.AsyncClient) -> None:
    person, other = await sign_up(http, "Mover"), await sign_up(http, "Holder")
    address = f"{unique('moved')}@example.com"

    updated = expect(await http.patch(f"{API}/users/me", json={"email": address}, headers=person.headers), 200)

    assert updated["email"] == address
    taken = await http.patch(f"{API}/users/me", json={"email": other.email}, headers=person.headers)
    assert {e["field"] for e in problem(taken, 409, "conflict")["errors"]} == {"email"}
    problem(await http.patch(f"{API}/users/me", json={"email": "x"}, headers=person.headers), 422, "validation_failed")


async def test_changing_the_password_ends_the_other_sessions_at_once(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Changer")
    phone = expect(await login(http, person), 200)
    change = f"{API}/auth/password/change"

    wrong = await http.post(
        change, json={"current_password": "not it", "new_password": NEW_PASSWORD}, headers=person.headers
    )
    assert {e["field"] for e in problem(wrong, 403, "reauthentication_required")["errors"]} == {"current_password"}
    weak = await http.post(
        change, json={"current_password": PASSWORD, "new_password": "password1"}, headers=person.headers
    )
    assert {e["field"] for e in problem(weak, 422, "validation_failed")["errors"]} == {"new_password"}
    done = await http.post(
        change, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=person.headers
    )

    assert (done.status_code, done.content) == (204, b"")
    expect(await http.get(f"{API}/users/me", headers=person.headers), 200)
    phone_headers = {"Authorization": f"Bearer {phone['access_token']}"}
    problem(await http.get(f"{API}/users/me", headers=phone_headers), 401, "unauthenticated")
    problem(await login(http, person), 401, "unauthenticated")
    expect(await login(http, person, NEW_PASSWORD), 200)


@pytest.mark.parametrize("email", ["known", "nobody@example.com", "not an address", "NOBODY@EXAMPLE.COM"])
async def test_forgot_answers_202_for_every_address(http: httpx.AsyncClient, person: Person, email: str) -> None:
    address = person.email if email == "known" else email

    answer = await http.post(f"{API}/auth/password/forgot", json={"email": address})

    assert (answer.status_code, answer.json()) == (202, {"status": "accepted"})


@pytest.mark.parametrize("body", [{}, {"email": ""}, {"email": "a@b.c", "admin": True}, {"email": "x" * 300}])
async def test_forgot_refuses_what_is_not_a_request(http: httpx.AsyncClient, body: dict[str, object]) -> None:
    problem(await http.post(f"{API}/auth/password/forgot", json=body), 422, "validation_failed")


async def test_a_reset_ends_every_session_and_its_token_works_once(stack: Stack, http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Reset")
    token = await stored_reset_token(stack, person.user_id)
    reset = f"{API}/auth/password/reset"

    done = await http.post(reset, json={"token": token, "new_password": NEW_PASSWORD})

    assert (done.status_code, done.content) == (204, b"")
    problem(await http.get(f"{API}/users/me", headers=person.headers), 401, "unauthenticated")
    expect(await login(http, person, NEW_PASSWORD), 200)
    problem(await http.post(reset, json={"token": token, "new_password": PASSWORD}), 410, "gone")
    problem(await http.post(reset, json={"token": "nope", "new_password": PASSWORD}), 404, "not_found")
    problem(await http.post(reset, json={"token": token}), 422, "validation_failed")


async def test_a_reset_with_mfa_on_needs_the_code(stack: Stack, http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Guarded")
    totp = await turn_on(http, person)
    token = await stored_reset_token(stack, person.user_id)
    reset = f"{API}/auth/password/reset"

    problem(await http.post(reset, json={"token": token, "new_password": NEW_PASSWORD}), 401, "mfa_required")
    with_code = {"token": token, "new_password": NEW_PASSWORD, "totp_code": totp.next_code}
    assert (await http.post(reset, json=with_code)).status_code == 204
    expect(await login(http, person, NEW_PASSWORD, totp_code=totp.recovery_codes[0]), 200)


async def test_wrong_codes_spend_the_strict_auth_budget(stack: Stack, http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Guessing")
    async with another_gateway(stack, auth_failures_per_account=3, auth_failures_per_ip=1000) as gateway:
        enrolled = expect(await gateway.post(TOTP, headers=person.headers), 200)
        totp = Totp(enrolled["secret"], current_step())
        for _ in range(3):
            wrong = {"code": wrong_code(totp.activation_code, totp.next_code)}
            problem(await gateway.post(f"{TOTP}/activate", json=wrong, headers=person.headers), 401, "mfa_required")

        # Over the budget: refused before the code is even looked at, the right one too.
        right = await gateway.post(f"{TOTP}/activate", json={"code": totp.activation_code}, headers=person.headers)
        assert_rate_limited(right)
        for _ in range(3):
            await gateway.post(f"{API}/auth/password/forgot", json={"email": person.email})
        assert_rate_limited(await gateway.post(f"{API}/auth/password/forgot", json={"email": person.email}))


async def test_mfa_problems_speak_german(http: httpx.AsyncClient, person: Person) -> None:
    await turn_on(http, person)

    answer = await login(http, person)
    refused = await http.post(
        f"{API}/auth/login",
        json={"email": person.email, "password": PASSWORD},
        headers={"Accept-Language": "de"},
    )

    assert problem(answer, 401, "mfa_required")["title"] == "A second factor is required"
    body = problem(refused, 401, "mfa_required")
    assert refused.headers["content-language"] == "de"
    assert body["detail"] != problem(answer, 401, "mfa_required")["detail"]
