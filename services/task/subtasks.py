"""A chore's subtasks and their ticks — pure rules over the two JSONB columns (models.Chore.subtasks, .ticks).

Subtasks are the chore's steps, `[{"id", "title"}]` in order (at most MAX_SUBTASKS, titles 1..MAX_TITLE characters).
An update replaces the list: an item carrying the id of one the chore has keeps that id (and its tick), an item
without one is new (a fresh id); an id the chore does not have is refused.

Ticks belong to one occurrence: `ticks` is `{"due": <the occurrence's due time>, "done": [ids]}`, and only counts
while the chore's next_due_time is that due time. So they reset themselves when the chore moves on (a completion,
a skip, a new schedule), come back with an undo (which puts the due time back), and a snooze carries them along
(`moved`): the occurrence is the same, only later.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kit.ids import new_id

MAX_SUBTASKS = 50
MAX_TITLE = 200


def due_key(due: datetime | None) -> str:
    """The occurrence a tick belongs to, as `ticks["due"]` holds it ("" when there is none: a done one-off chore)."""
    return due.astimezone(UTC).isoformat() if due is not None else ""


def done_ids(ticks: Mapping[str, Any], next_due: datetime | None) -> frozenset[str]:
    """The subtask ids ticked for the open occurrence (due at `next_due`)."""
    if next_due is None or not ticks or ticks.get("due") != due_key(next_due):
        return frozenset()
    return frozenset(ticks.get("done") or ())


def replaced(
    sent: Sequence[tuple[uuid.UUID | None, str]], existing: Sequence[Mapping[str, str]]
) -> tuple[list[dict[str, str]], list[int]]:
    """The new list for `sent` (validated (id or None, title) pairs) over the chore's `existing` subtasks, and the
    indexes of the items whose id the chore does not have (to be refused)."""
    known = {item["id"] for item in existing}
    unknown = [index for index, (given, _) in enumerate(sent) if given is not None and str(given) not in known]
    items = [{"id": str(given or new_id()), "title": title} for given, title in sent]
    return items, unknown


def kept(ticks: Mapping[str, Any], subtasks: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """`ticks` without the ids of subtasks that are gone."""
    if not ticks:
        return {}
    ids = {item["id"] for item in subtasks}
    return {"due": ticks.get("due", ""), "done": [i for i in ticks.get("done") or () if i in ids]}


def ticked(
    ticks: Mapping[str, Any],
    subtasks: Sequence[Mapping[str, str]],
    next_due: datetime | None,
    subtask_id: str,
    done: bool,
) -> dict[str, Any]:
    """The ticks with `subtask_id` ticked (or not) for the open occurrence, in the subtasks' order."""
    now_done = set(done_ids(ticks, next_due))
    if done:
        now_done.add(subtask_id)
    else:
        now_done.discard(subtask_id)
    return {"due": due_key(next_due), "done": [item["id"] for item in subtasks if item["id"] in now_done]}


def moved(ticks: Mapping[str, Any], previous_due: datetime | None, due: datetime | None) -> dict[str, Any]:
    """The ticks of the occurrence due at `previous_due`, now due at `due` (a snooze); others as they are."""
    if previous_due is not None and ticks and ticks.get("due") == due_key(previous_due):
        return {**ticks, "due": due_key(due)}
    return dict(ticks)
