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

Redis is never a single point of slowness. Every read is bounded by `timeout` (`<NAME>_CACHE_TIMEOUT_MS`, 100 ms
by default; the runtime's cache client has no retries), and an invalidation or flush by `invalidate_timeout`
(`<NAME>_CACHE_INVALIDATE_TIMEOUT_MS`, 1 s): a read that misses its bound costs one database read, but an
invalidation that misses it costs a flush of the whole namespace for every replica — and under load the bound
is mostly spent waiting for this process's own busy event loop, not for Redis (a write load at 32 in flight
timed out 100 ms invalidations against a healthy Redis, and flushed the cache each time). It runs after the
write committed, so only that write waits. Every call is guarded by a circuit breaker (kit.breaker): after a few
consecutive failures or timeouts it opens and the cache is bypassed without touching Redis — reads are misses,
writes and invalidations are skipped — and the service answers from its source of truth, degraded, not dead;
after the cool-down one trial call decides.

An invalidation that could not be written (Redis failed, timed out, or the breaker was open) is not forgotten:
the cache then owes a flush. Its next call that Redis answers first bumps the namespace-wide epoch
(`{prefix}:epoch`, part of every entry's MAC, so every entry written before it stops verifying: all misses),
and until that bump succeeds this process reads no entry and writes none. The bound: a stale answer caused by
a lost invalidation is served by no process once the process that lost it has reached Redis again, and by any
process for at most the entry's TTL (Redis expires entries on absolute time, also across a SIGSTOP) — other
replicas may serve it in between, if their Redis answers while the losing process's does not. A value read
before the bump is not written after it (the write is epoch-checked too).

Scopes. An entry belongs to a scope, whose generation counter governs it: by default the entry's own key (a
membership answer), or a name several entries share (every cached page of one household's chore list), so one
`invalidate(scope)` drops them all without knowing their keys. The entry's MAC covers the epoch and the scope
generation it was written under, so an entry of an older generation or epoch is a miss, never an answer.

The in-process tier (`TieredCache`): a bounded LRU of verified values in front of Redis, for the answers read
on every request (membership, the chore list). It is only as good as its invalidations, so:
- every invalidation is also PUBLISHed (in the same MULTI as the generation bump) on `{prefix}:invalidations`,
  and each process's `InvalidationFeed` (one pub/sub subscription) drops the scope from its local tier: a write
  on one replica is seen by the next read on every other one within the pub/sub delivery time (milliseconds);
- the feed PINGs through its subscription every `heartbeat` seconds; the local tier is read only while the feed
  heard from Redis within `staleness` (1 s by default), and it is emptied whenever the feed comes back after a
  silence or a reconnect (messages may have been missed). So a silently dead subscription (a hung Redis, a
  partition) stops local answers within `staleness`, and the reads fall back to the Redis tier (bounded and
  breaker-guarded as above);
- a value read from Redis (or filled from the source) is kept locally only if no invalidation of its scope was
  applied since the read began (`LocalTier.mark`), so an invalidation that overtakes a slow read wins here too.
A miss is filled once per key per process (`fetch`: concurrent misses of one key wait for the first fill, the
stampede protection), and the keys last filled are remembered (`{prefix}:hot`, a sorted set trimmed to
`HOT_KEYS`) so a starting replica can warm its local tier from Redis (`warm`) before serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError

from kit.breaker import CircuitBreaker, Failed, Open
from kit.subscription import HeartbeatSubscription

log = logging.getLogger("hearth.cache")

T = TypeVar("T")

_TAG = hashlib.sha256().digest_size

# SET the entry only if neither its scope's generation nor the cache's epoch changed since the reader looked;
# remember it among the hot keys (score: when), keeping the newest ARGV[7].
_SET_IF_GENERATION = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] and (redis.call('GET', KEYS[3]) or '') == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
  redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6])
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -1 - tonumber(ARGV[7]))
  return 1
