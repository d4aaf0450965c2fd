"""What a client can send that the database or the calendar cannot hold, and requests of one caller that must
not be mistaken for another's: forged page tokens, control characters, timestamps out of range, request ids
shared between members, completions dated before the chore existed. Each is INVALID_ARGUMENT naming the field
(never INTERNAL), or the right resource.

Real user and task servers, as in test_chores_rpc.py; each test makes its own household.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hearth.task.v1 import task_pb2, task_pb2_grpc

from kit import pagination, timestamps
from kit.text import CONTROL_CHARACTERS_MESSAGE
from tests.support.events import household_events
from tests.support.fixtures import stack_fixture, stub_fixture
from tests.support.occurrences import reopen
from tests.support.people import Household, Person, household
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

Recurrence = task_pb2.Recurrence
Assignment = task_pb2.Assignment
Chore = task_pb2.Chore
DAILY = Recurrence(interval=Recurrence.Interval(every=1, unit=Recurrence.Interval.DAYS))
UNASSIGNED = Assignment(strategy=Assignment.UNASSIGNED)
# Timestamp's own range is years 1…9999; these are outside what any datetime (or PostgreSQL) holds.
HUGE = Timestamp(seconds=2**50)
TINY = Timestamp(seconds=-(2**50))
YEAR_1 = Timestamp(seconds=int((datetime(1, 1, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()))

stack = stack_fixture(["user", "task"])
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def stamp(value: datetime) -> Timestamp:
    message = Timestamp()
    message.FromDatetime(value)
    return message


def at(value: Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


async def create(
    chores: task_pb2_grpc.ChoreServiceStub,
    home: Household,
    by: Person | None = None,
    *,
    title: str = "Dishes",
    request_id: str = "",
    due: datetime | None = None,
    recurrence: task_pb2.Recurrence = DAILY,
) -> task_pb2.Chore:
    chore = Chore(title=title, points=5, recurrence=recurrence, assignment=UNASSIGNED)
    if due is not None:
        chore.next_due_time.CopyFrom(stamp(due))
    return await chores.CreateChore(
        task_pb2.CreateChoreRequest(parent=home.name, chore=chore, request_id=request_id),
        metadata=(by or home.owner).metadata,
    )


async def complete(
    chores: task_pb2_grpc.ChoreServiceStub, chore: task_pb2.Chore, by: Person, **fields: Any
) -> task_pb2.CompleteChoreResponse:
    when = fields.pop("complete_time", None)
    request = task_pb2.CompleteChoreRequest(name=chore.name, **fields)
    if when is not None:
        request.complete_time.CopyFrom(when if isinstance(when, Timestamp) else stamp(when))
    return await chores.CompleteChore(request, metadata=by.metadata)


async def refused_on(call: Any, field: str) -> str:
    """The call is INVALID_ARGUMENT with a violation of `field`; returns the violation's text."""
    refusal = await refused(call)
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, refusal
    assert field in refusal.violations, refusal
    return refusal.violations[field]


def decoded(token: str) -> tuple[list[Any], str]:
    """The sort key and the query fingerprint a real page token carries."""
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return list(data["k"]), str(data["q"])


# --- 1. forged page tokens ---------------------------------------------------------------------------


