"""Database outages: which exceptions mean "the database cannot be reached now", as `kit.errors.Unavailable`.

A request that fails because the service's PostgreSQL is down, restarting, shutting down, out of
connection slots or unreachable is UNAVAILABLE (HTTP 503 `unavailable`), not an internal error: nothing
is wrong with the request or the code, and trying again later works. The error interceptor asks
`database_outage` about every exception it does not otherwise know; the caller gets a fixed message
(the driver's texts name addresses and ports), the log one WARNING line with the driver's reason, no stack.

What counts, looked for along the exception's chain (`__cause__`/`__context__`; SQLAlchemy wraps the
driver's error, a failed rollback carries the original):

- a SQLAlchemy `DBAPIError` whose connection was invalidated (SQLAlchemy recognised a disconnect), a
  `DisconnectionError`, a pool `TimeoutError` (no connection free within `pool_timeout`);
- asyncpg's connection errors (SQLSTATE class 08), "the database system is starting up / shutting down"
  (57P01, 57P02, 57P03), "too many connections" (53300), and its client-side "connection is closed";
- an `OSError` (connection refused or reset, a connect timeout, an unresolvable host) raised inside
  asyncpg or SQLAlchemy — the only place an outage surfaces as a bare OS error: a new connection failing.
  An `OSError` from anything else (a file, Redis, another socket) is not a database outage.
"""

from __future__ import annotations

import traceback
from types import TracebackType

import asyncpg
from sqlalchemy import exc as sa_exc

from kit.errors import Unavailable

MESSAGE = "the service's database is unavailable; try again shortly"

_POSTGRES_OUTAGE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # class 08: connection exceptions
    asyncpg.AdminShutdownError,  # 57P01: terminating connection due to administrator command
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.CannotConnectNowError,  # 57P03: the database system is starting up / shutting down
    asyncpg.TooManyConnectionsError,  # 53300
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # QueuePool limit reached: no connection within pool_timeout
)
_DRIVER_MODULES = ("asyncpg", "sqlalchemy")
_CHAIN_LIMIT = 8


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < _CHAIN_LIMIT and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _raised_in_driver(tb: TracebackType | None) -> bool:
    return any(
        str(frame.f_globals.get("__name__", "")).startswith(_DRIVER_MODULES) for frame, _ in traceback.walk_tb(tb)
    )


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, _POSTGRES_OUTAGE):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # asyncpg's client-side errors are mostly misuse ("another operation is in progress"): only a closed
        # connection is an outage.
        return "connection is closed" in str(exc) or "connection was closed" in str(exc)
    return isinstance(exc, OSError) and _raised_in_driver(exc.__traceback__)


def database_outage(exc: BaseException) -> BaseException | None:
    """The exception along `exc`'s chain that shows the database cannot be reached, or None."""
    return next((link for link in _chain(exc) if _is_outage(link)), None)


def describe(outage: BaseException) -> str:
    """One log line's worth: the innermost reason (the driver's own words, without SQLAlchemy's SQL and links)."""
    root = _chain(outage)[-1]
    return f"{type(root).__name__}: {str(root).splitlines()[0][:200] if str(root) else ''}"


def unavailable() -> Unavailable:
    return Unavailable(MESSAGE)
