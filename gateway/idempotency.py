"""Idempotency-Key on every POST, PATCH and DELETE: a retried write gets the first answer, and the work is done once.

The semantics of the IETF draft (draft-ietf-httpapi-idempotency-key-header), kept by the gateway in Redis for 24 h
(`GATEWAY_IDEMPOTENCY_TTL_SECONDS`), for every write route at once — no route knows about it:

- The first request with a key claims it (`SET NX`, with a lock that outlives the request's deadline) and runs;
  its response — status, the headers that matter (`IDEMPOTENT_HEADERS`) and body — is then stored under the key.
- The same key with the same request (method, path, query and body — JSON compared in canonical form; their
  SHA-256 is the fingerprint) answers the stored response, marked `Idempotent-Replayed: true`; the route does
  not run again.
- The same key with another request is 422 `idempotency_key_reused`; the same key while the first request is
  still running is 409 `idempotency_key_in_use` with `Retry-After: 1`.
- A key belongs to its caller: the user id of a bearer token that verifies; a request without credentials
  shares one anonymous scope. A request whose credentials do not verify here runs without the gateway's memory
  (the route answers it), so no answer lands in the anonymous scope by mistake. Two users' keys never meet.
- A photo upload (`POST /api/v1/households/{hid}/photos`) is not kept either, nor read here: its body (up to 10
  MiB) streams through to the task service (gateway.routes.photos). A retried upload stores a second photo that
  nothing refers to; the client uses the one whose answer it got.
- Nothing under `/api/v1/auth/` is kept (passwords, codes, tokens), nor `DELETE /api/v1/users/me` (a password);
  register relies on the user service's `request_id`.
- A 5xx, an answer that says "try again" (408, 409, 425, 429, 499), one marked `Cache-Control: no-store` (an
  invite's code), one cut short, or one over 256 KiB is not stored and its key is released: a retry runs again.
  The services' own `request_id` (the key, forwarded by the routes) stays the second line of defence, so a
  write the gateway could not remember still happens once where the service supports it.
- Redis unavailable (an error, a call over `GATEWAY_IDEMPOTENCY_TIMEOUT_MS`, or the breaker open): the request
  runs without the gateway's memory — logged and counted (`hearth_gateway_idempotency_total{outcome="bypassed"}`)
  — and the service's `request_id` decides. Refusing every write while Redis is down would turn a cache outage
  into a write outage.

Records live under `{namespace}:gateway:idempotency:*`, keys only the gateway's own Redis user may read or write
(kit.redis_acl), so no other process can read a stored answer or plant one.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.asgi import read_body, replaying
from gateway.auth import request_caller
from gateway.problems import problem
from kit.breaker import CircuitBreaker, Unavailable
from kit.context import Caller
from kit.errors import FieldViolation

log = logging.getLogger("hearth.gateway")

HEADER = "idempotency-key"
WRITES = frozenset({"POST", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 200
# The response headers a replay repeats; the others belong to the answer's moment (its correlation id, its date).
IDEMPOTENT_HEADERS = frozenset(
    {
        b"content-type",
        b"etag",
        b"location",
        b"content-language",
        b"vary",
        b"deprecation",
        b"sunset",
        b"link",
        b"cache-control",
        b"www-authenticate",
        b"retry-after",
    }
)
# Answers that say "try again" (timeout, conflict with a concurrent change, too early, rate limited, cancelled):
# kept, they would turn the retry the client should make into a replay of the refusal.
RETRYABLE = frozenset({408, 409, 425, 429, 499})
# Bodies larger than this are not kept (the key is released): a replay is for API answers, not downloads.
MAX_KEPT_BODY = 256 * 1024
# But a batch's answer is kept whole: released, a retried batch would create its chores again. 500 plain chores answer
# ~0.5 MiB; a 1 MiB request of chores full of subtasks answers ~2.5 MiB (ids, etags and times added to each). Batches
# are few (each is one write of the rate limit), so the larger records stay few too.
MAX_KEPT_BATCH_BODY = 4 * 1024 * 1024
BATCH_SUFFIX = "/batch"


def kept_body_limit(scope: Scope) -> int:
    """The largest answer to `scope`'s request that a retry can be answered with."""
    return MAX_KEPT_BATCH_BODY if scope["method"] == "POST" and scope["path"].endswith(BATCH_SUFFIX) else MAX_KEPT_BODY


