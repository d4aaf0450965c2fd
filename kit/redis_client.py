"""Every process's Redis clients, made one way: `connect(url, ...)`.

redis-py 8's default connection pool holds at most 100 connections and, when all are in use, fails the next command
at once (MaxConnectionsError) instead of waiting for one. A burst — a thousand live streams opening, a flood of
requests each asking the rate limiter — then turns into errors, and a breaker in front of Redis opens for nothing.
`connect` gives the client a BlockingConnectionPool instead: at most `MAX_CONNECTIONS` connections, and a command
that finds them all busy waits for one, no longer than the client's socket timeout (then a ConnectionError, which
the callers' timeouts and breakers already handle)."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry

# Connections one client (one pool) may hold; Redis itself takes 10,000 by default.
MAX_CONNECTIONS = 256


def connect(
    url: str,
    *,
    socket_timeout: float,
    socket_connect_timeout: float,
    retry: Retry | None = None,
    max_connections: int = MAX_CONNECTIONS,
) -> aioredis.Redis:
    """A client of the Redis at `url` whose commands wait (up to `socket_timeout`) for a free connection."""
    options: dict[str, object] = {}
    if retry is not None:
        options["retry"] = retry
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=socket_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_connect_timeout,
        **options,
    )
    return aioredis.Redis.from_pool(pool)


__all__ = ["MAX_CONNECTIONS", "connect"]
