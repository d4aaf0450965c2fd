"""Read-through cache entries in Redis that a forged write cannot turn into an answer.

Redis is a trust boundary (DESIGN.md, "Trust between services"): anyone who can write a key must not be
able to plant an answer a service then believes — least of all an authorization answer. So every entry is
authenticated: stored as `HMAC-SHA256(secret, key ‖ value) ‖ value`, and read back only when the tag
matches. A forged, altered or copied-from-another-key entry is a miss (the caller asks the source of
truth again), never a grant. The secret is per service (`<NAME>_CACHE_SECRET`); when unset, each process
draws a random one, which is safe but means replicas do not share entries.

Invalidation must win over a slow read-through: a value fetched while an invalidation happens must not be
written back over it (a demoted member would keep the old role until the TTL ends). `invalidate` bumps a
generation counter beside the entry; `read` returns the generation it saw, and `write` stores the value only
if the generation is still that one (atomically, in a Lua script).

When Redis is down the cache is bypassed: reads miss, writes and invalidations are skipped (logged), and
the service answers from its source of truth — degraded, not dead.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("hearth.cache")

_TAG = hashlib.sha256().digest_size

# SET the entry only if the generation is unchanged since the reader looked.
_SET_IF_GENERATION = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
# How long a generation counter outlives its last invalidation (far longer than any read in flight).
GENERATION_TTL = 24 * 3600


@dataclass(frozen=True)
class Lookup:
    """What `read` found: the verified value (None on a miss) and the generation to pass to `write`."""

    value: bytes | None
    generation: bytes


class SignedCache:
    """Authenticated, invalidation-safe read-through entries under one key prefix."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str, secret: bytes, ttl: int) -> None:
        if len(secret) < 16:
            raise ValueError("the cache secret must be at least 16 bytes")
        if ttl < 1:
            raise ValueError("ttl must be at least one second")
        self._redis = redis
        self.prefix = prefix
        self._secret = secret
        self.ttl = ttl
        self._set_if_generation = redis.register_script(_SET_IF_GENERATION)

    def key(self, *parts: object) -> str:
        """`{prefix}:{part}:{part}…` — the caller names the parts and the schema version."""
        return ":".join([self.prefix, *(str(part) for part in parts)])

    def _tag(self, key: str, value: bytes) -> bytes:
        # The key is part of the MAC: an entry copied under another key (another household, another user)
        # does not verify there.
        return hmac.new(self._secret, key.encode() + b"\x00" + value, hashlib.sha256).digest()

    def seal(self, key: str, value: bytes) -> bytes:
        return self._tag(key, value) + value

    def open(self, key: str, stored: bytes) -> bytes | None:
        """The value of a stored entry, or None when it does not verify (forged, altered or moved)."""
        tag, value = stored[:_TAG], stored[_TAG:]
        if len(tag) != _TAG or not hmac.compare_digest(tag, self._tag(key, value)):
            log.warning("cache entry failed authentication; treated as a miss", extra={"cache_key": key})
            return None
        return value

    async def read(self, key: str) -> Lookup:
        try:
            stored, generation = await self._redis.mget(key, f"{key}:gen")
        except RedisError:
            log.warning("cache unavailable; reading from the source")
            return Lookup(None, b"")
        value = self.open(key, _bytes(stored)) if stored else None
        return Lookup(value, _bytes(generation) if generation else b"")

    async def write(self, key: str, value: bytes, generation: bytes) -> bool:
        """Store `value` unless the entry was invalidated since `read` returned `generation`."""
        try:
            written = await self._set_if_generation(
                keys=[key, f"{key}:gen"], args=[generation, self.seal(key, value), self.ttl]
            )
        except RedisError:
            return False
        return bool(written)

    async def invalidate(self, key: str) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(f"{key}:gen")
                pipe.expire(f"{key}:gen", GENERATION_TTL)
                pipe.delete(key)
                await pipe.execute()
        except RedisError:
            log.warning("could not invalidate a cache entry", extra={"cache_key": key})


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


__all__ = ["GENERATION_TTL", "Lookup", "SignedCache"]
