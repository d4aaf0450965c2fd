"""Ending sessions for good: the row, the `session.revoked` event, and the shared revocation set.

A session ends in the database (its refresh token stops at once: RefreshToken reads the row), but its access
tokens are verified without the database, in every process (kit.auth), for up to their 15 minutes. So each
ending also goes to the revocation set every process reads (kit.revocations), twice over:

1. in the request, right after the transaction commits (`Revoker.publish`, bounded by a short timeout), and into
   this process's own list at once — so the answer to a logout is given only when the token is already dead
   here, and within a Redis round trip everywhere else;
2. from the `session.revoked` event written in the same transaction as the row (`on_session_revoked`, this
   service consuming its own stream): a publish lost to a Redis outage lands when Redis is back, because the
   event stays in the outbox until Redis has it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import redis.asyncio as aioredis
from hearth.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession

from kit.events import Event, Handlers
from kit.outbox import add_event
from kit.revocations import Revocation, RevocationList, revoke
from services.user.converters import timestamp

log = logging.getLogger("hearth.user.revocation")

# How long a request waits for Redis to take a revocation before it leaves it to the event.
PUBLISH_TIMEOUT_SECONDS = 1.0


class Revoker:
    def __init__(
        self,
        redis: aioredis.Redis | None,
        namespace: str,
        *,
        access_ttl: timedelta,
        local: RevocationList | None = None,
    ) -> None:
        self._redis = redis
        self._namespace = namespace
        self._access_ttl = access_ttl
        self._local = local

    async def record(
        self,
        session: AsyncSession,
        ended: Iterable[tuple[uuid.UUID, uuid.UUID]],
        *,
        reason: str,
        now: datetime,
    ) -> list[Revocation]:
        """Write `session.revoked` for each (session or API key id, user id) that just ended, in the caller's
        transaction; the revocations to `publish` once it has committed."""
        until = now + self._access_ttl + timedelta(seconds=30)  # the verifiers' leeway and clock skew
        revocations = []
        for session_id, user_id in ended:
            await add_event(
                session,
                events_pb2.SessionRevoked(
                    session_id=str(session_id), user_id=str(user_id), expire_time=timestamp(until), reason=reason
                ),
                actor_id=user_id,
            )
            revocations.append(Revocation(str(session_id), until.timestamp()))
        return revocations

    async def publish(self, revocations: Sequence[Revocation]) -> None:
        """After the commit: into this process's list, then the shared set. A failure is logged, not raised — the
        change has committed, and the event will bring it to the set."""
        if not revocations:
            return
        if self._local is not None:
            for revocation in revocations:
                self._local.add(revocation)
        if self._redis is None:
            return
        try:
            await asyncio.wait_for(revoke(self._redis, self._namespace, revocations), PUBLISH_TIMEOUT_SECONDS)
        except (TimeoutError, aioredis.RedisError, OSError) as exc:
            log.warning("revocation not published now (the session.revoked event will): %s", exc)


def handlers(redis: aioredis.Redis, namespace: str) -> Handlers:
    async def on_session_revoked(session: AsyncSession, event: Event[events_pb2.SessionRevoked]) -> None:
        """Put the revocation into the shared set (again: the request did already, unless Redis failed it then).
        Raises while Redis cannot take it, so the event is retried until it can."""
        payload = event.payload
        until = payload.expire_time.seconds + payload.expire_time.nanos / 1e9
        if payload.session_id and until > 0:
            await revoke(redis, namespace, [Revocation(payload.session_id, until)])

    return {events_pb2.SessionRevoked: on_session_revoked}


__all__ = ["Revoker", "handlers"]
