"""The task service's requests as the use cases take them: the servicer's reading of the protobuf request,
with resource names turned into ids and nothing checked yet (services.task.validation checks them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# The assignee filter's alias of the caller (also spelt users/me).
ME: Literal["me"] = "me"


@dataclass(frozen=True)
class Unreadable:
    """A reference the servicer could not read as a resource name, kept as sent (for the message)."""

    sent: str


@dataclass(frozen=True)
class PhotoRef:
    """A photo named households/{household}/photos/{photo}: the name as sent (stored as is) and its household."""

    name: str
    household_id: uuid.UUID
    photo_id: uuid.UUID


@dataclass(frozen=True)
class RecurrenceInput:
    # The proto oneof's case ("once", "interval", "weekly", ...); "" when none is set.
    kind: str = ""
    every: int = 0
    # "hours" … "years"; "" when unspecified.
    unit: str = ""
    rolling: bool = False
    months: tuple[int, ...] = ()
    # weekly: "mon".."sun" and "HH:MM"; monthly: day_of_month, or weekday + week; yearly: month + day; rrule.
    days: tuple[str, ...] = ()
    time: str = ""
    day_of_month: int = 0
    weekday: str = ""
    week: int = 0
    month: int = 0
    day: int = 0
    rrule: str = ""


@dataclass(frozen=True)
class AssignmentInput:
    # "fixed", "unassigned", "round_robin", ...; "" when unspecified.
    strategy: str = ""
    assignees: tuple[uuid.UUID | Unreadable, ...] = ()
    rotate: str = ""
    on_miss: str = ""
    grace_minutes: int = 0
    miss_penalty_points: int = 0


@dataclass(frozen=True)
class SubtaskInput:
    # "" for a new subtask; else the id of one the chore has (an update keeps it); not checked yet.
    id: str = ""
    title: str = ""


@dataclass(frozen=True)
class ChoreInput:
    title: str = ""
    description: str = ""
    category: str = ""
    labels: tuple[str, ...] = ()
    points: int = 0
    estimated_minutes: int | None = None
    recurrence: RecurrenceInput | None = None
    assignment: AssignmentInput | None = None
    next_due_time: datetime | None = None
    reminders: tuple[int, ...] = ()
    requires_photo: bool = False
    requires_approval: bool = False
    subtasks: tuple[SubtaskInput, ...] = ()


@dataclass(frozen=True)
class ChoreUpdate:
    chore: ChoreInput
    # The update mask's paths; empty = the updatable fields in `populated` (AIP-134); "*" = every updatable field.
    mask: tuple[str, ...] = ()
    populated: frozenset[str] = frozenset()
    # When set, must match the chore's current etag.
    etag: str = ""


@dataclass(frozen=True)
class ListChoresQuery:
    page_size: int = 0
    page_token: str = ""
    # a user's id, ME (the caller), or None (anyone)
    assignee: uuid.UUID | Literal["me"] | Unreadable | None = None
    category: str = ""
    label: str = ""
    status: str = ""
    due_before: datetime | None = None
    due_after: datetime | None = None
    query: str = ""
    order_by: str = ""


@dataclass(frozen=True)
class CompleteInput:
    complete_time: datetime | None = None
    note: str = ""
    photo: PhotoRef | Unreadable | None = None
    # None: the caller
    completed_by: uuid.UUID | Unreadable | None = None
    request_id: str = ""
