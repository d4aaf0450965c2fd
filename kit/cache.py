"""Read-through cache entries in Redis that a forged write cannot turn into an answer, and a sick Redis cannot
turn into a slow one.

Redis is a trust boundary (DESIGN.md, "Trust between services"): anyone who can write a key must not be
able to plant an answer a service then believes — least of all an authorization answer. So every entry is
authenticated: stored as `HMAC-SHA256(secret, key ‖ epoch ‖ value) ‖ value`, and read back only when the tag
matches. A forged, altered or copied-from-another-key entry is a miss (the caller asks the source of
truth again), never a grant. The secret is per service (`<NAME>_CACHE_SECRET`); when unset, each process
draws a random one, which is safe but means replicas do not share entries.

Invalidation must win over a slow read-through: a value fetched while an invalidation happens must not be
written back over it (a demoted member would keep the old role until the TTL ends). `invalidate` bumps a
generation counter beside the entry; `read` returns the generation it saw, and `write` stores the value only
if the generation is still that one (atomically, in a Lua script).

Redis is never a single point of slowness. Every call is bounded by `timeout` (the runtime's cache client has
socket and connect timeouts of the same size, `<NAME>_CACHE_TIMEOUT_MS`, 100 ms by default, and no retries),
and guarded by a circuit breaker (kit.breaker): after a few consecutive failures or timeouts it opens and the
cache is bypassed without touching Redis — reads are misses, writes and invalidations are skipped — and the
service answers from its source of truth, degraded, not dead; after the cool-down one trial call decides.

An invalidation that could not be written (Redis failed, timed out, or the breaker was open) is not forgotten:
the cache then owes a flush. Its next call that Redis answers first bumps the namespace-wide epoch
(`{prefix}:epoch`, part of every entry's MAC, so every entry written before it stops verifying: all misses),
and until that bump succeeds this process reads no entry and writes none. The bound: a stale answer caused by
a lost invalidation is served by no process once the process that lost it has reached Redis again, and by any
process for at most the entry's TTL (Redis expires entries on absolute time, also across a SIGSTOP) — other
replicas may serve it in between, if their Redis answers while the losing process's does not. A value read
before the bump is not written after it (the write is epoch-checked too).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import RedisError

from kit.breaker import CircuitBreaker

log = logging.getLogger("hearth.cache")

T = TypeVar("T")

_TAG = hashlib.sha256().digest_size

# SET the entry only if neither its generation nor the cache's epoch changed since the reader looked.
_SET_IF_GENERATION = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] and (redis.call('GET', KEYS[3]) or '') == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
  return 1
end
return 0
"""
# How long a generation counter outlives its last invalidation (far longer than any read in flight).
GENERATION_TTL = 24 * 3600
# The default bound of one cache call, in seconds (the runtime passes `<NAME>_CACHE_TIMEOUT_MS`).
DEFAULT_TIMEOUT = 0.1

CACHE_REQUESTS = Counter(
    "hearth_cache_requests_total",
    "Cache calls by operation (read, write, invalidate, flush) and outcome (hit, miss, stored, conflict, ok, "
    "error, bypassed)",
    ["cache", "operation", "outcome"],
)


class _Skipped:
    """A call that did not happen: Redis failed or timed out, or the breaker kept it from Redis."""


_SKIPPED: Final = _Skipped()


@dataclass(frozen=True)
class Lookup:
    """What `read` found: the verified value (None on a miss) and the token to pass to `write` (opaque: the
    entry's generation and the cache's epoch as the reader saw them)."""

    value: bytes | None
    generation: bytes


