"""Rate limits at the edge: a request budget per caller, and a failed-attempt budget on the auth endpoints.

**The request budget** (every route under `/api/`): one GCRA bucket (the generic cell rate algorithm, a leaky
bucket kept as one timestamp) per caller in Redis — the verified user of a bearer token, or, without credentials
that verify, the client (its IPv4 address, its IPv6 /64): a flood of made-up tokens or API keys spends one
client's budget (an API key this process holds no token for is charged to the client before it is exchanged).
`GATEWAY_RATE_LIMIT_USER` / `_ANONYMOUS` set them
("1200/minute": that many at once, refilled evenly over the period). Every answer carries `RateLimit-Limit`,
`RateLimit-Remaining`, `RateLimit-Reset` (seconds until the bucket is full again) and `RateLimit-Policy`; beyond
the budget it is 429 `rate_limited` with `Retry-After` (seconds until the next request is allowed).

Why GCRA in one Lua script and not the `limits` library here: the headers need the decision *and* the remaining
budget and reset on every request, which `limits` gives in two separate, non-atomic round trips (`hit`, then
`get_window_stats`: 290 µs of gateway CPU per request measured, against 140 µs for the one script), on the
gateway's hottest path (bench/RESULTS.md prices the check: ~0.2 ms of gateway CPU per request). The script takes
Redis' own clock, so any number of gateways share one budget.

Redis unavailable (an error, a call over `GATEWAY_RATE_LIMIT_TIMEOUT_MS`, the breaker open): the request budget
**fails open** — the request is served without RateLimit headers, logged (at most once a minute) and counted
(`hearth_gateway_rate_limit_total{decision="bypassed"}`). A cache outage must not become an API outage.

**The failed-attempt budget** (`AUTH_ROUTES`: login, register, the password and MFA endpoints): at most
`GATEWAY_AUTH_FAILURES_PER_ACCOUNT` (10) failed attempts per account and `GATEWAY_AUTH_FAILURES_PER_IP` (100) per
client IP within `GATEWAY_AUTH_FAILURE_WINDOW_SECONDS` (15 minutes, a moving window of the `limits` library); past
either, 429 until the window has passed — even with the right password, which is then never checked. The account
is the `email` of the body, read and normalised exactly as the route and the user service read it (kept as a
hash: no address in Redis), or, on the MFA and password-change endpoints, the caller (password reset: the IP
alone; its token names no account until it is checked). A route listed here is limited once the app serves it.
An attempt is taken from the account's budget before it runs (atomically, so a burst of parallel guesses gets no
more than the budget) and given back in full on success: the budget counts failures since the last success. The IP's is
counted when an attempt fails (a burst can overshoot it by the attempts in flight, which the user service's
password gate bounds). Password-forgot counts every attempt: each one may send a mail. Redis unavailable: these
limits **fail closed** to a strict in-process limiter (`GATEWAY_AUTH_FALLBACK_FAILURES_PER_ACCOUNT` / `_PER_IP`,
per gateway process, fed only while Redis is unavailable), logged and counted (`decision="fallback"`).

The client IP is the socket peer, or — only when that peer is one of `GATEWAY_TRUSTED_PROXIES` — the address the
proxies name in `X-Forwarded-For` (uvicorn's ProxyHeadersMiddleware, installed by gateway.app; uvicorn's own
proxy handling, which trusts 127.0.0.1 by default, is turned off). It takes the right-most address that is not a
trusted proxy: list only the proxies themselves — a client inside a trusted range could name any address.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from email_validator import EmailNotValidError
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from opentelemetry.instrumentation.utils import suppress_instrumentation
from prometheus_client import Counter
from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api_keys import KEY_PREFIX, KeyExchange
from gateway.asgi import read_body, replaying
from gateway.auth import presented_token, request_caller
from gateway.problems import problem
from kit.breaker import CircuitBreaker, Unavailable
from kit.context import Caller
from kit.text import normalized_email

log = logging.getLogger("hearth.gateway")

LIMITED_PREFIX = "/api/"
T = TypeVar("T")

RATE_LIMIT = Counter(
    "hearth_gateway_rate_limit_total",
    "Rate-limit decisions, by budget (request: the caller's request budget, auth: failed attempts on an auth "
    "endpoint) and decision (allowed, limited, bypassed: Redis unavailable, the request served unlimited; "
    "fallback: Redis unavailable, the in-process auth limiter decided)",
    ["budget", "decision"],
)


@dataclass(frozen=True)
class AuthRoute:
    """An endpoint whose failed attempts are limited. `account`: where the attempt's account is read from (the
    body's `email`, the verified caller, or nowhere: the IP alone); `every_attempt`: count successes too."""

    account: str | None
    every_attempt: bool = False