end
return 0
"""
# How many recently filled keys a cache remembers for the warm-up of a starting replica.
HOT_KEYS = 1000
# How long a generation counter outlives its last invalidation (far longer than any read in flight).
GENERATION_TTL = 24 * 3600
# The default bound of one cache read, in seconds (the runtime passes `<NAME>_CACHE_TIMEOUT_MS`), and of one
# invalidation or flush (`<NAME>_CACHE_INVALIDATE_TIMEOUT_MS`).
DEFAULT_TIMEOUT = 0.1
DEFAULT_INVALIDATE_TIMEOUT = 1.0

CACHE_REQUESTS = Counter(
    "hearth_cache_requests_total",
    "Cache calls by operation (read, write, invalidate, flush; local: the in-process tier; fill: a miss asked "
    "of the source) and outcome (hit, miss, stored, conflict, ok, error, bypassed; fill: filled, joined)",
    ["cache", "operation", "outcome"],
)
CACHE_EVICTIONS = Counter(
    "hearth_cache_evictions_total",
    "In-process entries dropped to stay within the tier's size (not by invalidation or expiry)",
    ["cache"],
)
CACHE_LOCAL_ENTRIES = Gauge("hearth_cache_local_entries", "Entries in the in-process tier", ["cache"])
CACHE_FEED_LIVE = Gauge(
    "hearth_cache_feed_live",
    "1 while the invalidation feed hears from Redis (local tiers are read), else 0",
    ["channel"],
)


class _Skipped:
    """A call that did not happen: Redis failed or timed out, or the breaker kept it from Redis."""


_SKIPPED: Final = _Skipped()


@dataclass(frozen=True)
class Lookup:
    """What `read` found: the verified value (None on a miss) and the token to pass to `write` (opaque: the
    scope's generation and the cache's epoch as the reader saw them)."""

    value: bytes | None
    generation: bytes


class SignedCache:
    """Authenticated, invalidation-safe, time-bounded read-through entries under one key prefix (the Redis tier)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        secret: bytes,
        ttl: int,
        breaker: CircuitBreaker | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        invalidate_timeout: float = DEFAULT_INVALIDATE_TIMEOUT,
        name: str = "",
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the cache secret must be at least 16 bytes")
        if ttl < 1:
            raise ValueError("ttl must be at least one second")
        if timeout <= 0 or invalidate_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._redis = redis
        self.prefix = prefix
        # The metric label: caches of one service share the prefix (and Redis), not their counters.
        self.label = f"{prefix}:{name}" if name else prefix
        self._secret = secret
        self.ttl = ttl
        self.timeout = timeout
        # Never shorter than a read's: an invalidation must not be the call that gives up first.
        self.invalidate_timeout = max(timeout, invalidate_timeout)
        self.breaker = breaker or CircuitBreaker(f"{prefix}:cache")
        self._epoch_key = f"{prefix}:epoch"
        self._hot_key = f"{prefix}:hot"
        self.channel = invalidation_channel(prefix)
        # An invalidation was lost: bump the epoch before trusting or writing any entry again.
        self.flush_pending = False
        self._set_if_generation = redis.register_script(_SET_IF_GENERATION)

    def key(self, *parts: object) -> str:
        """`{prefix}:{part}:{part}…` — the caller names the parts and the schema version. Never the name of the
        cache's own bookkeeping (its epoch counter, its hot-key set): an entry stored there breaks both — the first
        write's script fails half-way (WRONGTYPE) and trips the breaker."""
        key = ":".join([self.prefix, *(str(part) for part in parts)])
        if key in (self._epoch_key, self._hot_key):
            raise ValueError(f"{key!r} is the cache's own key; name the entry otherwise")
        return key

    def _tag(self, key: str, stamp: bytes, value: bytes) -> bytes:
        # The key is part of the MAC: an entry copied under another key (another household, another user)
        # does not verify there. So is the stamp (epoch and scope generation): a flush or an invalidation of the
        # scope turns every older entry into a miss.
        message = key.encode() + b"\x00" + stamp + b"\x00" + value
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def seal(self, key: str, value: bytes, epoch: bytes = b"", generation: bytes = b"") -> bytes:
        """The stored form: MAC ‖ stamp length ‖ stamp (`epoch|generation`) ‖ value."""
        stamp = epoch + b"|" + generation
        return self._tag(key, stamp, value) + bytes([len(stamp)]) + stamp + value

    def open(self, key: str, stored: bytes, epoch: bytes = b"", generation: bytes = b"") -> bytes | None:
        """The value of a stored entry, or None when it does not verify (forged, altered, moved) or was written
        under another epoch or scope generation than the current ones (flushed or invalidated since)."""
        size = stored[_TAG] if len(stored) > _TAG else 0
        tag, stamp, value = stored[:_TAG], stored[_TAG + 1 : _TAG + 1 + size], stored[_TAG + 1 + size :]
        if len(stored) <= _TAG or not hmac.compare_digest(tag, self._tag(key, stamp, value)):
            log.warning("cache entry failed authentication; treated as a miss", extra={"cache_key": key})
            return None
        if stamp != epoch + b"|" + generation:
            log.debug("cache entry predates the last flush or invalidation; a miss", extra={"cache_key": key})
            return None
        return value

    async def read(self, key: str, *, scope: str | None = None) -> Lookup:
        if not await self._flushed():
            CACHE_REQUESTS.labels(self.label, "read", "bypassed").inc()
            return Lookup(None, b"")
        gen_key = f"{scope or key}:gen"
        found = await self._call("read", lambda: self._redis.mget(key, gen_key, self._epoch_key))
        if isinstance(found, _Skipped):
            return Lookup(None, b"")
        stored, generation, epoch = (_bytes(part) if part else b"" for part in found)
        value = self.open(key, stored, epoch, generation) if stored else None
        CACHE_REQUESTS.labels(self.label, "read", "miss" if value is None else "hit").inc()
        return Lookup(value, generation + b"|" + epoch)

    async def write(self, key: str, value: bytes, generation: bytes, *, scope: str | None = None) -> bool:
        """Store `value` unless its scope was invalidated (or the cache flushed) since `read` returned
        `generation`."""
        if not await self._flushed():
            CACHE_REQUESTS.labels(self.label, "write", "bypassed").inc()
            return False
        seen, _, epoch = generation.partition(b"|")
        scope = scope or key
        written = await self._call(
            "write",
            lambda: self._set_if_generation(
                keys=[key, f"{scope}:gen", self._epoch_key, self._hot_key],
                args=[
                    seen,
                    epoch,
                    self.seal(key, value, epoch, seen),
                    self.ttl,
                    time.time(),
                    _hot(key, scope),
                    HOT_KEYS,
                ],
            ),
        )
        if isinstance(written, _Skipped):
            return False
        CACHE_REQUESTS.labels(self.label, "write", "stored" if written else "conflict").inc()
        return bool(written)

    async def invalidate(self, scope: str) -> bool:
        """Drop `scope` (an entry's key, or the scope several entries share) everywhere: its generation is bumped
        (every entry written under the old one stops verifying), an entry under that very key deleted, and the
        scope published to every process's in-process tier. False when it could not be written (a flush is then
        owed, see the module docstring)."""
        if not await self._flushed():
            # The pending flush will drop this entry with all the others.
            CACHE_REQUESTS.labels(self.label, "invalidate", "bypassed").inc()
            return False

        async def drop() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(f"{scope}:gen")
                pipe.expire(f"{scope}:gen", GENERATION_TTL)
                pipe.delete(scope)
                pipe.publish(self.channel, scope)
                await pipe.execute()

        if isinstance(await self._call("invalidate", drop, self.invalidate_timeout), _Skipped):
            self.flush_pending = True
            log.warning(
                "could not invalidate a cache entry; the whole cache is flushed when Redis answers again",
                extra={"cache_key": scope},
            )
            return False
        CACHE_REQUESTS.labels(self.label, "invalidate", "ok").inc()
        return True

    async def hot(self, limit: int) -> list[tuple[str, str]]:
        """The (key, scope) pairs filled most recently, newest first (for a warm-up)."""
        found = await self._call("read", lambda: self._redis.zrevrange(self._hot_key, 0, limit - 1))
        if isinstance(found, _Skipped):
            return []
        pairs = []
        for member in found:
            key, _, scope = _bytes(member if isinstance(member, bytes | str) else b"").decode().partition("\n")
            pairs.append((key, scope or key))
        return pairs

    async def read_many(self, pairs: list[tuple[str, str]]) -> list[bytes | None]:
        """The verified values of several (key, scope) pairs in one round trip (misses are None)."""
        if not pairs or not await self._flushed():
            return [None] * len(pairs)
        names = [self._epoch_key, *(name for key, scope in pairs for name in (key, f"{scope}:gen"))]
        found = await self._call("read", lambda: self._redis.mget(names))
        if isinstance(found, _Skipped):
            return [None] * len(pairs)
        epoch = _bytes(found[0]) if found[0] else b""
        values: list[bytes | None] = []
        for index, (key, _) in enumerate(pairs):
            stored, generation = found[1 + 2 * index], found[2 + 2 * index]
            gen = _bytes(generation) if generation else b""
            values.append(self.open(key, _bytes(stored), epoch, gen) if stored else None)
        return values

    async def _flushed(self) -> bool:
        """True when no flush is owed (or the owed one was just done): entries may be read and written."""
        if not self.flush_pending:
            return True

        async def bump() -> int:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(self._epoch_key)
                pipe.publish(self.channel, FLUSH_ALL)
                epoch, _ = await pipe.execute()
            return int(epoch)

        epoch = await self._call("flush", bump, self.invalidate_timeout)
        if isinstance(epoch, _Skipped):
            return False
        self.flush_pending = False
        CACHE_REQUESTS.labels(self.label, "flush", "ok").inc()
        log.warning(
            "cache flushed after lost invalidations: every older entry is a miss",
            extra={"cache_prefix": self.prefix, "cache_epoch": epoch},
        )
        return True

    async def _call(
        self, operation: str, call: Callable[[], Awaitable[T]], timeout: float | None = None
    ) -> T | _Skipped:
        """`call()` within `timeout` (a read's by default), if the breaker lets it through; `_SKIPPED` when it did
        not happen."""
        try:
            return await self.breaker.call(
                call, timeout=self.timeout if timeout is None else timeout, errors=(RedisError, OSError)
            )
        except Open:
            CACHE_REQUESTS.labels(self.label, operation, "bypassed").inc()
        except Failed as failed:
            CACHE_REQUESTS.labels(self.label, operation, "error").inc()
            log.warning("cache unavailable (%s); answering from the source", failed, extra={"cache_op": operation})
        return _SKIPPED