class SignedCache:
    """Authenticated, invalidation-safe, time-bounded read-through entries under one key prefix."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        secret: bytes,
        ttl: int,
        breaker: CircuitBreaker | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the cache secret must be at least 16 bytes")
        if ttl < 1:
            raise ValueError("ttl must be at least one second")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._redis = redis
        self.prefix = prefix
        self._secret = secret
        self.ttl = ttl
        self.timeout = timeout
        self.breaker = breaker or CircuitBreaker(f"{prefix}:cache")
        self._epoch_key = f"{prefix}:epoch"
        # An invalidation was lost: bump the epoch before trusting or writing any entry again.
        self.flush_pending = False
        self._set_if_generation = redis.register_script(_SET_IF_GENERATION)

    def key(self, *parts: object) -> str:
        """`{prefix}:{part}:{part}…` — the caller names the parts and the schema version."""
        return ":".join([self.prefix, *(str(part) for part in parts)])

    def _tag(self, key: str, value: bytes, epoch: bytes) -> bytes:
        # The key is part of the MAC: an entry copied under another key (another household, another user)
        # does not verify there. So is the epoch: a flush (epoch bump) turns every older entry into a miss.
        message = key.encode() + b"\x00" + epoch + b"\x00" + value
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def seal(self, key: str, value: bytes, epoch: bytes = b"") -> bytes:
        return self._tag(key, value, epoch) + value

    def open(self, key: str, stored: bytes, epoch: bytes = b"") -> bytes | None:
        """The value of a stored entry, or None when it does not verify (forged, altered, moved, or older than
        the last flush)."""
        tag, value = stored[:_TAG], stored[_TAG:]
        if len(tag) == _TAG and hmac.compare_digest(tag, self._tag(key, value, epoch)):
            return value
        if len(tag) == _TAG and hmac.compare_digest(tag, self._tag(key, value, _previous(epoch))):
            log.debug("cache entry predates the last flush; treated as a miss", extra={"cache_key": key})
        else:
            log.warning("cache entry failed authentication; treated as a miss", extra={"cache_key": key})
        return None

    async def read(self, key: str) -> Lookup:
        if not await self._flushed():
            CACHE_REQUESTS.labels(self.prefix, "read", "bypassed").inc()
            return Lookup(None, b"")
        found = await self._call("read", lambda: self._redis.mget(key, f"{key}:gen", self._epoch_key))
        if isinstance(found, _Skipped):
            return Lookup(None, b"")
        stored, generation, epoch = (_bytes(part) if part else b"" for part in found)
        value = self.open(key, stored, epoch) if stored else None
        CACHE_REQUESTS.labels(self.prefix, "read", "miss" if value is None else "hit").inc()
        return Lookup(value, generation + b"|" + epoch)

    async def write(self, key: str, value: bytes, generation: bytes) -> bool:
        """Store `value` unless the entry was invalidated (or the cache flushed) since `read` returned
        `generation`."""
        if not await self._flushed():
            CACHE_REQUESTS.labels(self.prefix, "write", "bypassed").inc()
            return False
        seen, _, epoch = generation.partition(b"|")
        written = await self._call(
            "write",
            lambda: self._set_if_generation(
                keys=[key, f"{key}:gen", self._epoch_key],
                args=[seen, epoch, self.seal(key, value, epoch), self.ttl],
            ),
        )
        if isinstance(written, _Skipped):
            return False
        CACHE_REQUESTS.labels(self.prefix, "write", "stored" if written else "conflict").inc()
        return bool(written)

    async def invalidate(self, key: str) -> None:
        if not await self._flushed():
            # The pending flush will drop this entry with all the others.
            CACHE_REQUESTS.labels(self.prefix, "invalidate", "bypassed").inc()
            return

        async def drop() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(f"{key}:gen")
                pipe.expire(f"{key}:gen", GENERATION_TTL)
                pipe.delete(key)
                await pipe.execute()

        if isinstance(await self._call("invalidate", drop), _Skipped):
            self.flush_pending = True
            log.warning(
                "could not invalidate a cache entry; the whole cache is flushed when Redis answers again",
                extra={"cache_key": key},
            )
        else:
            CACHE_REQUESTS.labels(self.prefix, "invalidate", "ok").inc()

    async def _flushed(self) -> bool:
        """True when no flush is owed (or the owed one was just done): entries may be read and written."""
        if not self.flush_pending:
            return True
        epoch = await self._call("flush", lambda: self._redis.incr(self._epoch_key))
        if isinstance(epoch, _Skipped):
            return False
        self.flush_pending = False
        CACHE_REQUESTS.labels(self.prefix, "flush", "ok").inc()
        log.warning(
            "cache flushed after lost invalidations: every older entry is a miss",
            extra={"cache_prefix": self.prefix, "cache_epoch": epoch},
        )
        return True

    async def _call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T | _Skipped:
        """`call()` within `timeout`, if the breaker lets it through; `_SKIPPED` when it did not happen."""
        if not self.breaker.allow():
            CACHE_REQUESTS.labels(self.prefix, operation, "bypassed").inc()
            return _SKIPPED
        try:
            async with asyncio.timeout(self.timeout):
                result = await call()
        except (RedisError, OSError, TimeoutError) as exc:
            self.breaker.failed()
            CACHE_REQUESTS.labels(self.prefix, operation, "error").inc()
            log.warning(
                "cache unavailable (%s); answering from the source", type(exc).__name__, extra={"cache_op": operation}
            )
            return _SKIPPED
        except BaseException:
            self.breaker.abandoned()
            raise
        self.breaker.succeeded()
        return result


def _previous(epoch: bytes) -> bytes:
    """The epoch before `epoch` (epochs count up from none: b"", b"1", b"2", ...)."""
    return str(int(epoch) - 1).encode() if epoch.isdigit() and int(epoch) > 1 else b""


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


__all__ = ["CACHE_REQUESTS", "DEFAULT_TIMEOUT", "GENERATION_TTL", "Lookup", "SignedCache"]