AUTH_ROUTES: dict[tuple[str, str], AuthRoute] = {
    ("POST", "/api/v1/auth/login"): AuthRoute("email"),
    ("POST", "/api/v1/auth/register"): AuthRoute("email"),
    ("POST", "/api/v1/auth/password/forgot"): AuthRoute("email", every_attempt=True),
    ("POST", "/api/v1/auth/password/reset"): AuthRoute(None),
    ("POST", "/api/v1/auth/password/change"): AuthRoute("caller"),
    ("POST", "/api/v1/auth/mfa/totp"): AuthRoute("caller"),
    ("POST", "/api/v1/auth/mfa/totp/activate"): AuthRoute("caller"),
    ("DELETE", "/api/v1/auth/mfa/totp"): AuthRoute("caller"),
    # Deleting the account asks for its password: a stolen access token must not make it a guessing oracle.
    ("DELETE", "/api/v1/users/me"): AuthRoute("caller"),
}

# GCRA: KEYS[1] holds the bucket's theoretical arrival time (µs, Redis' clock). ARGV: the burst (the limit) and
# the period in µs. Returns {allowed, remaining, µs until the bucket is full, µs until the next request may pass}.
# Numbers go to Redis through string.format: Lua's tostring would write 1.7e+15 and lose the microseconds.
_GCRA = """
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat + interval - period
if allow_at > now then
  return {0, 0, math.ceil(tat - now), math.ceil(allow_at - now)}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now - (new_tat - period)) / interval), math.ceil(new_tat - now), 0}
"""


def parse_limit(text: str) -> RateLimitItem:
    """ "600/minute", "10 per second", "1000/hour" — the `limits` notation; ValueError for anything else."""
    try:
        return parse(text)
    except ValueError as exc:
        raise ValueError(f"not a rate limit (like '600/minute'): {text!r}") from exc


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int
    period_seconds: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
            (b"ratelimit-policy", f"{self.limit};w={self.period_seconds}".encode()),
        ]


