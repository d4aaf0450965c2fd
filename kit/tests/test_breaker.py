"""kit.breaker.CircuitBreaker: the state machine, on a clock the test moves (no sleeping)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from kit.breaker import BreakerState, CircuitBreaker, Failed, Open
from tests.support.infra import unique


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, *, failures: int = 3, cooldown: float = 5.0) -> CircuitBreaker:
    return CircuitBreaker(unique("b"), failures=failures, cooldown=cooldown, clock=clock)


def gauge(b: CircuitBreaker) -> float | None:
    return REGISTRY.get_sample_value("hearth_breaker_state", {"breaker": b.name})


def transitions(b: CircuitBreaker, state: str) -> float:
    return REGISTRY.get_sample_value("hearth_breaker_transitions_total", {"breaker": b.name, "state": state}) or 0.0


def test_it_opens_after_n_consecutive_failures_only() -> None:
    clock = Clock()
    b = breaker(clock)
    assert b.state is BreakerState.CLOSED
    assert gauge(b) == 0
    b.failed()
    b.failed()
    b.succeeded()  # a success in between: the count starts over
    b.failed()
    b.failed()
    assert b.allow()
    assert b.state is BreakerState.CLOSED
    b.failed()
    assert b.state is BreakerState.OPEN
    assert gauge(b) == 2
    assert not b.allow()
    assert transitions(b, "open") == 1


def test_after_the_cooldown_one_trial_closes_it() -> None:
    clock = Clock()
    b = breaker(clock, failures=1, cooldown=5)
    b.failed()
    clock.now += 4.9
    assert not b.allow()
    clock.now += 0.1
    assert b.state is BreakerState.HALF_OPEN
    assert gauge(b) == 1
    assert b.allow()  # the trial
    assert not b.allow()  # only one at a time
    b.succeeded()
    assert b.state is BreakerState.CLOSED
    assert gauge(b) == 0
    assert b.allow()
    assert b.allow()
    assert [transitions(b, s) for s in ("open", "half_open", "closed")] == [1, 1, 1]


def test_a_failed_trial_opens_it_for_another_cooldown() -> None:
    clock = Clock()
    b = breaker(clock, failures=3, cooldown=5)
    for _ in range(3):
        b.failed()
    clock.now += 5
    assert b.allow()
    b.failed()  # one failure in half-open is enough
    assert b.state is BreakerState.OPEN
    clock.now += 4
    assert not b.allow()
    clock.now += 1
    assert b.allow()


def test_an_abandoned_trial_lets_the_next_caller_try() -> None:
    clock = Clock()
    b = breaker(clock, failures=1, cooldown=1)
    b.failed()
    clock.now += 1
    assert b.allow()
    assert not b.allow()
    b.abandoned()
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow()


def test_state_changes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    b = breaker(clock, failures=1, cooldown=1)
    with caplog.at_level(logging.INFO, logger="hearth.breaker"):
        b.failed()
        clock.now += 1
        assert b.allow()
        b.succeeded()
    changes = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert changes == [
        (logging.WARNING, f"circuit breaker {b.name}: closed → open"),
        (logging.INFO, f"circuit breaker {b.name}: open → half_open"),
        (logging.INFO, f"circuit breaker {b.name}: half_open → closed"),
    ]


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="failures"):
        CircuitBreaker("x", failures=0)
    with pytest.raises(ValueError, match="cooldown"):
        CircuitBreaker("x", cooldown=0)


async def test_call_reports_each_outcome_to_the_breaker() -> None:
    clock = Clock()
    b = breaker(clock, failures=2)

    async def fine() -> str:
        return "ok"

    async def broken() -> str:
        raise ConnectionError("refused")

    async def hung() -> str:
        await asyncio.Event().wait()
        return "never"

    assert await b.call(fine, timeout=1, errors=(OSError,)) == "ok"
    with pytest.raises(Failed) as failed:
        await b.call(broken, timeout=1, errors=(OSError,))
    assert isinstance(failed.value.__cause__, ConnectionError)
    with pytest.raises(Failed):
        await b.call(hung, timeout=0.01, errors=(OSError,))  # a timeout is a failure too
    assert b.state is BreakerState.OPEN
    with pytest.raises(Open):
        await b.call(fine, timeout=1, errors=(OSError,))  # not even tried

    async def odd() -> str:
        raise ValueError("not ours")

    clock.now += 5  # half-open: one trial
    with pytest.raises(ValueError, match="not ours"):  # an error outside `errors` is the caller's business
        await b.call(odd, timeout=1, errors=(OSError,))
    assert b.allow()  # the abandoned trial left the half-open slot free
