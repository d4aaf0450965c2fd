"""Rate limits through the real gateway and services (gateway.ratelimit): the request budget and its headers,
the failed-attempt budget of the auth endpoints (per account, per IP, parallel guesses, the window passing),
trusted proxies, Redis unavailable (the request budget open, the auth budget closed), and the user service's
argon2 gate under a login flood.

Each test runs its own gateway with small budgets. Where a test needs a client IP of its own, the gateway
trusts 127.0.0.1 as a proxy and the test names a fresh TEST-NET address in X-Forwarded-For; users are new in
every test, so their budgets are too."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from gateway.config import GatewaySettings
from gateway.ratelimit import RateLimitMiddleware
from tests.support.api import API, assert_rate_limited, expect, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.infra import unique
from tests.support.people import PASSWORD
from tests.support.stack import another_gateway, replica

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user"], gateway=True)
http = http_fixture()

_addresses = (f"198.51.100.{n}" for n in itertools.count(1))
BEHIND_PROXY: dict[str, Any] = {"trusted_proxies": ["127.0.0.1"]}


def client_ip() -> dict[str, str]:
    """A client address of its own, named by the (trusted) proxy."""
    return {"X-Forwarded-For": next(_addresses)}


def counted(budget: str, decision: str) -> float:
    labels = {"budget": budget, "decision": decision}
    return REGISTRY.get_sample_value("hearth_gateway_rate_limit_total", labels) or 0.0


def login(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {"email": email, "password": password}


async def attempt(gateway: httpx.AsyncClient, email: str, password: str, headers: dict[str, str]) -> int:
    return (await gateway.post(f"{API}/auth/login", json=login(email, password), headers=headers)).status_code


async def test_every_answer_carries_the_budget_and_beyond_it_is_429(stack: Any, http: httpx.AsyncClient) -> None:
    rita, sam = await sign_up(http, "Rita"), await sign_up(http, "Sam")
    async with another_gateway(stack, rate_limit_user="3/minute") as gateway:
        seen = []
        for _ in range(3):
            answer = await gateway.get(f"{API}/users/me", headers=rita.headers)
            assert answer.status_code == 200
            assert answer.headers["ratelimit-limit"] == "3"
            assert answer.headers["ratelimit-policy"] == "3;w=60"
            assert 0 < int(answer.headers["ratelimit-reset"]) <= 60
            seen.append(int(answer.headers["ratelimit-remaining"]))
        assert seen == [2, 1, 0]
        over = await gateway.get(f"{API}/users/me", headers=rita.headers)
        problem = assert_rate_limited(over)
        assert over.headers["ratelimit-remaining"] == "0"
        # GCRA refills evenly: one request's worth (60 s / 3) comes back within 20 s.
        assert int(over.headers["retry-after"]) <= 20
        assert problem["correlation_id"] == over.headers["x-correlation-id"]
        # A write is refused before it runs (and claims no Idempotency-Key).
        refused = await gateway.patch(
            f"{API}/users/me", json={"display_name": "R"}, headers={**rita.headers, "Idempotency-Key": unique("k")}
        )
        assert_rate_limited(refused)
        # Budgets are per caller: Sam's is whole.
        other = await gateway.get(f"{API}/users/me", headers=sam.headers)
        assert other.status_code == 200
        assert other.headers["ratelimit-remaining"] == "2"
    assert expect(await http.get(f"{API}/users/me", headers=rita.headers), 200)["display_name"] == "Rita"


async def test_without_credentials_that_verify_the_budget_is_the_ip_s(stack: Any) -> None:
    async with another_gateway(stack, rate_limit_anonymous="2/minute", **BEHIND_PROXY) as gateway:
        mine, theirs = client_ip(), client_ip()
        assert (await gateway.get(f"{API}/.well-known/jwks.json", headers=mine)).status_code == 200
        # Made-up tokens do not buy a budget each: they spend the IP's (and are then refused before being judged).
        forged = {**mine, "Authorization": "Bearer not-a-token"}
        unauthenticated = await gateway.get(f"{API}/users/me", headers=forged)
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["ratelimit-remaining"] == "0"
        assert_rate_limited(await gateway.get(f"{API}/users/me", headers=forged))
        assert_rate_limited(await gateway.get(f"{API}/.well-known/jwks.json", headers=mine))
        # Another client's budget is its own; operations endpoints are not limited at all.
        assert (await gateway.get(f"{API}/.well-known/jwks.json", headers=theirs)).status_code == 200
        liveness = await gateway.get("/health/liveness", headers=mine)
        assert liveness.status_code == 200
        assert "ratelimit-limit" not in liveness.headers


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(stack: Any) -> None:
    async with another_gateway(stack, rate_limit_anonymous="1/minute") as gateway:
        # Not behind a trusted proxy: the header is the client's own claim, ignored; the socket peer is the client.
        first = await gateway.get(f"{API}/.well-known/jwks.json", headers=client_ip())
        assert first.status_code == 200
        assert_rate_limited(await gateway.get(f"{API}/.well-known/jwks.json", headers=client_ip()))


async def test_failed_logins_per_account_then_429_even_with_the_right_password(
    stack: Any, http: httpx.AsyncClient
) -> None:
    rita, sam = await sign_up(http, "Rita"), await sign_up(http, "Sam")
    async with another_gateway(stack, auth_failures_per_account=3, **BEHIND_PROXY) as gateway:
        ip = client_ip()
        for _ in range(3):
            wrong = await gateway.post(f"{API}/auth/login", json=login(rita.email, "wrong password!"), headers=ip)
            assert wrong.status_code == 401
        refused = await gateway.post(f"{API}/auth/login", json=login(rita.email), headers=ip)
        problem = assert_rate_limited(refused)
        assert "failed attempts" in problem["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 900
        # The account is the address however it is spelled, and from any IP.
        shouted = login(f"  {rita.email.upper()} ")
        assert_rate_limited(await gateway.post(f"{API}/auth/login", json=shouted, headers=client_ip()))
        # Sam, from the same IP, is not locked out.
        assert (await gateway.post(f"{API}/auth/login", json=login(sam.email), headers=ip)).status_code == 200


async def test_a_success_gives_the_account_its_budget_back(stack: Any, http: httpx.AsyncClient) -> None:
    rita = await sign_up(http, "Rita")
    async with another_gateway(stack, auth_failures_per_account=3, **BEHIND_PROXY) as gateway:
        ip = client_ip()
        assert [await attempt(gateway, rita.email, "nope" * 3, ip) for _ in range(2)] == [401, 401]
        assert await attempt(gateway, rita.email, PASSWORD, ip) == 200
        # The failures before the success no longer count: three more are allowed (then the fourth is refused).
        assert [await attempt(gateway, rita.email, "nope" * 3, ip) for _ in range(4)] == [401, 401, 401, 429]


async def test_failed_attempts_per_ip_across_accounts_and_register(stack: Any, http: httpx.AsyncClient) -> None:
    taken = await sign_up(http, "Tom")
    async with another_gateway(stack, auth_failures_per_ip=3, **BEHIND_PROXY) as gateway:
        ip = client_ip()
        # A duplicate registration is a failed attempt too (someone probing which addresses exist).
        duplicate = {"email": taken.email, "password": PASSWORD, "display_name": "Tom"}
        assert (await gateway.post(f"{API}/auth/register", json=duplicate, headers=ip)).status_code == 409
        for n in range(2):
            guess = login(f"{unique('nobody')}{n}@example.com", "wrong password!")
            assert (await gateway.post(f"{API}/auth/login", json=guess, headers=ip)).status_code == 401
        # This IP is done for the window — for every account, the right password included.
        assert_rate_limited(await gateway.post(f"{API}/auth/login", json=login(taken.email), headers=ip))
        fresh = {"email": f"{unique('new')}@example.com", "password": PASSWORD, "display_name": "New"}
        assert_rate_limited(await gateway.post(f"{API}/auth/register", json=fresh, headers=ip))
        # Another IP signs in as usual; successes never count against an IP.
        other = client_ip()
        for _ in range(4):
            assert (await gateway.post(f"{API}/auth/login", json=login(taken.email), headers=other)).status_code == 200


async def test_parallel_guesses_get_no_more_than_the_budget(stack: Any, http: httpx.AsyncClient) -> None:
    rita = await sign_up(http, "Rita")
    async with another_gateway(stack, auth_failures_per_account=4, **BEHIND_PROXY) as gateway:
        guesses = [
            gateway.post(f"{API}/auth/login", json=login(rita.email, f"guess number {n}"), headers=client_ip())
            for n in range(20)
        ]
        statuses = sorted(answer.status_code for answer in await asyncio.gather(*guesses))
    assert statuses == [401] * 4 + [429] * 16


async def test_the_lockout_ends_when_the_window_has_passed(stack: Any, http: httpx.AsyncClient) -> None:
    rita = await sign_up(http, "Rita")
    async with another_gateway(
        stack, auth_failures_per_account=1, auth_failure_window_seconds=1, **BEHIND_PROXY
    ) as gateway:
        ip = client_ip()
        assert await attempt(gateway, rita.email, "x" * 12, ip) == 401
        refused = await gateway.post(f"{API}/auth/login", json=login(rita.email), headers=ip)
        assert_rate_limited(refused)
        assert refused.headers["retry-after"] == "1"
        # Time itself is what is awaited here: the window is one second long.
        for _ in range(50):
            answer = await gateway.post(f"{API}/auth/login", json=login(rita.email), headers=ip)
            if answer.status_code == 200:
                break
            assert answer.status_code == 429
            await asyncio.sleep(0.1)
        assert answer.status_code == 200


async def test_without_redis_requests_go_unlimited_and_sign_ins_are_limited_in_process(
    stack: Any, http: httpx.AsyncClient
) -> None:
    rita = await sign_up(http, "Rita")
    bypassed, fallback = counted("request", "bypassed"), counted("auth", "fallback")
    async with another_gateway(
        stack,
        redis_url="redis://127.0.0.1:1/0",
        rate_limit_user="1/minute",
        auth_fallback_failures_per_account=2,
        rate_limit_timeout_ms=50,
    ) as gateway:
        for _ in range(3):  # over the user's budget of one, which Redis cannot keep: served
            served = await gateway.get(f"{API}/users/me", headers=rita.headers)
            assert served.status_code == 200
            assert "ratelimit-limit" not in served.headers
        assert counted("request", "bypassed") >= bypassed + 3
        statuses = [
            (await gateway.post(f"{API}/auth/login", json=login(rita.email, "wrong password!"))).status_code
            for _ in range(2)
        ]
        assert statuses == [401, 401]
        assert_rate_limited(await gateway.post(f"{API}/auth/login", json=login(rita.email)))
        assert counted("auth", "fallback") >= fallback + 3


async def test_a_login_flood_is_refused_quickly_and_others_are_served(stack: Any, http: httpx.AsyncClient) -> None:
    # A user service whose argon2 costs what production's does, with a gate of one at a time and one waiting.
    costly = {"password_time_cost": 3, "password_memory_kib": 65536, "password_parallelism": 4}
    bystander = await sign_up(http, "Bea")
    async with (
        replica(stack, "user", **costly, password_concurrency=1, password_queue=1) as slow,
        another_gateway(stack, user_addr=f"127.0.0.1:{slow.port}", **BEHIND_PROXY) as gateway,
    ):
        email = f"{unique('flood')}@example.com"
        body = {"email": email, "password": PASSWORD, "display_name": "Flo"}
        expect(await gateway.post(f"{API}/auth/register", json=body), 201)  # hashed at the costly setting
        flood = [
            gateway.post(f"{API}/auth/login", json=login(email, f"guess {n} of many"), headers=client_ip())
            for n in range(12)
        ]
        during = gateway.get(f"{API}/users/me", headers=bystander.headers)
        *answers, served = await asyncio.gather(*flood, during)
    statuses = [answer.status_code for answer in answers]
    assert served.status_code == 200
    # Beyond the gate: refused at once (429, never a 504 after the deadline); within it: judged (401).
    assert set(statuses) <= {401, 429}
    assert statuses.count(429) >= 8
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.json()["code"] == "rate_limited"
    assert "retry-after" in refused.headers


async def test_no_spelling_or_encoding_of_a_login_escapes_the_account_budget(
    stack: Any, http: httpx.AsyncClient
) -> None:
    rita = await sign_up(http, "Rita")
    local, domain = rita.email.split("@")
    wide = domain.translate({c: c + 0xFEE0 for c in range(ord("a"), ord("z") + 1)})  # full-width letters
    guess = json.dumps({"email": rita.email, "password": "wrong password!"})
    bodies = [
        guess.encode("utf-16"),  # the standard library (FastAPI) reads UTF-16 and a byte-order mark; orjson not
        b"\xef\xbb\xbf" + guess.encode(),
        # Duplicate keys: the last one counts, for the route as for the limiter.
        b'{"email": "nobody@example.com", "password": "x", ' + guess[1:].encode(),
        json.dumps({"email": f"{local}@{wide}", "password": "wrong password!"}).encode(),  # IDNA: the same account
    ]
    async with another_gateway(stack, auth_failures_per_account=len(bodies), **BEHIND_PROXY) as gateway:
        for body in bodies:
            answer = await gateway.post(
                f"{API}/auth/login", content=body, headers={**client_ip(), "content-type": "application/json"}
            )
            assert answer.status_code == 401, (body, answer.text)  # each one checked, and each one counted
        assert_rate_limited(await gateway.post(f"{API}/auth/login", json=login(rita.email), headers=client_ip()))


async def test_made_up_api_keys_spend_the_client_s_budget(stack: Any) -> None:
    async with another_gateway(stack, rate_limit_anonymous="2/minute", **BEHIND_PROXY) as gateway:
        ip = client_ip()
        statuses = [
            (await gateway.get(f"{API}/users/me", headers={**ip, "Authorization": f"Bearer hk_{n:032d}"})).status_code
            for n in range(4)
        ]
    assert statuses == [401, 401, 429, 429]


async def test_an_ipv6_client_is_its_64(stack: Any) -> None:
    async with another_gateway(stack, rate_limit_anonymous="2/minute", **BEHIND_PROXY) as gateway:
        jwks = f"{API}/.well-known/jwks.json"
        for address in ("2001:db8:0:7::1", "2001:db8:0:7:ffff:ffff:ffff:ffff"):  # two addresses of one /64
            assert (await gateway.get(jwks, headers={"X-Forwarded-For": address})).status_code == 200
        assert_rate_limited(await gateway.get(jwks, headers={"X-Forwarded-For": "2001:db8:0:7:1234::5"}))
        assert (await gateway.get(jwks, headers={"X-Forwarded-For": "2001:db8:0:8::1"})).status_code == 200


async def test_a_trusted_proxy_range_is_read_as_the_network_it_names() -> None:
    # uvicorn takes an entry with host bits set for a host name, which would trust nothing at all.
    settings = GatewaySettings(trusted_proxies=["10.0.0.1/8", "192.0.2.7", "2001:db8::1/64"])
    assert settings.trusted_proxies == ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/64"]
    with pytest.raises(ValueError, match="not-an-address"):
        GatewaySettings(trusted_proxies=["not-an-address"])


async def test_a_sign_in_route_the_app_does_not_serve_is_not_limited_as_one() -> None:
    # AUTH_ROUTES may list a route ahead of the app serving it (issue 15's did): until it is served, its 404s must
    # not lock anyone out.
    served = frozenset({("POST", f"{API}/auth/login")})
    assert set(RateLimitMiddleware(app=None, served=served).auth_routes) == served  # type: ignore[arg-type]
