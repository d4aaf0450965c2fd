"""Bearer authentication in the gateway (verified locally against the user service's JWKS) and /auth/*."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest
import pytest_asyncio

from gateway.tests.tokens import b64url, token_claims, token_header, unsigned_token
from tests.support.api import API, PASSWORD, Person, expect, sign_up
from tests.support.fixtures import http_fixture, stack_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")


stack = stack_fixture(["user"], gateway=True)
http = http_fixture()


@pytest_asyncio.fixture(loop_scope="module")
async def person(http: httpx.AsyncClient) -> Person:
    return await sign_up(http, "Ada")


def assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "unauthenticated"
    assert problem["type"] == "https://hearth.dev/problems/unauthenticated"
    assert problem["correlation_id"] == response.headers["x-correlation-id"]


async def test_a_valid_access_token_is_accepted(http: httpx.AsyncClient, person: Person) -> None:
    me = expect(await http.get(f"{API}/users/me", headers=person.headers), 200)
    assert me["id"] == person.user_id


@pytest.mark.parametrize("path", ["/users/me", "/households", "/notifications"])
async def test_missing_token_is_401(http: httpx.AsyncClient, path: str) -> None:
    assert_unauthenticated(await http.get(f"{API}{path}"))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer  x y",
        "Basic dXNlcjpwYXNz",
        "Bearer hk_not_a_real_key",
        "bearer",
    ],
)
async def test_garbage_credentials_are_401(http: httpx.AsyncClient, authorization: str) -> None:
    assert_unauthenticated(await http.get(f"{API}/users/me", headers={"Authorization": authorization}))


async def test_alg_none_is_401(http: httpx.AsyncClient, person: Person) -> None:
    # Same claims as a genuine token, but "signed" with alg none (and, variant, with the real kid kept).
    claims = token_claims(person.token)
    for header in ({"alg": "none", "typ": "JWT"}, {**token_header(person.token), "alg": "none"}):
        forged = unsigned_token(header, claims)
        assert_unauthenticated(await http.get(f"{API}/users/me", headers={"Authorization": f"Bearer {forged}"}))


async def test_hs256_signed_with_the_public_key_is_401(http: httpx.AsyncClient, person: Person) -> None:
    jwks = expect(await http.get("/.well-known/jwks.json"), 200)
    public = jwks["keys"][0]["x"].encode()
    header = {**token_header(person.token), "alg": "HS256"}
    signing_input = f"{b64url(json.dumps(header).encode())}.{person.token.split('.')[1]}"
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64url(signature)}"
    assert_unauthenticated(await http.get(f"{API}/users/me", headers={"Authorization": f"Bearer {forged}"}))


async def test_tampered_token_is_401(http: httpx.AsyncClient, person: Person) -> None:
    other = await sign_up(http, "Mallory")
    header, _, signature = person.token.split(".")
    claims = token_claims(person.token) | {"sub": other.user_id}
    tampered_claims = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
    extended = token_claims(person.token) | {"exp": int(time.time()) + 10 * 365 * 86400}
    tampered_expiry = f"{header}.{b64url(json.dumps(extended).encode())}.{signature}"
    flipped = person.token[:-2] + ("AA" if not person.token.endswith("AA") else "BB")
    for token in (tampered_claims, tampered_expiry, flipped):
        assert_unauthenticated(await http.get(f"{API}/users/me", headers={"Authorization": f"Bearer {token}"}))


async def test_a_refresh_token_is_not_an_access_token(http: httpx.AsyncClient, person: Person) -> None:
    response = await http.get(f"{API}/users/me", headers={"Authorization": f"Bearer {person.refresh_token}"})
    assert_unauthenticated(response)


async def test_wrong_password_and_unknown_email_look_the_same(http: httpx.AsyncClient, person: Person) -> None:
    wrong = await http.post(f"{API}/auth/login", json={"email": person.email, "password": "not the password!"})
    unknown = await http.post(f"{API}/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    assert_unauthenticated(wrong)
    assert_unauthenticated(unknown)
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_login_answers_a_bearer_token_pair(http: httpx.AsyncClient, person: Person) -> None:
    tokens = expect(await http.post(f"{API}/auth/login", json={"email": person.email, "password": PASSWORD}), 200)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] > 0
    assert tokens["access_token"]
    assert tokens["refresh_token"]
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}


async def test_refresh_rotates_and_a_spent_token_fails(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Rita")
    fresh = expect(await http.post(f"{API}/auth/refresh", json={"refresh_token": person.refresh_token}), 200)
    assert fresh["refresh_token"] != person.refresh_token
    expect(await http.get(f"{API}/users/me", headers={"Authorization": f"Bearer {fresh['access_token']}"}), 200)
    assert_unauthenticated(await http.post(f"{API}/auth/refresh", json={"refresh_token": person.refresh_token}))


async def test_logout_ends_the_session(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Lou")
    assert_unauthenticated(await http.post(f"{API}/auth/logout", json={"refresh_token": person.refresh_token}))
    response = await http.post(
        f"{API}/auth/logout", json={"refresh_token": person.refresh_token}, headers=person.headers
    )
    assert response.status_code == 204
    assert response.content == b""
    assert_unauthenticated(await http.post(f"{API}/auth/refresh", json={"refresh_token": person.refresh_token}))


async def test_jwks_is_served_with_and_without_the_prefix(http: httpx.AsyncClient, person: Person) -> None:
    bare = expect(await http.get("/.well-known/jwks.json"), 200)
    prefixed = expect(await http.get(f"{API}/.well-known/jwks.json"), 200)
    assert bare == prefixed
    kids = {key["kid"] for key in bare["keys"]}
    assert token_header(person.token)["kid"] in kids
    assert all("d" not in key for key in bare["keys"])  # public halves only