class _Quiet:
    """Log each recurring warning at most once per `every` seconds (an outage must not flood the log); one
    message's repeats never silence another."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._last: dict[str, float] = {}

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(message, -math.inf) >= self.every:
            self._last[message] = now
            log.warning(message, *args)


class RateLimiter:
    """The request budget (GCRA in Redis) and the auth endpoints' failed-attempt budget (`limits`' moving window
    in Redis, an in-process one when Redis is unavailable)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        redis_url: str,
        *,
        namespace: str,
        user: RateLimitItem,
        anonymous: RateLimitItem,
        failures_per_account: int,
        failures_per_ip: int,
        failure_window_seconds: int,
        fallback_per_account: int,
        fallback_per_ip: int,
        timeout: float,
        ipv6_prefix: int = 64,
    ) -> None:
        self._prefix = f"{namespace}:gateway:ratelimit:"
        self.ipv6_prefix = ipv6_prefix
        self.user = user
        self.anonymous = anonymous
        self.timeout = timeout
        self.breaker = CircuitBreaker("gateway:ratelimit")
        self._gcra = redis.register_script(_GCRA)
        window = f"{failure_window_seconds} second"
        # The same connection pool as every other Redis call of the gateway (its ACL user, its timeouts); `limits`
        # passes it on to redis-py (its options are typed for scalars only).
        pool: dict[str, Any] = {"connection_pool": redis.connection_pool}
        storage = RedisStorage("async+" + redis_url, implementation="redispy", key_prefix=self._prefix + "auth", **pool)
        self.failures = _FailureBudget(
            MovingWindowRateLimiter(storage),
            parse_limit(f"{failures_per_account} per {window}"),
            parse_limit(f"{failures_per_ip} per {window}"),
            guard=self._call,
        )
        self.local_failures = _FailureBudget(
            MovingWindowRateLimiter(MemoryStorage()),
            parse_limit(f"{fallback_per_account} per {window}"),
            parse_limit(f"{fallback_per_ip} per {window}"),
        )
        self._quiet = _Quiet()

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call` through the breaker, within the timeout; kit.breaker.Unavailable when Redis does not serve it."""
        return await self.breaker.call(call, timeout=self.timeout, errors=(RedisError, OSError, StorageError))

    async def take(self, identity: str, item: RateLimitItem) -> Decision | None:
        """One request from `identity`'s budget: the decision, or None when Redis cannot decide (fail open)."""
        period = item.get_expiry()
        try:
            # Untraced: a Redis span on every request of every caller adds about a third to the check's cost and says
            # little (the call is bounded by the timeout and the breaker; its outcome is counted).
            with suppress_instrumentation():
                allowed, remaining, reset_us, retry_us = await self._call(
                    # The policy is part of the key: a bucket filled at one rate is never read at another.
                    lambda: self._gcra(
                        keys=[f"{self._prefix}{identity}:{item.amount}/{period}"],
                        args=[item.amount, period * 1_000_000],
                    )
                )
        except Unavailable as exc:
            RATE_LIMIT.labels("request", "bypassed").inc()
            self._quiet.warning("rate limits unavailable (%s); requests are served unlimited", exc)
            return None
        RATE_LIMIT.labels("request", "allowed" if allowed else "limited").inc()
        return Decision(
            allowed=bool(allowed),
            limit=item.amount,
            remaining=max(0, int(remaining)),
            reset_seconds=math.ceil(int(reset_us) / 1_000_000),
            retry_after_seconds=max(1, math.ceil(int(retry_us) / 1_000_000)),
            period_seconds=period,
        )

    async def attempt(self, account: str | None, ip: str) -> int | None:
        """Before an auth attempt: None when it may run (the account's budget is charged one), else the seconds
        until it may (the account's or the IP's failures are at their limit)."""
        try:
            return await self.failures.attempt(account, ip)
        except Unavailable as exc:
            RATE_LIMIT.labels("auth", "fallback").inc()
            self._quiet.warning("auth limits unavailable in Redis (%s); the in-process limiter decides", exc)
            return await self.local_failures.attempt(account, ip)

    async def settle(self, account: str | None, ip: str, *, succeeded: bool, every_attempt: bool) -> None:
        """After an auth attempt ran: a failure counts against the IP; a success gives the account its budget back
        (or, where every attempt counts, counts like a failure). In Redis; in the in-process budget only when Redis
        cannot take it, so that one holds only an outage's attempts (`limits`' memory storage sweeps every key it
        holds after each hit: fed on every failure, a credential-stuffing run would make each one cost more)."""
        try:
            await self.failures.settle(account, ip, succeeded=succeeded, every_attempt=every_attempt)
        except Unavailable as exc:
            self._quiet.warning("could not record an auth attempt in Redis (%s); recorded in-process", exc)
            await self.local_failures.settle(account, ip, succeeded=succeeded, every_attempt=every_attempt)


@dataclass(frozen=True)
class _FailureBudget:
    """Failed attempts per account and per IP in one `limits` moving window: Redis' (every call through `guard`,
    the breaker and the timeout) or an in-process one (`guard` None)."""

    limiter: MovingWindowRateLimiter
    per_account: RateLimitItem
    per_ip: RateLimitItem
    guard: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]] | None = None

    async def _run(self, call: Callable[[], Awaitable[T]]) -> T:
        return await (self.guard(call) if self.guard is not None else call())

    async def attempt(self, account: str | None, ip: str) -> int | None:
        limiter = self.limiter
        if not await self._run(lambda: limiter.test(self.per_ip, "ip", ip)):
            return await self._wait(self.per_ip, "ip", ip)
        if account is not None:
            # In Redis the attempt is charged now (check and charge are one script: parallel guesses get no more
            # than the budget); the in-process budget is charged when the attempt has failed (`settle`).
            check = limiter.hit if self.guard is not None else limiter.test
            if not await self._run(lambda: check(self.per_account, "account", account)):
                return await self._wait(self.per_account, "account", account)
        RATE_LIMIT.labels("auth", "allowed").inc()
        return None

    async def _wait(self, item: RateLimitItem, *identifiers: str) -> int:
        RATE_LIMIT.labels("auth", "limited").inc()
        stats = await self._run(lambda: self.limiter.get_window_stats(item, *identifiers))
        return max(1, math.ceil(float(stats.reset_time) - time.time()))

    async def settle(self, account: str | None, ip: str, *, succeeded: bool, every_attempt: bool) -> None:
        limiter = self.limiter
        if not succeeded or every_attempt:
            await self._run(lambda: limiter.hit(self.per_ip, "ip", ip))
            if self.guard is None and account is not None:  # Redis' account budget was charged before the attempt
                await self._run(lambda: limiter.hit(self.per_account, "account", account))
        elif account is not None:
            await self._run(lambda: limiter.clear(self.per_account, "account", account))


def _unexchanged_api_key(scope: Scope) -> bool:
    """Whether the request presents an API key this process holds no access token for."""
    authorization = Headers(scope=scope).get("authorization")
    token = presented_token(authorization) if authorization is not None else None
    if token is None or not token.startswith(KEY_PREFIX):
        return False
    exchange: KeyExchange = scope["app"].state.key_exchange
    return not exchange.holds(token)


class RateLimitMiddleware:
    """`served`: the (method, path) pairs the app routes; an entry of AUTH_ROUTES outside them (a route listed ahead
    of the app serving it) is not limited as a sign-in — its 404 must not charge anyone's account."""

    def __init__(self, app: ASGIApp, served: frozenset[tuple[str, str]] | None = None) -> None:
        self.app = app
        self.auth_routes = {key: route for key, route in AUTH_ROUTES.items() if served is None or key in served}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(LIMITED_PREFIX):
            await self.app(scope, receive, send)
            return
        limiter: RateLimiter = scope["app"].state.rate_limiter
        ip = _client_key(scope, limiter.ipv6_prefix)
        charged = None
        if _unexchanged_api_key(scope):
            # Finding out whether a key is good costs the user service a lookup: the client's address pays first,
            # so a flood of made-up keys is stopped here, not there.
            charged = await limiter.take(f"ip:{ip}", limiter.anonymous)
            if charged is not None and not charged.allowed:
                await _refuse(scope, receive, send, charged.retry_after_seconds, charged.headers(), "too many requests")
                return
        verdict = await request_caller(scope)
        caller = f"user:{verdict.user_id}" if isinstance(verdict, Caller) else None
        identity, item = (f"caller:{caller}", limiter.user) if caller else (f"ip:{ip}", limiter.anonymous)
        decision = charged if charged is not None and not caller else await limiter.take(identity, item)
        extra = decision.headers() if decision is not None else []
        if decision is not None and not decision.allowed:
            await _refuse(scope, receive, send, decision.retry_after_seconds, extra, "too many requests")
            return
        route = self.auth_routes.get((scope["method"], scope["path"]))
        if route is None:
            await self.app(scope, receive, _with_headers(send, extra))
            return
        await self._auth_attempt(scope, receive, send, limiter, route, caller, ip, extra)

    async def _auth_attempt(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        limiter: RateLimiter,
        route: AuthRoute,
        caller: str | None,
        ip: str,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        body = await read_body(receive)
        if body is None:
            return  # the client went away mid-upload: no attempt
        account = _account(route, body, caller)
        wait = await limiter.attempt(account, ip)
        if wait is not None:
            detail = f"too many failed attempts; try again in {wait} seconds"
            await _refuse(scope, receive, send, wait, extra, detail)
            return

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Settled before the answer leaves, so the client's next attempt, however fast, meets the count
                # (with Redis down the in-process count is only taken here). An attempt fails with a 4xx answer
                # (wrong password, MFA code, a taken address); a 429 or 5xx says nothing about the credentials and
                # is not held against the IP (the account's charge stays).
                status = message["status"]
                failed = 400 <= status < 500 and status != 429
                if failed or 200 <= status < 300:
                    await limiter.settle(account, ip, succeeded=not failed, every_attempt=route.every_attempt)
            await send(message)

        await self.app(scope, replaying(body, receive), _with_headers(observe, extra))


async def _refuse(
    scope: Scope, receive: Receive, send: Send, retry_after: int, extra: list[tuple[bytes, bytes]], detail: str
) -> None:
    response = problem(429, "rate_limited", detail, headers={"Retry-After": str(retry_after)})
    await response(scope, receive, _with_headers(send, extra))


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    """`send` adding the budget's headers, and `Retry-After: 1` to a 429 that came without one (a service's
    RESOURCE_EXHAUSTED: the user service's argon2 gate, say), so every 429 says when to come back."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), *extra]
            if message["status"] == 429 and not any(name.lower() == b"retry-after" for name, _ in headers):
                headers.append((b"retry-after", b"1"))
            message["headers"] = headers
        await send(message)

    return sending


def _client_key(scope: Scope, ipv6_prefix: int) -> str:
    """The client as the limits count it: its IPv4 address, or its IPv6 network of `ipv6_prefix` bits (one /64 is
    one subscriber's, and holds 2^64 addresses to rotate through)."""
    client = scope.get("client")
    if not client:
        return "unknown"
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return str(client[0])
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is the IPv4 client it names
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{ipv6_prefix}", strict=False))
    return str(address)


def _account(route: AuthRoute, body: bytes, caller: str | None) -> str | None:
    """The account an auth attempt is about, as a hash (Redis holds no address): the verified caller, or the body's
    `email` read exactly as the route reads it — the standard library's parser, as FastAPI's (any encoding it
    detects, a byte-order mark, the last of duplicate keys) — and normalised as the user service looks accounts
    up (kit.text.normalized_email), so no spelling of an address is another account here. None when there is no
    address: the route refuses such a body (422) without checking any password."""
    if route.account == "caller":
        return caller
    if route.account != "email" or not body:
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    email = document.get("email") if isinstance(document, dict) else None
    if not isinstance(email, str) or not email.strip():
        return None
    try:
        address = normalized_email(email)
    except EmailNotValidError:  # no account has it: the service answers it as an unknown one
        address = email.strip().casefold()
    return hashlib.sha256(address.encode()).hexdigest()[:32]


__all__ = ["AUTH_ROUTES", "RATE_LIMIT", "Decision", "RateLimitMiddleware", "RateLimiter", "parse_limit"]