# Nothing under /auth/ is kept: its bodies are passwords, codes and tokens, and even a fingerprint of a password
# is not something to leave in Redis for a day. Register, the one write there that must not run twice, has the
# user service's request_id (the forwarded key).
UNKEPT_PREFIX = "/api/v1/auth/"
# Writes elsewhere whose bodies hold a password for the same reason (deleting the account).
UNKEPT_WRITES = frozenset({("DELETE", "/api/v1/users/me")})
REPLAYED_HEADER = (b"idempotent-replayed", b"true")

IDEMPOTENCY = Counter(
    "hearth_gateway_idempotency_total",
    "Writes with an Idempotency-Key, by outcome (stored, replayed, reused: another request, in_use: still running, "
    "released: an answer not kept (5xx, retryable, no-store, incomplete, too large), bypassed: Redis unavailable or "
    "credentials not verifiable here)",
    ["outcome"],
)

T = TypeVar("T")

# Store the response only if the key still holds this request's claim (a claim that outlived its lock may have
# been taken over by a retry since).
_FINISH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Record:
    fingerprint: str
    status: int | None = None  # None: still running
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""

    @classmethod
    def parse(cls, raw: bytes | str) -> Record | None:
        try:
            data = json.loads(raw)
            if data.get("status") is None:
                return cls(str(data["fingerprint"]))
            return cls(
                str(data["fingerprint"]),
                int(data["status"]),
                tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in data["headers"]),
                base64.b64decode(data["body"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


class IdempotencyStore:
    def __init__(self, redis: aioredis.Redis, *, namespace: str, ttl: int, lock_ttl: int, timeout: float) -> None:
        self._redis = redis
        self._prefix = f"{namespace}:gateway:idempotency:"
        self.ttl = ttl
        self.lock_ttl = lock_ttl
        self.timeout = timeout
        self.breaker = CircuitBreaker("gateway:idempotency")
        self._finish = redis.register_script(_FINISH)
        self._release = redis.register_script(_RELEASE)

    def key(self, scope: str, idempotency_key: str) -> str:
        return self._prefix + hashlib.sha256(f"{scope}\n{idempotency_key}".encode()).hexdigest()

    async def claim(self, key: str, fingerprint: str) -> tuple[str | None, Record | None]:
        """(claim, None) when this request now holds the key; (None, record) when another holds or held it."""
        claim = json.dumps({"fingerprint": fingerprint, "status": None, "claim": secrets.token_hex(16)})
        for _ in range(3):  # the other's record may expire between our SET and our GET
            if await self._call(lambda: self._redis.set(key, claim, nx=True, ex=self.lock_ttl)):
                return claim, None
            raw = await self._call(lambda: self._redis.get(key))
            if raw is not None:
                record = Record.parse(raw)
                if record is not None:
                    return None, record
                # Unreadable: treated as absent — deleted only if it is still that value (not a new claim since).
                await self._call(functools.partial(self._release, keys=[key], args=[raw]))
        raise Unavailable("the key kept changing under us")

    async def finish(self, key: str, claim: str, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        stored = json.dumps(
            {
                "fingerprint": json.loads(claim)["fingerprint"],
                "status": status,
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers],
                "body": base64.b64encode(body).decode(),
            }
        )
        await self._call(lambda: self._finish(keys=[key], args=[claim, stored, self.ttl]))

    async def release(self, key: str, claim: str) -> None:
        await self._call(lambda: self._release(keys=[key], args=[claim]))

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call` through the breaker, within the timeout; kit.breaker.Unavailable when Redis does not serve it."""
        return await self.breaker.call(call, timeout=self.timeout, errors=(RedisError, OSError))


class IdempotencyMiddleware:
    """`streamed`: (method, path pattern) of writes whose bodies stream through untouched (a photo upload: up to
    10 MiB, never held whole by the gateway), so the gateway keeps no answer for them."""

    def __init__(self, app: ASGIApp, *, streamed: Sequence[tuple[str, re.Pattern[str]]] = ()) -> None:
        self.app = app
        self.streamed = tuple(streamed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITES or self._streamed(scope):
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(HEADER)
        if given is None:
            await self.app(scope, receive, send)
            return
        idempotency_key = _valid_key(given)
        if idempotency_key is None:
            message = f"must be 1 to {MAX_KEY_LENGTH} visible ASCII characters (a UUID, say)"
            await problem(
                422, "validation_failed", "the request is not valid", [FieldViolation("Idempotency-Key", message)]
            )(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # disconnected mid-upload: nobody to answer, and a partial body must not claim the key
        store: IdempotencyStore = scope["app"].state.idempotency
        owner = await _caller_scope(scope)
        if (
            owner is None
            or scope["path"].startswith(UNKEPT_PREFIX)
            or (scope["method"], scope["path"]) in UNKEPT_WRITES
        ):
            await self.app(scope, replaying(body, receive), send)
            return
        key = store.key(owner, idempotency_key)
        fingerprint = _fingerprint(scope, body)
        try:
            claim, record = await store.claim(key, fingerprint)
        except Unavailable as exc:
            IDEMPOTENCY.labels("bypassed").inc()
            log.warning("idempotency store unavailable (%s); the write runs without it", exc)
            await self.app(scope, replaying(body, receive), send)
            return
        if record is not None:
            await _answer_from(record, fingerprint, scope, receive, send)
            return
        assert claim is not None
        await self._run(scope, body, receive, send, store, key, claim)

    def _streamed(self, scope: Scope) -> bool:
        return any(scope["method"] == method and path.fullmatch(scope["path"]) for method, path in self.streamed)

    async def _run(
        self, scope: Scope, body: bytes, receive: Receive, send: Send, store: IdempotencyStore, key: str, claim: str
    ) -> None:
        status = 500
        limit = kept_body_limit(scope)
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        size = 0
        secret = complete = False

        async def capture(message: Message) -> None:
            nonlocal status, headers, secret, complete, size
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k.lower(), v) for k, v in message.get("headers", []) if k.lower() in IDEMPOTENT_HEADERS]
                secret = any(k == b"cache-control" and b"no-store" in v.lower() for k, v in headers)
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                size += len(chunk)
                if size <= limit:
                    chunks.append(chunk)
                complete = not message.get("more_body", False)
            await send(message)

        try:
            await self.app(scope, replaying(body, receive), capture)
        finally:
            try:
                # Only a whole answer is kept (not one cut short by an error or a cancellation mid-body).
                if status >= 500 or status in RETRYABLE or secret or not complete or size > limit:
                    IDEMPOTENCY.labels("released").inc()
                    await store.release(key, claim)
                else:
                    IDEMPOTENCY.labels("stored").inc()
                    await store.finish(key, claim, status, headers, b"".join(chunks))
            except Unavailable as exc:
                # The claim expires with its lock; until then a retry is told the first is still running.
                log.warning("could not record an idempotent write's answer (%s)", exc)


def unquoted(given: str) -> str:
    """The key without the quotes of the draft's structured-field form (`"…"`): the same key either way, for the
    gateway's record and for the `request_id` the routes forward."""
    return given[1:-1] if len(given) >= 2 and given[0] == given[-1] == '"' else given


def _valid_key(given: str) -> str | None:
    """The key, unquoted, if it is one we accept."""
    key = unquoted(given)
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        return None
    return key


async def _caller_scope(scope: Scope) -> str | None:
    """Whose key this is: the verified user of the bearer token (as the routes read it), or the anonymous scope
    for a request with no Authorization header at all. None — the gateway keeps nothing — for a request that
    presents credentials it cannot verify here (the route will answer it: 401, or 503 with the key source down):
    such an answer must never land in the scope every anonymous caller shares."""
    verdict = await request_caller(scope)
    if verdict is None:
        return "anonymous"
    return f"user:{verdict.user_id}" if isinstance(verdict, Caller) else None


def _fingerprint(scope: Scope, body: bytes) -> str:
    """SHA-256 of method, path, query and body; a JSON body as its canonical form (keys sorted, no spacing), so a
    client whose serializer orders keys differently on a retry is not told it sent another request."""
    with contextlib.suppress(orjson.JSONDecodeError, orjson.JSONEncodeError):  # not JSON: the bytes as they are
        body = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else body
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def _answer_from(record: Record, fingerprint: str, scope: Scope, receive: Receive, send: Send) -> None:
    if record.fingerprint != fingerprint:
        IDEMPOTENCY.labels("reused").inc()
        detail = "this Idempotency-Key was used for a different request; use a new key for a new request"
        await problem(422, "idempotency_key_reused", detail)(scope, receive, send)
        return
    if record.status is None:
        IDEMPOTENCY.labels("in_use").inc()
        detail = "the first request with this Idempotency-Key is still running; retry shortly"
        await problem(409, "idempotency_key_in_use", detail, headers={"Retry-After": "1"})(scope, receive, send)
        return
    IDEMPOTENCY.labels("replayed").inc()
    headers: list[Any] = [*record.headers, REPLAYED_HEADER]
    if record.status not in (204, 304):  # RFC 9110 §8.6: those carry no Content-Length
        headers.append((b"content-length", str(len(record.body)).encode()))
    await send({"type": "http.response.start", "status": record.status, "headers": headers})
    await send({"type": "http.response.body", "body": record.body})


__all__ = ["IDEMPOTENCY", "IdempotencyMiddleware", "IdempotencyStore", "Record"]