class LocalTier:
    """A bounded in-process LRU of verified values, each under its scope and with an expiry (monotonic clock).

    `mark()` before a read that may end in `put`: the put is refused when an invalidation of the entry's scope
    (or a `clear`) was applied in between. Invalidations are remembered as tombstones (the last `TOMBSTONES`
    scopes); a put older than a forgotten tombstone is refused too, so being bounded never makes it unsafe.
    """

    TOMBSTONES = 4096

    def __init__(
        self, label: str, *, max_entries: int, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1 or ttl <= 0:
            raise ValueError("a local tier needs room for one entry and a positive ttl")
        self.label = label
        self.max_entries = max_entries
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, str, float]] = OrderedDict()
        self._by_scope: dict[str, set[str]] = {}
        self._tombstones: OrderedDict[str, int] = OrderedDict()
        self._seq = 0
        self._forgotten = 0  # puts marked before this seq are refused (a clear, or a tombstone dropped for room)
        self._size = CACHE_LOCAL_ENTRIES.labels(label)
        self._evictions = CACHE_EVICTIONS.labels(label)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        value, scope, expires = found
        if self._clock() >= expires:
            self._remove(key, scope)
            return None
        self._entries.move_to_end(key)
        return value

    def mark(self) -> int:
        return self._seq

    def put(self, key: str, scope: str, value: bytes, since: int) -> bool:
        # Refused when a clear, or a drop of this scope, happened after `since` was marked (each took a seq
        # number greater than every mark before it).
        if since < self._forgotten or self._tombstones.get(scope, -1) > since:
            return False
        if key in self._entries:
            self._remove(key, self._entries[key][1])
        self._entries[key] = (value, scope, self._clock() + self.ttl)
        self._by_scope.setdefault(scope, set()).add(key)
        while len(self._entries) > self.max_entries:
            oldest, (_, oldest_scope, _) = next(iter(self._entries.items()))
            self._remove(oldest, oldest_scope)
            self._evictions.inc()
        self._size.set(len(self._entries))
        return True

    def drop(self, scope: str) -> None:
        self._seq += 1
        self._tombstones[scope] = self._seq
        self._tombstones.move_to_end(scope)
        while len(self._tombstones) > self.TOMBSTONES:
            _, seq = self._tombstones.popitem(last=False)
            self._forgotten = max(self._forgotten, seq)
        for key in self._by_scope.pop(scope, ()):
            self._entries.pop(key, None)
        self._size.set(len(self._entries))

    def clear(self) -> None:
        self._seq += 1
        self._forgotten = self._seq
        self._tombstones.clear()
        self._entries.clear()
        self._by_scope.clear()
        self._size.set(0)

    def _remove(self, key: str, scope: str) -> None:
        self._entries.pop(key, None)
        keys = self._by_scope.get(scope)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_scope[scope]


