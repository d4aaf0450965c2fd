"""Revoked sessions, known to every process at once: a revoked session's access tokens stop working now, not at
their `exp`.

Access tokens are verified locally (kit.auth) and live up to 15 minutes; logging out, revoking a session, a
refresh token's reuse, a password change or reset, an API key's deletion must end them before that. The user
service writes each ended session's id (the `sid` claim; an API key's id for its exchanged tokens) to one Redis
sorted set, `{namespace}:user:revoked-sessions` (member = id, score = until when a token of it could still be
valid: nothing needs remembering past that), and publishes it on `{namespace}:user:session-revocations`
(`revoke`): first in the request that ends the session, then again from the `session.revoked` event (its own
consumer, so a revocation made while Redis was down lands when it is back). Every process that verifies tokens
— each service and the gateway — keeps the set in memory (`RevocationList`): it loads the whole set when its
subscription starts and adds what is published after, so a check is a dict lookup, no Redis call per request.

When the list cannot be trusted to be current — its subscription is down, or it has not heard from Redis (a
message, or the reply to its own PING every `heartbeat`) for `staleness` — it degrades safely rather than open:
revocations it already knows still hold, and an access token older than `outage_grace` (60 s by default) is
refused, so a client refreshes it, and a refresh is checked against the user service's database (a revoked
session cannot refresh). A session revoked during a Redis outage thus stops within `outage_grace`, at the cost
of clients refreshing more often meanwhile; fresh tokens keep working, nobody is logged out by an outage.
Coming back, the list reloads the whole set before it is trusted again.

ACLs (kit.redis_acl): the user service owns the key and the channel; every other process may read the set and
subscribe to the channel. A process that could publish there could at worst make a session look revoked to a
subscriber (which logs someone out), never make a revoked one work again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import Gauge

from kit.errors import Unauthenticated
from kit.subscription import HeartbeatSubscription

log = logging.getLogger("hearth.revocations")

SESSION_ENDED_MESSAGE = "the session has ended; sign in again"
STALE_TOKEN_MESSAGE = "the access token is too old to be checked now; refresh it"

REVOCATIONS_LIVE = Gauge(
    "hearth_revocation_list_live", "Whether this process's list of revoked sessions is current (1) or degraded (0)"
)
REVOCATIONS_KNOWN = Gauge("hearth_revocation_list_entries", "Revoked sessions this process knows of")


def revoked_key(namespace: str) -> str:
    return f"{namespace}:user:revoked-sessions"


def revocation_channel(namespace: str) -> str:
    return f"{namespace}:user:session-revocations"


@dataclass(frozen=True)
class Revocation:
    session_id: str
    # Unix seconds: until when a token of the session could still be valid.
    until: float


async def revoke(redis: aioredis.Redis, namespace: str, revocations: Iterable[Revocation]) -> None:
    """Add `revocations` to the shared set and tell every subscriber (one MULTI: both or neither); entries past
    their `until` are dropped on the way. Raises what Redis raises: the caller decides whether that is fatal."""
    entries = {r.session_id: r.until for r in revocations}
    if not entries:
        return
    key, channel = revoked_key(namespace), revocation_channel(namespace)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(key, entries, gt=True)
        pipe.zremrangebyscore(key, "-inf", time.time())
        for session_id, until in entries.items():
            pipe.publish(channel, f"{session_id} {until}")
        await pipe.execute()


class RevocationList(HeartbeatSubscription):
    """This process's copy of the revoked sessions; `check` is what the token verifier asks. Run `run()` for the
    life of the process."""

    def __init__(
        self,
        redis: aioredis.Redis,
        namespace: str,
        *,
        staleness: float = 3.0,
        heartbeat: float = 1.0,
        outage_grace: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = revoked_key(namespace)
        super().__init__(
            redis,
            revocation_channel(namespace),
            staleness=staleness,
            heartbeat=heartbeat,
            clock=clock,
            gauge=REVOCATIONS_LIVE,
            log=log,
            label=f"revocation list {self.key}",
        )
        self.outage_grace = outage_grace
        self._revoked: dict[str, float] = {}
        self._pruned = 0.0

    def is_revoked(self, session_id: str) -> bool:
        until = self._revoked.get(session_id)
        return until is not None and until > self._clock()

    def check(self, session_id: str, issued_at: float) -> None:
        """Unauthenticated when the session is revoked, or — while the list is not current — when the token was
        issued more than `outage_grace` ago (the module docstring says why)."""
        if self.is_revoked(session_id):
            raise Unauthenticated(SESSION_ENDED_MESSAGE)
        if not self.live() and self._clock() - issued_at > self.outage_grace:
            raise Unauthenticated(STALE_TOKEN_MESSAGE)

    def add(self, revocation: Revocation) -> None:
        """Know of `revocation` at once (the process that made it need not wait for its own message)."""
        if revocation.until > self._revoked.get(revocation.session_id, 0.0):
            self._revoked[revocation.session_id] = revocation.until
        REVOCATIONS_KNOWN.set(len(self._revoked))

    async def _subscribed(self) -> None:
        """Subscribed first, loaded second: nothing published in between is missed."""
        rows: Any = await self._redis.zrangebyscore(self.key, self._clock(), "+inf", withscores=True)
        for member, until in rows:
            session_id = member.decode() if isinstance(member, bytes) else str(member)
            self.add(Revocation(session_id, float(until)))

    def _apply(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        session_id, _, until = text.partition(" ")
        try:
            self.add(Revocation(session_id, float(until)))
        except ValueError:
            log.warning("ignored a malformed revocation message on %s", self.channel)

    def _tick(self) -> None:
        """Forget revocations past their `until` (a token of them has expired anyway), once a minute."""
        now = self._clock()
        if now - self._pruned < 60:
            return
        self._pruned = now
        for session_id in [s for s, until in self._revoked.items() if until <= now]:
            del self._revoked[session_id]
        REVOCATIONS_KNOWN.set(len(self._revoked))


__all__ = [
    "SESSION_ENDED_MESSAGE",
    "STALE_TOKEN_MESSAGE",
    "Revocation",
    "RevocationList",
    "revocation_channel",
    "revoke",
    "revoked_key",
]
