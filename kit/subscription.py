"""A Redis pub/sub subscription that knows whether it is current — the base of the processes' in-memory copies
kept honest by a channel (kit.cache.InvalidationFeed, kit.revocations.RevocationList).

`live()` is true only while the subscription is up and has heard from Redis — a message, or the reply to its own
PING every `heartbeat` s — within `staleness` s: a silent subscription (a partition, a hung Redis) is not
trusted, whatever its socket says. A subclass says what a message does (`_apply`), what happens once subscribed
and before it is trusted (`_subscribed`: load a snapshot), when it hears from Redis again after a silence
(`_back`: drop what may have been missed) and on every turn of the loop (`_tick`). `run()` keeps it subscribed
for the life of the process, reconnecting with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis

from kit.backoff import retry_forever


class LiveGauge(Protocol):
    def set(self, value: float) -> None: ...


class HeartbeatSubscription:
    def __init__(
        self,
        redis: aioredis.Redis,
        channel: str,
        *,
        staleness: float,
        heartbeat: float,
        clock: Callable[[], float],
        gauge: LiveGauge,
        log: logging.Logger,
        label: str,
    ) -> None:
        if not 0 < heartbeat < staleness:
            raise ValueError("the heartbeat must be shorter than the staleness bound")
        self._redis = redis
        self.channel = channel
        self.staleness = staleness
        self.heartbeat = heartbeat
        self._clock = clock
        self._gauge = gauge
        self._log = log
        self._label = label
        self._connected = False
        self._heard = -float("inf")
        self.ready = asyncio.Event()  # set once the first subscription is confirmed (and loaded): tests, warm-up

    def live(self) -> bool:
        return self._connected and self._clock() - self._heard < self.staleness

    async def close(self) -> None:
        """Close the Redis client (cancel `run()` first)."""
        await self._redis.aclose()

    async def run(self) -> None:
        async def lost() -> None:
            self._connected = False
            self._gauge.set(0)

        await retry_forever(self._listen, name=self._label, log=self._log, on_failure=lost)

    # --- what a subclass says -------------------------------------------------------------------------

    async def _subscribed(self) -> None:
        """Once subscribed, before the subscription is trusted (nothing published from now on is missed)."""

    def _back(self) -> None:
        """Hearing from Redis while not live: what was published meanwhile may be lost."""

    def _apply(self, data: bytes | str) -> None:
        raise NotImplementedError

    def _tick(self) -> None:
        """Every turn of the loop (at least every `heartbeat` s)."""

    # --- the loop -------------------------------------------------------------------------------------

    def _heard_now(self) -> None:
        if not self.live():
            self._back()
        self._heard = self._clock()
        self._gauge.set(1)

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            pinged = self._clock()
            while True:
                message = await pubsub.get_message(timeout=self.heartbeat)
                if message is not None:
                    kind = message["type"]
                    if kind == "subscribe":
                        await self._subscribed()
                        self._connected = True
                        self._heard_now()
                        self.ready.set()
                    elif kind == "pong":
                        self._heard_now()
                    elif kind == "message" and self._connected:
                        self._heard_now()
                        self._apply(message["data"])
                if not self.live():
                    self._gauge.set(0)
                if self._clock() - pinged >= self.heartbeat:
                    await pubsub.ping()
                    pinged = self._clock()
                self._tick()
        finally:
            self._connected = False
            self._gauge.set(0)
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


__all__ = ["HeartbeatSubscription"]