class InvalidationFeed(HeartbeatSubscription):
    """This process's subscription to a prefix's invalidation channel, feeding every local tier registered.

    `live()` is what makes a local tier safe to read: true only while the feed heard from Redis (a message or
    the reply to its own PING every `heartbeat` s) within `staleness` s. Coming back from a silence or a
    reconnect, it empties every tier before it is live again. Run `run()` for the life of the process."""

    def __init__(
        self,
        redis: aioredis.Redis,
        channel: str,
        *,
        staleness: float = 1.0,
        heartbeat: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            redis,
            channel,
            staleness=staleness,
            heartbeat=heartbeat,
            clock=clock,
            gauge=CACHE_FEED_LIVE.labels(channel),
            log=log,
            label=f"cache invalidation feed {channel}",
        )
        self._tiers: list[LocalTier] = []

    def register(self, tier: LocalTier) -> None:
        self._tiers.append(tier)

    def _back(self) -> None:
        # Back after a silence (or a new subscription): what was published meanwhile may be lost.
        for tier in self._tiers:
            tier.clear()

    def _apply(self, data: bytes | str) -> None:
        scope = data.decode() if isinstance(data, bytes) else data
        for tier in self._tiers:
            if scope == FLUSH_ALL:
                tier.clear()
            else:
                tier.drop(scope)


