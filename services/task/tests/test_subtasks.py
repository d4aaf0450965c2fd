"""services.task.subtasks: replacing a chore's subtask list, and ticks that belong to one occurrence."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from services.task import subtasks

DUE = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
A, B = str(uuid.uuid4()), str(uuid.uuid4())
ITEMS = [{"id": A, "title": "Sweep"}, {"id": B, "title": "Mop"}]


def test_ticks_count_only_for_the_occurrence_they_were_made_for() -> None:
    ticks = subtasks.ticked({}, ITEMS, DUE, A, True)
    assert subtasks.done_ids(ticks, DUE) == {A}
    # The same instant in another zone is the same occurrence.
    assert subtasks.done_ids(ticks, DUE.astimezone(timezone(timedelta(hours=5)))) == {A}
    assert subtasks.done_ids(ticks, DUE + timedelta(days=1)) == frozenset()
    assert subtasks.done_ids(ticks, None) == frozenset()
    assert subtasks.done_ids({}, DUE) == frozenset()


def test_ticking_on_a_new_occurrence_starts_from_nothing_and_keeps_the_list_order() -> None:
    old = subtasks.ticked({}, ITEMS, DUE, A, True)
    new = subtasks.ticked(old, ITEMS, DUE + timedelta(days=1), B, True)
    assert new == {"due": subtasks.due_key(DUE + timedelta(days=1)), "done": [B]}
    both = subtasks.ticked(subtasks.ticked({}, ITEMS, DUE, B, True), ITEMS, DUE, A, True)
    assert both["done"] == [A, B]
    assert subtasks.ticked(both, ITEMS, DUE, A, False)["done"] == [B]


def test_a_snooze_moves_the_ticks_of_its_occurrence_only() -> None:
    ticks = subtasks.ticked({}, ITEMS, DUE, A, True)
    later = DUE + timedelta(hours=3)
    assert subtasks.done_ids(subtasks.moved(ticks, DUE, later), later) == {A}
    other = DUE - timedelta(days=1)
    assert subtasks.moved(ticks, other, later) == ticks


def test_replacing_keeps_known_ids_makes_new_ones_and_names_unknown_ones() -> None:
    stranger = uuid.uuid4()
    items, unknown = subtasks.replaced([(uuid.UUID(B), "Mop well"), (None, "Dust"), (stranger, "?")], ITEMS)
    assert items[0] == {"id": B, "title": "Mop well"}
    assert items[1]["title"] == "Dust"
    assert items[1]["id"] not in (A, B)
    assert unknown == [2]


def test_ticks_of_removed_subtasks_are_dropped() -> None:
    ticks = subtasks.ticked(subtasks.ticked({}, ITEMS, DUE, A, True), ITEMS, DUE, B, True)
    assert subtasks.kept(ticks, [ITEMS[1]])["done"] == [B]
    assert subtasks.kept({}, ITEMS) == {}
