"""The occurrence lifecycle's pure rules (services.task.scheduling): when the next occurrence opens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.task import scheduling

DUE = datetime(2027, 3, 22, 9, tzinfo=UTC)
NEXT = DUE + timedelta(days=1)


def test_the_first_occurrence_is_open_from_the_start() -> None:
    assert scheduling.is_open(None, DUE - timedelta(days=30))


def test_early_completion_opens_the_next_occurrence_at_the_due_time() -> None:
    opened = scheduling.opens_at(due=DUE, next_due=NEXT, ended_at=DUE - timedelta(hours=3))
    assert opened == DUE
    assert not scheduling.is_open(opened, DUE - timedelta(hours=3))
    assert not scheduling.is_open(opened, DUE)  # open strictly after it opens
    assert scheduling.is_open(opened, DUE + timedelta(seconds=1))


def test_on_time_completion_opens_the_next_occurrence_at_the_due_time() -> None:
    assert scheduling.opens_at(due=DUE, next_due=NEXT, ended_at=DUE) == DUE


def test_late_completion_opens_the_next_occurrence_when_it_is_due() -> None:
    opened = scheduling.opens_at(due=DUE, next_due=NEXT, ended_at=DUE + timedelta(minutes=1))
    assert opened == NEXT
    assert not scheduling.is_open(opened, NEXT - timedelta(minutes=1))
    assert scheduling.is_open(opened, NEXT + timedelta(minutes=1))


def test_a_done_chore_has_no_next_occurrence_to_open() -> None:
    assert scheduling.opens_at(due=DUE, next_due=None, ended_at=DUE) is None