async def test_forged_page_tokens_are_invalid_argument(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    first = await create(chores, home, title="Dishes", due=now() + timedelta(days=1))
    await create(chores, home, title="Bins", due=now() + timedelta(days=2))
    await complete(chores, first, home.owner)
    await reopen(stack, first.name)
    await complete(chores, first, home.owner)
    forged_id = str(uuid.uuid4())

    forgeries: dict[str, list[Any]] = {
        "due_at": ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-01-01T00:00:00", "infinity", 7],
        "created_at": ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", None],
        "points": [2**70, -(2**40), "10", True, None],
        "title": ["Dish\x00es", "x" * 5000, 3, None, "lone \ud800 surrogate"],
    }
    for order, values in forgeries.items():
        # The fingerprint computed the way the service does is the one its real tokens carry...
        fingerprint = pagination.fingerprint("chores", home.id, "", "", "", "", "", "", "", order, False)
        real = await chores.ListChores(
            task_pb2.ListChoresRequest(parent=home.name, page_size=1, order_by=order), metadata=home.owner.metadata
        )
        key, query = decoded(real.next_page_token)
        assert query == fingerprint
        # ...so these tokens reach the cursor's parts, and each bad part is refused.
        for forged in [[value, forged_id] for value in values] + [[key[0], "not-a-uuid"], [key[0]], key + key]:
            token = pagination.encode_token(forged, fingerprint)
            request = task_pb2.ListChoresRequest(parent=home.name, order_by=order, page_token=token)
            await refused_on(chores.ListChores(request, metadata=home.owner.metadata), "page_token")

    # A chore without a due time (a done one-off chore) sorts last by due time: its token holds null.
    once = await create(chores, home, title="Once", recurrence=Recurrence(once=Recurrence.Once()))
    await complete(chores, once, home.owner)
    fingerprint = pagination.fingerprint("chores", home.id, "", "", "", "done", "", "", "", "due_at", False)
    after_null = pagination.encode_token([None, str(uuid.UUID(int=0))], fingerprint)
    page = await chores.ListChores(
        task_pb2.ListChoresRequest(parent=home.name, status="done", page_token=after_null),
        metadata=home.owner.metadata,
    )
    assert [c.title for c in page.chores] == ["Once"]

    for parent in (first.name, f"{home.name}/chores/-"):
        chore_part = first.name.rsplit("/", 1)[1] if parent == first.name else "-"
        fingerprint = pagination.fingerprint("completions", home.id, chore_part)
        real_page = await chores.ListCompletions(
            task_pb2.ListCompletionsRequest(parent=parent, page_size=1), metadata=home.owner.metadata
        )
        assert decoded(real_page.next_page_token)[1] == fingerprint
        for value in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-01-01T00:00:00", None, 5):
            token = pagination.encode_token([value, forged_id], fingerprint)
            request = task_pb2.ListCompletionsRequest(parent=parent, page_token=token)
            await refused_on(chores.ListCompletions(request, metadata=home.owner.metadata), "page_token")


# --- 2. control characters ---------------------------------------------------------------------------


async def test_control_characters_are_refused_naming_the_field(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    bad = Chore(
        title="Dish\x00es",
        description="wipe\x07",
        category="kit\x00chen",
        labels=["fine", "bad\x1b[31m"],
        points=5,
        recurrence=DAILY,
        assignment=UNASSIGNED,
    )
    refusal = await refused(
        chores.CreateChore(task_pb2.CreateChoreRequest(parent=home.name, chore=bad), metadata=home.owner.metadata)
    )
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {"title", "description", "category", "labels[1]"} <= set(refusal.violations)
    assert refusal.violations["title"] == CONTROL_CHARACTERS_MESSAGE
    await refused_on(
        chores.CreateChore(
            task_pb2.CreateChoreRequest(
                parent=home.name, chore=Chore(title="Ok", recurrence=DAILY, assignment=UNASSIGNED), request_id="r\x00"
            ),
            metadata=home.owner.metadata,
        ),
        "request_id",
    )

    # Tab and newline are text, not control characters to refuse.
    chore = await chores.CreateChore(
        task_pb2.CreateChoreRequest(
            parent=home.name,
            chore=Chore(title="Dishes", description="plates\n\tand cups", recurrence=DAILY, assignment=UNASSIGNED),
        ),
        metadata=home.owner.metadata,
    )
    assert chore.description == "plates\n\tand cups"
    update = Chore(name=chore.name, title="Di\x00shes")
    await refused_on(
        chores.UpdateChore(
            task_pb2.UpdateChoreRequest(chore=update, update_mask={"paths": ["title"]}), metadata=home.owner.metadata
        ),
        "title",
    )

    for field in ("query", "category", "label"):
        request = task_pb2.ListChoresRequest(parent=home.name, **{field: "a\x00b"})
        await refused_on(chores.ListChores(request, metadata=home.owner.metadata), field)

    await refused_on(complete(chores, chore, home.owner, note="done\x00"), "note")
    await refused_on(complete(chores, chore, home.owner, request_id="r\x00"), "request_id")


# --- 3. timestamps out of range --------------------------------------------------------------------


async def test_timestamps_out_of_range_are_invalid_argument(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, time_zone="America/New_York")
    for value in (HUGE, TINY, YEAR_1):
        chore = Chore(title="Dishes", recurrence=DAILY, assignment=UNASSIGNED, next_due_time=value)
        await refused_on(
            chores.CreateChore(
                task_pb2.CreateChoreRequest(parent=home.name, chore=chore), metadata=home.owner.metadata
            ),
            "next_due_time",
        )
        for field in ("due_before", "due_after"):
            request = task_pb2.ListChoresRequest(parent=home.name, **{field: value})
            await refused_on(chores.ListChores(request, metadata=home.owner.metadata), field)

    # A rolling daily chore in New York completed in year 1 would overflow the calendar.
    rolling = Recurrence(interval=Recurrence.Interval(every=1, unit=Recurrence.Interval.DAYS), rolling=True)
    chore = await create(chores, home, recurrence=rolling)
    for value in (HUGE, TINY, YEAR_1):
        message = await refused_on(complete(chores, chore, home.owner, complete_time=value), "complete_time")
        assert "1900-01-01" in message
        assert "2200-01-01" in message

    # The range's ends are in it.
    for field, value in (("due_after", timestamps.EARLIEST), ("due_before", timestamps.LATEST)):
        listed = await chores.ListChores(
            task_pb2.ListChoresRequest(parent=home.name, **{field: stamp(value)}), metadata=home.owner.metadata
        )
        assert [c.name for c in listed.chores] == [chore.name]


# --- 4. request ids are per caller -------------------------------------------------------------------


async def test_request_ids_are_scoped_to_the_caller(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, bob="member")
    alice, bob = home.owner, home["bob"]

    alices = await create(chores, home, alice, title="Alice's chore", request_id="shared-key")
    bobs = await create(chores, home, bob, title="Bob's chore", request_id="shared-key")
    assert bobs.name != alices.name
    assert (bobs.title, bobs.creator) == ("Bob's chore", bob.name)
    # Each caller's retry is answered with their own first chore, and creates nothing.
    assert await create(chores, home, alice, title="Alice's chore", request_id="shared-key") == alices
    assert await create(chores, home, bob, title="Bob's chore", request_id="shared-key") == bobs
    listed = await chores.ListChores(task_pb2.ListChoresRequest(parent=home.name), metadata=alice.metadata)
    assert sorted(c.title for c in listed.chores) == ["Alice's chore", "Bob's chore"]
    assert len(await household_events(stack, "task", "chore.created", home.id)) == 2

    first = await complete(chores, alices, alice, request_id="done-key")
    await reopen(stack, alices.name)
    second = await complete(chores, alices, bob, request_id="done-key")
    assert second.completion.name != first.completion.name
    assert (second.completion.recorder, second.completion.completed_by) == (bob.name, bob.name)
    assert (await complete(chores, alices, alice, request_id="done-key")).completion == first.completion
    assert (await complete(chores, alices, bob, request_id="done-key")).completion == second.completion
    history = await chores.ListCompletions(task_pb2.ListCompletionsRequest(parent=alices.name), metadata=alice.metadata)
    assert {c.name for c in history.completions} == {first.completion.name, second.completion.name}
    assert len(await household_events(stack, "task", "chore.completed", home.id)) == 2


# --- 5. completions dated before the chore existed -----------------------------------------------------


async def test_completions_are_not_dated_before_the_chore_existed(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    # First due in two days: the earliest date is one day before the chore was created.
    upcoming = await create(chores, home, title="Upcoming", due=now() + timedelta(days=2))
    # First due three days ago: the earliest date is one day before that.
    overdue = await create(chores, home, title="Overdue", due=now() - timedelta(days=3))
    for chore, start in ((upcoming, at(upcoming.create_time)), (overdue, at(overdue.next_due_time))):
        earliest = start - timedelta(days=1)
        message = await refused_on(
            complete(chores, chore, home.owner, complete_time=earliest - timedelta(microseconds=1)), "complete_time"
        )
        assert "before" in message
        done = await complete(chores, chore, home.owner, complete_time=earliest)
        assert at(done.completion.complete_time) == earliest

    # Far in the past is refused too, however it would have counted (it would have been "on time").
    await refused_on(
        complete(chores, overdue, home.owner, complete_time=datetime(1950, 1, 1, tzinfo=UTC)), "complete_time"
    )
