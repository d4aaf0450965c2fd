"""The occurrence lifecycle over gRPC (services.task.service; the table is scheduling.py's docstring): the same
answers a direct call gets as the REST routes (tests/test_lifecycle_rest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from hearth.events.v1 import events_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc

from tests.support.events import household_events, payload
from tests.support.fixtures import stack_fixture, stub_fixture
from tests.support.occurrences import reopen
from tests.support.people import Household, Person, household
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

Recurrence = task_pb2.Recurrence
Assignment = task_pb2.Assignment

stack = stack_fixture(["user", "task"])
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def daily(
    chores: task_pb2_grpc.ChoreServiceStub, home: Household, *, due: datetime | None = None, **fields: object
) -> task_pb2.Chore:
    chore = task_pb2.Chore(
        title="Dishes",
        points=10,
        recurrence=Recurrence(interval=Recurrence.Interval(every=1, unit=Recurrence.Interval.DAYS)),
        assignment=fields.pop("assignment", None) or Assignment(strategy=Assignment.UNASSIGNED),
    )
    if due is not None:
        chore.next_due_time.FromDatetime(due)
    return await chores.CreateChore(
        task_pb2.CreateChoreRequest(parent=home.name, chore=chore), metadata=home.owner.metadata
    )


def round_robin(*people: Person) -> task_pb2.Assignment:
    return Assignment(strategy=Assignment.ROUND_ROBIN, assignees=[p.name for p in people])


def at(stamp: object) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)  # type: ignore[attr-defined, no-any-return]


async def occurrences(
    chores: task_pb2_grpc.ChoreServiceStub, chore: task_pb2.Chore, who: Person, page_size: int = 2
) -> list[task_pb2.Occurrence]:
    """Every page of the chore's occurrence history, newest first."""
    found: list[task_pb2.Occurrence] = []
    token = ""
    while True:
        page = await chores.ListOccurrences(
            task_pb2.ListOccurrencesRequest(parent=chore.name, page_size=page_size, page_token=token),
            metadata=who.metadata,
        )
        assert len(page.occurrences) <= page_size
        found += page.occurrences
        token = page.next_page_token
        if not token:
            return found


def complete_request(chore: task_pb2.Chore, **fields: str) -> task_pb2.CompleteChoreRequest:
    return task_pb2.CompleteChoreRequest(name=chore.name, **fields)


