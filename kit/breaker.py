"""A circuit breaker for a dependency that may hang rather than fail (a SIGSTOPped Redis, a black-holed network).

A short timeout bounds one call; the breaker bounds the sum of them. After `failures` consecutive failures
(errors or timeouts) it opens: `allow()` says no, and the caller takes its fallback at once (the cache is
bypassed) instead of paying a timeout per request. After `cooldown` seconds it half-opens and lets exactly
one trial call through; that call's success closes it, its failure opens it for another cool-down. A
trial abandoned before it reports (its caller was cancelled) lets the next caller try instead.

Every state change is logged and exported: `hearth_breaker_state{breaker}` (0 closed, 1 half-open, 2 open)
and `hearth_breaker_transitions_total{breaker,state}`. The clock is injectable so the state machine is
tested without sleeping; the breaker does no I/O and is meant for one event loop (no locks).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Counter, Gauge

log = logging.getLogger("hearth.breaker")

T = TypeVar("T")

BREAKER_STATE = Gauge("hearth_breaker_state", "Circuit breaker state (0 closed, 1 half-open, 2 open)", ["breaker"])
BREAKER_TRANSITIONS = Counter(
    "hearth_breaker_transitions_total", "Circuit breaker state changes, by the state entered", ["breaker", "state"]
)


class Unavailable(Exception):
    """The dependency did not serve the call: the breaker kept it away (`Open`), or it failed or timed out
    (`Failed`). What a caller catches when either means the same to it (serve without the dependency)."""


class Open(Unavailable):
    """The breaker is open: the call was not tried."""


def _described(exc: BaseException) -> str:
    """The error's type, and its message when it has one (cut short: a log line, not a dump)."""
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message[:200]}" if message else type(exc).__name__


class Failed(Unavailable):
    """The call was tried and failed or timed out (the error is the `__cause__`)."""


class BreakerState(enum.Enum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """Consecutive-failure breaker: closed → (N failures) → open → (cool-down) → half-open → one trial."""

    def __init__(
        self,
        name: str,
        *,
        failures: int = 3,
        cooldown: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1:
            raise ValueError("failures must be at least 1")
        if cooldown <= 0:
            raise ValueError("cooldown must be positive")
        self.name = name
        self.failures = failures
        self.cooldown = cooldown
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        BREAKER_STATE.labels(name).set(self._state.value)

    @property
    def state(self) -> BreakerState:
        """The state as of now (an open breaker whose cool-down has passed reads as half-open)."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.cooldown:
            self._enter(BreakerState.HALF_OPEN)
        return self._state

    def allow(self) -> bool:
        """May a call go through now? In half-open, True for one trial call until it reports or is abandoned."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def succeeded(self) -> None:
        self._consecutive = 0
        self._trial_in_flight = False
        if self._state is not BreakerState.CLOSED:
            self._enter(BreakerState.CLOSED)

    def failed(self) -> None:
        self._trial_in_flight = False
        self._consecutive += 1
        if self._state is BreakerState.HALF_OPEN or (
            self._state is BreakerState.CLOSED and self._consecutive >= self.failures
        ):
            self._opened_at = self._clock()
            self._enter(BreakerState.OPEN)

    async def call(
        self, call: Callable[[], Awaitable[T]], *, timeout: float, errors: tuple[type[BaseException], ...]
    ) -> T:
        """`call()` within `timeout`, if the breaker lets it through, reporting the outcome to the breaker.

        Raises `Open` (nothing was tried) when the breaker keeps the call from its dependency, and `Failed` (its
        `__cause__` the error) when the call raised one of `errors` or timed out; a cancellation passes through
        and frees a half-open trial."""
        if not self.allow():
            raise Open(f"the breaker {self.name} is open")
        caught: tuple[type[BaseException], ...] = (*errors, TimeoutError)
        try:
            async with asyncio.timeout(timeout):
                result = await call()
        except caught as exc:
            self.failed()
            raise Failed(_described(exc)) from exc
        except BaseException:
            self.abandoned()
            raise
        self.succeeded()
        return result

    def abandoned(self) -> None:
        """An allowed call ended without an outcome (cancelled): free the half-open trial for the next caller."""
        self._trial_in_flight = False

    def _enter(self, state: BreakerState) -> None:
        previous, self._state = self._state, state
        BREAKER_STATE.labels(self.name).set(state.value)
        BREAKER_TRANSITIONS.labels(self.name, state.name.lower()).inc()
        level = logging.WARNING if state is BreakerState.OPEN else logging.INFO
        log.log(
            level,
            "circuit breaker %s: %s → %s",
            self.name,
            previous.name.lower(),
            state.name.lower(),
            extra={
                "breaker": self.name,
                "breaker_state": state.name.lower(),
                "consecutive_failures": self._consecutive,
            },
        )


__all__ = ["BREAKER_STATE", "BREAKER_TRANSITIONS", "BreakerState", "CircuitBreaker", "Failed", "Open", "Unavailable"]