class TieredCache:
    """The read-through cache a service uses: an in-process tier (when a feed keeps it honest) in front of the
    Redis tier (`SignedCache`), one fill per key, invalidation of both tiers on every process."""

    def __init__(
        self, remote: SignedCache, *, feed: InvalidationFeed | None = None, local_entries: int = 10_000
    ) -> None:
        self.remote = remote
        self.feed = feed
        self.local: LocalTier | None = None
        if feed is not None:
            self.local = LocalTier(remote.label, max_entries=local_entries, ttl=remote.ttl)
            feed.register(self.local)
        self._flights: dict[str, asyncio.Future[bytes | None]] = {}
        label = remote.label
        self._local_hit = CACHE_REQUESTS.labels(label, "local", "hit")
        self._local_miss = CACHE_REQUESTS.labels(label, "local", "miss")
        self._local_bypassed = CACHE_REQUESTS.labels(label, "local", "bypassed")
        self._filled = CACHE_REQUESTS.labels(label, "fill", "filled")
        self._joined = CACHE_REQUESTS.labels(label, "fill", "joined")

    def key(self, *parts: object) -> str:
        return self.remote.key(*parts)

    def _local(self) -> LocalTier | None:
        if self.local is None or self.feed is None:
            return None
        if not self.feed.live():
            self._local_bypassed.inc()
            return None
        return self.local

    async def fetch(
        self, key: str, fill: Callable[[], Awaitable[bytes | None]], *, scope: str | None = None
    ) -> bytes | None:
        """The value under `key`: from this process, else Redis, else `fill()` (None: nothing to cache, e.g. a
        negative answer), which is then stored unless `scope` was invalidated meanwhile."""
        scope = scope or key
        local = self._local()
        if local is not None:
            value = local.get(key)
            if value is not None:
                self._local_hit.inc()
                return value
            self._local_miss.inc()
        since = self.local.mark() if self.local is not None else 0
        found = await self.remote.read(key, scope=scope)
        if found.value is not None:
            self._keep(key, scope, found.value, since)
            return found.value
        return await self._fill_once(key, scope, fill, found, since)

    async def _fill_once(
        self, key: str, scope: str, fill: Callable[[], Awaitable[bytes | None]], found: Lookup, since: int
    ) -> bytes | None:
        flight = self._flights.get(key)
        if flight is not None:
            self._joined.inc()
            try:
                return await asyncio.shield(flight)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if not flight.cancelled() or (current is not None and current.cancelling()):
                    raise
            except Exception:
                # The first fill failed: this caller asks the source itself (its own error, not another's).
                log.debug("a shared cache fill failed; filling again", extra={"cache_key": key})
            return await fill()
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            value = await fill()
        except BaseException as exc:
            if isinstance(exc, Exception):
                flight.set_exception(exc)
                flight.exception()  # retrieved: no "exception never retrieved" when nobody joined
            else:
                flight.cancel()
            raise
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.set_result(value)
        self._filled.inc()
        if value is not None and await self.remote.write(key, value, found.generation, scope=scope):
            self._keep(key, scope, value, since)
        return value

    def _keep(self, key: str, scope: str, value: bytes, since: int) -> None:
        # Not through _local(): the read that led here already counted a bypass, if there was one.
        if self.local is not None and self.feed is not None and self.feed.live():
            self.local.put(key, scope, value, since)

    async def invalidate(self, scope: str) -> None:
        """Drop `scope` here at once, then in Redis and (published) on every other process."""
        if self.local is not None:
            self.local.drop(scope)
        await self.remote.invalidate(scope)

    async def warm(self, limit: int = HOT_KEYS) -> int:
        """Load the most recently filled entries into the local tier (at start, once the feed is live);
        returns how many."""
        local = self._local()
        if local is None:
            return 0
        since = local.mark()
        pairs = await self.remote.hot(limit)
        loaded = 0
        for start in range(0, len(pairs), 100):
            chunk = pairs[start : start + 100]
            for (key, scope), value in zip(chunk, await self.remote.read_many(chunk), strict=True):
                if value is not None and local.put(key, scope, value, since):
                    loaded += 1
        return loaded


def invalidation_channel(prefix: str) -> str:
    """The pub/sub channel on which the caches under `prefix` publish what they invalidate."""
    return f"{prefix}:invalidations"


# Published when the epoch is bumped: every process empties its local tiers.
FLUSH_ALL = "*"


def _hot(key: str, scope: str) -> str:
    return key if scope == key else f"{key}\n{scope}"


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


__all__ = [
    "CACHE_REQUESTS",
    "DEFAULT_TIMEOUT",
    "GENERATION_TTL",
    "HOT_KEYS",
    "InvalidationFeed",
    "LocalTier",
    "Lookup",
    "SignedCache",
    "TieredCache",
    "invalidation_channel",
]