async def test_a_second_completion_before_the_next_occurrence_opens_is_not_due_yet(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    chore = await daily(chores, home, due=now() + timedelta(hours=2))
    replayed = complete_request(chore, request_id="once")
    first = await chores.CompleteChore(replayed, metadata=home.owner.metadata)
    assert first.completion.on_time
    refusal = await refused(chores.CompleteChore(complete_request(chore), metadata=home.owner.metadata))
    assert (refusal.code, refusal.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NOT_DUE_YET")
    # A retry of the first request is answered as before, not refused: the window is checked after the replay.
    again = await chores.CompleteChore(replayed, metadata=home.owner.metadata)
    assert again.completion == first.completion
    history = await chores.ListCompletions(
        task_pb2.ListCompletionsRequest(parent=chore.name), metadata=home.owner.metadata
    )
    assert [c.name for c in history.completions] == [first.completion.name]


# --- the lifecycle table's rows (services/task/scheduling.py) --------------------------------------------------


async def test_lifecycle_complete_early(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, member="member")
    due = now() + timedelta(hours=3)
    chore = await daily(chores, home, due=due, assignment=round_robin(home.owner, home["member"]))
    holder = chore.assignee
    done = await chores.CompleteChore(complete_request(chore), metadata=home.owner.metadata)
    assert at(done.chore.next_due_time) == due + timedelta(days=1)
    assert done.chore.assignee != holder  # the rotation moved on
    assert (done.completion.points, done.completion.on_time) == (10, True)
    [row] = await occurrences(chores, chore, home.owner)
    assert (row.outcome, at(row.due_time), row.assignee) == (task_pb2.Occurrence.DONE, due, holder)
    assert (row.completed_by, row.recorder, row.completion) == (home.owner.name, home.owner.name, done.completion.name)
    # The next one opens at this one's due time: not before.
    refusal = await refused(chores.CompleteChore(complete_request(chore), metadata=home.owner.metadata))
    assert refusal.reason == "NOT_DUE_YET"


async def test_lifecycle_complete_late(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    due = now() - timedelta(days=2, hours=1)
    chore = await daily(chores, home, due=due)
    done = await chores.CompleteChore(complete_request(chore), metadata=home.owner.metadata)
    # The missed days are skipped over: the next one is the first slot after now, and it opens when it is due.
    assert at(done.chore.next_due_time) == due + timedelta(days=3)
    assert done.completion.on_time is False
    assert done.completion.points == 10
    [row] = await occurrences(chores, chore, home.owner)
    assert (row.outcome, at(row.due_time)) == (task_pb2.Occurrence.DONE, due)
    refusal = await refused(chores.CompleteChore(complete_request(chore), metadata=home.owner.metadata))
    assert refusal.reason == "NOT_DUE_YET"


async def test_lifecycle_skip(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, member="member")
    due = now() + timedelta(hours=1)
    chore = await daily(chores, home, due=due, assignment=round_robin(home.owner, home["member"]))
    holder = chore.assignee
    request = task_pb2.SkipChoreRequest(name=chore.name, request_id="skip-once")
    skipped = await chores.SkipChore(request, metadata=home.owner.metadata)
    assert at(skipped.next_due_time) == due + timedelta(days=1)
    assert skipped.assignee != holder  # moves on as a completion would
    # Replayed: skipped once.
    replay = await chores.SkipChore(request, metadata=home.owner.metadata)
    assert replay.next_due_time == skipped.next_due_time
    # No points: no completion.
    history = await chores.ListCompletions(
        task_pb2.ListCompletionsRequest(parent=chore.name), metadata=home.owner.metadata
    )
    assert list(history.completions) == []
    [row] = await occurrences(chores, chore, home.owner)
    assert (row.outcome, at(row.due_time), row.assignee) == (task_pb2.Occurrence.SKIPPED, due, holder)
    assert (row.completed_by, row.recorder, row.completion) == ("", home.owner.name, "")
    [event] = await household_events(stack, "task", "chore.skipped", home.id)
    body = payload(event, events_pb2.ChoreSkipped)
    assert body.skipped_by == home.owner.user_id
    assert body.next_due_at == skipped.next_due_time
    # A skip cannot run ahead of the schedule either.
    refusal = await refused(chores.SkipChore(task_pb2.SkipChoreRequest(name=chore.name), metadata=home.owner.metadata))
    assert refusal.reason == "NOT_DUE_YET"


async def test_lifecycle_snooze(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, member="member")
    due = now() + timedelta(hours=1)
    chore = await daily(chores, home, due=due, assignment=round_robin(home.owner, home["member"]))
    request = task_pb2.SnoozeChoreRequest(name=chore.name)
    request.until.FromDatetime(due + timedelta(hours=5))
    snoozed = await chores.SnoozeChore(request, metadata=home.owner.metadata)
    assert at(snoozed.next_due_time) == due + timedelta(hours=5)
    assert snoozed.assignee == chore.assignee
    assert await occurrences(chores, chore, home.owner) == []  # the occurrence has not ended
    [event] = await household_events(stack, "task", "chore.snoozed", home.id)
    body = payload(event, events_pb2.ChoreSnoozed)
    assert at(body.previous_due_at) == due
    # The schedule's anchor is unchanged: the next one after the snoozed occurrence is the schedule's.
    done = await chores.CompleteChore(complete_request(chore), metadata=home.owner.metadata)
    assert at(done.completion.due_time) == due + timedelta(hours=5)
    assert at(done.chore.next_due_time) == due + timedelta(days=1)


async def test_snooze_refuses_the_past_the_next_occurrence_and_absurd_dates(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    due = now() + timedelta(hours=1)
    chore = await daily(chores, home, due=due)
    for until in (now() - timedelta(minutes=1), due + timedelta(days=1), datetime(2500, 1, 1, tzinfo=UTC)):
        request = task_pb2.SnoozeChoreRequest(name=chore.name)
        request.until.FromDatetime(until)
        refusal = await refused(chores.SnoozeChore(request, metadata=home.owner.metadata))
        assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, until
        assert "until" in refusal.violations
    missing = await refused(
        chores.SnoozeChore(task_pb2.SnoozeChoreRequest(name=chore.name), metadata=home.owner.metadata)
    )
    assert "until" in missing.violations
    after = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)
    assert at(after.next_due_time) == due  # nothing moved


async def test_lifecycle_undo(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, member="member")
    due = now() + timedelta(hours=1)
    chore = await daily(chores, home, due=due, assignment=round_robin(home.owner, home["member"]))
    done = await chores.CompleteChore(complete_request(chore), metadata=home["member"].metadata)
    undone = await chores.DeleteCompletion(
        task_pb2.DeleteCompletionRequest(name=done.completion.name), metadata=home["member"].metadata
    )
    # The chore is as it was before the completion: due time, assignee, state, last completion; a new version.
    assert undone.next_due_time == chore.next_due_time
    assert undone.assignee == chore.assignee
    assert undone.state == chore.state
    assert not undone.HasField("last_completion_time")
    assert int(undone.etag) == int(done.chore.etag) + 1
    history = await chores.ListCompletions(
        task_pb2.ListCompletionsRequest(parent=chore.name), metadata=home.owner.metadata
    )
    assert list(history.completions) == []  # its points no longer count
    assert await occurrences(chores, chore, home.owner) == []
    [event] = await household_events(stack, "task", "completion.undone", home.id)
    body = payload(event, events_pb2.CompletionUndone)
    assert (body.completion_id, body.points) == (done.completion.name.rsplit("/", 1)[-1], 10)
    # The occurrence is open again: it can be completed at once.
    again = await chores.CompleteChore(complete_request(chore), metadata=home.owner.metadata)
    assert again.completion.due_time == done.completion.due_time
    # Undone twice: gone.
    twice = await refused(
        chores.DeleteCompletion(
            task_pb2.DeleteCompletionRequest(name=done.completion.name), metadata=home.owner.metadata
        )
    )
    assert twice.code == grpc.StatusCode.NOT_FOUND


async def test_only_the_latest_completion_can_be_undone(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    chore = await daily(chores, home, due=now() + timedelta(hours=1))
    first = await chores.CompleteChore(complete_request(chore), metadata=home.owner.metadata)
    await reopen(stack, chore.name)
    await chores.CompleteChore(complete_request(chore), metadata=home.owner.metadata)
    older = await refused(
        chores.DeleteCompletion(
            task_pb2.DeleteCompletionRequest(name=first.completion.name), metadata=home.owner.metadata
        )
    )
    assert (older.code, older.reason) == (grpc.StatusCode.ABORTED, "CONFLICT")
    # Nor after something else changed the chore (here a snooze).
    other = await daily(chores, home, due=now() + timedelta(hours=1))
    done = await chores.CompleteChore(complete_request(other), metadata=home.owner.metadata)
    snooze = task_pb2.SnoozeChoreRequest(name=other.name)
    snooze.until.FromDatetime(at(done.chore.next_due_time) + timedelta(hours=1))
    await chores.SnoozeChore(snooze, metadata=home.owner.metadata)
    later = await refused(
        chores.DeleteCompletion(
            task_pb2.DeleteCompletionRequest(name=done.completion.name), metadata=home.owner.metadata
        )
    )
    assert later.code == grpc.StatusCode.ABORTED


async def test_a_child_undoes_only_their_own_completions(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, kid="child")
    kid = home["kid"]
    theirs = await daily(chores, home, due=now() + timedelta(hours=1), assignment=round_robin(kid))
    someone_elses = await daily(chores, home, due=now() + timedelta(hours=1))
    by_owner = await chores.CompleteChore(complete_request(someone_elses), metadata=home.owner.metadata)
    refusal = await refused(
        chores.DeleteCompletion(task_pb2.DeleteCompletionRequest(name=by_owner.completion.name), metadata=kid.metadata)
    )
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    own = await chores.CompleteChore(complete_request(theirs), metadata=kid.metadata)
    await chores.DeleteCompletion(task_pb2.DeleteCompletionRequest(name=own.completion.name), metadata=kid.metadata)
    # A child neither skips nor snoozes (adults' decisions about the schedule).
    skip = await refused(chores.SkipChore(task_pb2.SkipChoreRequest(name=theirs.name), metadata=kid.metadata))
    assert skip.code == grpc.StatusCode.PERMISSION_DENIED


async def test_another_households_chore_is_not_found(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home, elsewhere = await household(stack), await household(stack)
    chore = await daily(chores, home, due=now() + timedelta(hours=1))
    done = await chores.CompleteChore(complete_request(chore), metadata=home.owner.metadata)
    stranger = elsewhere.owner.metadata
    # Their own household's path with this household's ids, and this household's path: both not found.
    foreign_chore = chore.name.replace(home.name, elsewhere.name)
    foreign_completion = done.completion.name.replace(home.name, elsewhere.name)
    until = task_pb2.SnoozeChoreRequest(name=foreign_chore)
    until.until.FromDatetime(now() + timedelta(hours=2))
    for call in (
        chores.SkipChore(task_pb2.SkipChoreRequest(name=foreign_chore), metadata=stranger),
        chores.SkipChore(task_pb2.SkipChoreRequest(name=chore.name), metadata=stranger),
        chores.SnoozeChore(until, metadata=stranger),
        chores.DeleteCompletion(task_pb2.DeleteCompletionRequest(name=foreign_completion), metadata=stranger),
        chores.DeleteCompletion(task_pb2.DeleteCompletionRequest(name=done.completion.name), metadata=stranger),
        chores.ListOccurrences(task_pb2.ListOccurrencesRequest(parent=foreign_chore), metadata=stranger),
        chores.ListOccurrences(task_pb2.ListOccurrencesRequest(parent=chore.name), metadata=stranger),
    ):
        assert (await refused(call)).code == grpc.StatusCode.NOT_FOUND


async def test_occurrence_history_pages_newest_first(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    chore = await daily(chores, home, due=now() + timedelta(hours=1))
    ended = []
    for k in range(5):
        if k % 2:
            await chores.SkipChore(task_pb2.SkipChoreRequest(name=chore.name), metadata=home.owner.metadata)
            ended.append(task_pb2.Occurrence.SKIPPED)
        else:
            await chores.CompleteChore(complete_request(chore), metadata=home.owner.metadata)
            ended.append(task_pb2.Occurrence.DONE)
        await reopen(stack, chore.name)
    rows = await occurrences(chores, chore, home.owner, page_size=2)
    assert [r.outcome for r in rows] == list(reversed(ended))
    assert len({r.name for r in rows}) == 5
    dues = [at(r.due_time) for r in rows]
    assert dues == sorted(dues, reverse=True)
