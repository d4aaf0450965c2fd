"""Completions that need an adult's approval (`requires_approval`), over gRPC: the lifecycle table's rows
"complete, pending", "approve", "reject" (services/task/scheduling.py) and what each writes — points, events,
occurrence rows — and the refusals around them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.events import household_events, payload
from tests.support.fixtures import stack_fixture, stub_fixture
from tests.support.occurrences import reopen
from tests.support.people import Household, Person, household
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

Recurrence = task_pb2.Recurrence
Assignment = task_pb2.Assignment
Completion = task_pb2.Completion

stack = stack_fixture(["user", "task"])
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)
points = stub_fixture("task", task_pb2_grpc.PointsServiceStub)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def at(stamp: object) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)  # type: ignore[attr-defined, no-any-return]


async def kids_chore(
    chores: task_pb2_grpc.ChoreServiceStub, home: Household, *, due: datetime, assignees: list[Person] | None = None
) -> task_pb2.Chore:
    """A daily 10-point chore that requires approval, assigned to the kid (or round robin over `assignees`)."""
    people = assignees or [home["kid"]]
    strategy = Assignment.ROUND_ROBIN if len(people) > 1 else Assignment.FIXED
    chore = task_pb2.Chore(
        title="Tidy room",
        points=10,
        requires_approval=True,
        recurrence=Recurrence(interval=Recurrence.Interval(every=1, unit=Recurrence.Interval.DAYS)),
        assignment=Assignment(strategy=strategy, assignees=[p.name for p in people]),
    )
    chore.next_due_time.FromDatetime(due)
    return await chores.CreateChore(
        task_pb2.CreateChoreRequest(parent=home.name, chore=chore), metadata=home.owner.metadata
    )


async def balance(points: task_pb2_grpc.PointsServiceStub, home: Household, person: Person) -> int:
    page = await points.ListPointEntries(
        task_pb2.ListPointEntriesRequest(parent=home.name, user=person.name), metadata=home.owner.metadata
    )
    return page.balance


async def complete(chores: task_pb2_grpc.ChoreServiceStub, chore: task_pb2.Chore, who: Person) -> task_pb2.Completion:
    done = await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=who.metadata)
    return done.completion


async def occurrences(
    chores: task_pb2_grpc.ChoreServiceStub, chore: task_pb2.Chore, who: Person
) -> list[task_pb2.Occurrence]:
    page = await chores.ListOccurrences(task_pb2.ListOccurrencesRequest(parent=chore.name), metadata=who.metadata)
    return list(page.occurrences)


def approve(name: str, note: str = "") -> task_pb2.ApproveCompletionRequest:
    return task_pb2.ApproveCompletionRequest(name=name, note=note)


def reject(name: str, note: str = "") -> task_pb2.RejectCompletionRequest:
    return task_pb2.RejectCompletionRequest(name=name, note=note)


async def test_a_childs_completion_is_pending_earns_nothing_and_is_no_chore_completed_yet(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, points: task_pb2_grpc.PointsServiceStub
) -> None:
    home = await household(stack, kid="child")
    due = now() + timedelta(hours=1)
    chore = await kids_chore(chores, home, due=due)
    done = await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=home["kid"].metadata)
    assert done.completion.status == Completion.PENDING
    assert (done.completion.reviewer, done.completion.HasField("review_time")) == ("", False)
    assert done.completion.points == 10  # what it earns once approved
    # The schedule moved on as for any completion; the occurrence has ended.
    assert at(done.chore.next_due_time) == due + timedelta(days=1)
    [row] = await occurrences(chores, chore, home.owner)
    assert (row.outcome, row.completion) == (task_pb2.Occurrence.DONE, done.completion.name)
    assert await balance(points, home, home["kid"]) == 0
    assert await household_events(stack, "task", "chore.completed", home.id) == []
    [event] = await household_events(stack, "task", "completion.submitted", home.id)
    submitted = payload(event, events_pb2.CompletionSubmitted)
    assert (submitted.completion_id, submitted.completed_by, submitted.points) == (
        done.completion.name.rsplit("/", 1)[-1],
        home["kid"].user_id,
        10,
    )
    # What waits for approval, household-wide and per chore; an approved-only filter does not show it.
    for parent in (f"{home.name}/chores/-", chore.name):
        waiting = await chores.ListCompletions(
            task_pb2.ListCompletionsRequest(parent=parent, status=Completion.PENDING), metadata=home.owner.metadata
        )
        assert [c.name for c in waiting.completions] == [done.completion.name]
    approved = await chores.ListCompletions(
        task_pb2.ListCompletionsRequest(parent=chore.name, status=Completion.APPROVED), metadata=home.owner.metadata
    )
    assert list(approved.completions) == []


async def test_approving_books_the_points_and_publishes_chore_completed_once(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, points: task_pb2_grpc.PointsServiceStub
) -> None:
    home = await household(stack, kid="child", partner="member")
    chore = await kids_chore(chores, home, due=now() + timedelta(hours=1))
    pending = await complete(chores, chore, home["kid"])
    approved = await chores.ApproveCompletion(approve(pending.name, "  Spotless  "), metadata=home["partner"].metadata)
    assert approved.status == Completion.APPROVED
    assert (approved.reviewer, approved.review_note) == (home["partner"].name, "Spotless")
    assert approved.HasField("review_time")
    assert await balance(points, home, home["kid"]) == 10
    [event] = await household_events(stack, "task", "chore.completed", home.id)
    completed = payload(event, events_pb2.ChoreCompleted)
    assert (completed.completion_id, completed.completed_by, completed.points) == (
        pending.name.rsplit("/", 1)[-1],
        home["kid"].user_id,
        10,
    )
    assert completed.completed_at == pending.complete_time  # when it was done, not when it was approved
    [event] = await household_events(stack, "task", "completion.approved", home.id)
    assert payload(event, events_pb2.CompletionApproved).approved_by == home["partner"].user_id
    # Approved again (a retry): the completion as it is, nothing booked or published twice.
    again = await chores.ApproveCompletion(approve(pending.name), metadata=home.owner.metadata)
    assert (again.status, again.reviewer) == (Completion.APPROVED, home["partner"].name)
    assert await balance(points, home, home["kid"]) == 10
    assert len(await household_events(stack, "task", "chore.completed", home.id)) == 1
    # Rejecting what was approved is a conflict: undo it instead.
    refusal = await refused(chores.RejectCompletion(reject(pending.name), metadata=home.owner.metadata))
    assert (refusal.code, refusal.reason) == (grpc.StatusCode.ABORTED, "CONFLICT")
    # And undoing an approved completion takes its points back.
    await chores.DeleteCompletion(task_pb2.DeleteCompletionRequest(name=pending.name), metadata=home.owner.metadata)
    assert await balance(points, home, home["kid"]) == 0


async def test_rejecting_reopens_the_occurrence_when_nothing_changed_the_chore(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, points: task_pb2_grpc.PointsServiceStub
) -> None:
    home = await household(stack, kid="child", sib="child")
    due = now() + timedelta(hours=1)
    chore = await kids_chore(chores, home, due=due, assignees=[home["kid"], home["sib"]])
    holder = chore.assignee
    kid = next(person for person in (home["kid"], home["sib"]) if person.name == holder)
    pending = await complete(chores, chore, kid)
    moved = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)
    assert moved.assignee != holder
    rejected = await chores.RejectCompletion(reject(pending.name, "Still a mess"), metadata=home.owner.metadata)
    assert (rejected.status, rejected.review_note) == (Completion.REJECTED, "Still a mess")
    after = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)
    # The occurrence is open again, with its due time and its assignee; its row is gone.
    assert (at(after.next_due_time), after.assignee) == (due, holder)
    assert not after.HasField("last_completion_time")
    assert int(after.etag) == int(moved.etag) + 1
    assert await occurrences(chores, chore, home.owner) == []
    [event] = await household_events(stack, "task", "completion.rejected", home.id)
    body = payload(event, events_pb2.CompletionRejected)
    assert (body.reopened, body.note, body.rejected_by) == (True, "Still a mess", home.owner.user_id)
    assert (body.missed_occurrence_id, body.HasField("missed_due_at")) == ("", False)  # open again: not missed
    assert (at(body.next_due_at), body.assignee_id) == (due, holder.removeprefix("users/"))
    assert await household_events(stack, "task", "chore.completed", home.id) == []
    # It never counts, and the rejected completion stays in the history as rejected; rejecting again is a no-op.
    again = await chores.RejectCompletion(reject(pending.name), metadata=home.owner.metadata)
    assert again.status == Completion.REJECTED
    assert len(await household_events(stack, "task", "completion.rejected", home.id)) == 1
    assert await balance(points, home, home["kid"]) == await balance(points, home, home["sib"]) == 0
    # The occurrence can be done again at once, and approving that one counts.
    retry = await complete(chores, chore, kid)
    assert at(retry.due_time) == due
    refusal = await refused(chores.ApproveCompletion(approve(pending.name), metadata=home.owner.metadata))
    assert refusal.code == grpc.StatusCode.ABORTED  # a rejected completion is not approved later
    undo = await refused(
        chores.DeleteCompletion(task_pb2.DeleteCompletionRequest(name=pending.name), metadata=home.owner.metadata)
    )
    assert undo.code == grpc.StatusCode.ABORTED


async def test_rejecting_after_the_chore_moved_on_leaves_the_occurrence_ended_as_missed(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, kid="child")
    due = now() + timedelta(hours=1)
    chore = await kids_chore(chores, home, due=due)
    pending = await complete(chores, chore, home["kid"])
    await reopen(stack, chore.name)
    later = await complete(chores, chore, home.owner)  # an adult's: approved at once
    assert later.status == Completion.APPROVED
    before = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)
    await chores.RejectCompletion(reject(pending.name), metadata=home.owner.metadata)
    after = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)
    assert (after.next_due_time, after.assignee, after.etag) == (before.next_due_time, before.assignee, before.etag)
    rows = {row.completion: row for row in await occurrences(chores, chore, home.owner)}
    assert rows[pending.name].outcome == task_pb2.Occurrence.MISSED
    assert rows[pending.name].completed_by == ""
    assert rows[later.name].outcome == task_pb2.Occurrence.DONE
    [event] = await household_events(stack, "task", "completion.rejected", home.id)
    body = payload(event, events_pb2.CompletionRejected)
    assert body.reopened is False
    # What now counts as missed, for analytics (the miss scan never saw this occurrence open).
    assert (at(body.missed_due_at), body.missed_assignee_id) == (due, home["kid"].user_id)
    assert body.missed_occurrence_id == rows[pending.name].name.rsplit("/", 1)[-1]


async def test_an_adults_completion_needs_no_approval(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, points: task_pb2_grpc.PointsServiceStub
) -> None:
    home = await household(stack, kid="child")
    chore = await kids_chore(chores, home, due=now() + timedelta(hours=1))
    # An adult recording the kid's completion vouches for it: approved at once, the kid gets the points.
    done = await chores.CompleteChore(
        task_pb2.CompleteChoreRequest(name=chore.name, completed_by=home["kid"].name), metadata=home.owner.metadata
    )
    assert done.completion.status == Completion.APPROVED
    assert await balance(points, home, home["kid"]) == 10
    assert len(await household_events(stack, "task", "chore.completed", home.id)) == 1
    assert await household_events(stack, "task", "completion.submitted", home.id) == []


async def test_undoing_a_pending_completion_takes_back_nothing(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, points: task_pb2_grpc.PointsServiceStub
) -> None:
    home = await household(stack, kid="child")
    chore = await kids_chore(chores, home, due=now() + timedelta(hours=1))
    pending = await complete(chores, chore, home["kid"])
    await chores.DeleteCompletion(task_pb2.DeleteCompletionRequest(name=pending.name), metadata=home["kid"].metadata)
    entries = await points.ListPointEntries(
        task_pb2.ListPointEntriesRequest(parent=home.name, user=home["kid"].name), metadata=home.owner.metadata
    )
    assert (entries.balance, list(entries.entries)) == (0, [])
    [event] = await household_events(stack, "task", "completion.undone", home.id)
    assert payload(event, events_pb2.CompletionUndone).points == 0


async def test_who_may_review_and_what_is_refused(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, kid="child", sib="child")
    other = await household(stack)
    chore = await kids_chore(chores, home, due=now() + timedelta(hours=1))
    pending = await complete(chores, chore, home["kid"])
    # A child approves nothing, not even another child's completion.
    for who in (home["kid"], home["sib"]):
        refusal = await refused(chores.ApproveCompletion(approve(pending.name), metadata=who.metadata))
        assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    # An outsider learns nothing; nor does a completion name under another chore or household.
    outsider = await refused(chores.ApproveCompletion(approve(pending.name), metadata=other.owner.metadata))
    assert outsider.code == grpc.StatusCode.NOT_FOUND
    completion_id = pending.name.rsplit("/", 1)[-1]
    sibling_chore = await kids_chore(chores, home, due=now() + timedelta(hours=1))
    for name in (
        f"{sibling_chore.name}/completions/{completion_id}",
        f"{other.name}/chores/{chore.name.rsplit('/', 1)[-1]}/completions/{completion_id}",
    ):
        refusal = await refused(chores.RejectCompletion(reject(name), metadata=other.owner.metadata))
        assert refusal.code == grpc.StatusCode.NOT_FOUND, name
    mine = await refused(
        chores.RejectCompletion(
            reject(f"{sibling_chore.name}/completions/{completion_id}"), metadata=home.owner.metadata
        )
    )
    assert mine.code == grpc.StatusCode.NOT_FOUND
    # Hostile input: a note too long, a malformed name.
    long = await refused(chores.RejectCompletion(reject(pending.name, "x" * 1001), metadata=home.owner.metadata))
    assert (long.code, "note" in long.violations) == (grpc.StatusCode.INVALID_ARGUMENT, True)
    bad = await refused(chores.ApproveCompletion(approve("households/x/completions/y"), metadata=home.owner.metadata))
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    # Nothing of that changed it.
    still = await chores.ListCompletions(
        task_pb2.ListCompletionsRequest(parent=chore.name, status=Completion.PENDING), metadata=home.owner.metadata
    )
    assert [c.name for c in still.completions] == [pending.name]
    unknown = await refused(
        chores.ListCompletions(
            task_pb2.ListCompletionsRequest(parent=chore.name, status=99),
            metadata=home.owner.metadata,  # type: ignore[arg-type]
        )
    )
    assert unknown.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_tick_or_a_claim_meanwhile_does_not_stop_a_rejection_reopening_or_an_undo(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, kid="child")
    due = now() + timedelta(hours=1)
    made = task_pb2.Chore(
        title="Tidy",
        points=10,
        requires_approval=True,
        recurrence=Recurrence(interval=Recurrence.Interval(every=1, unit=Recurrence.Interval.DAYS)),
        assignment=Assignment(strategy=Assignment.FIXED, assignees=[home["kid"].name]),
        subtasks=[task_pb2.Subtask(title="Make the bed")],
    )
    made.next_due_time.FromDatetime(due)
    chore = await chores.CreateChore(
        task_pb2.CreateChoreRequest(parent=home.name, chore=made), metadata=home.owner.metadata
    )
    pending = await complete(chores, chore, home["kid"])
    # The kid ticks a subtask of the next occurrence: no change of the schedule.
    tick = task_pb2.TickSubtaskRequest(name=f"{chore.name}/subtasks/{chore.subtasks[0].id}", done=True)
    await chores.TickSubtask(tick, metadata=home["kid"].metadata)
    await chores.RejectCompletion(reject(pending.name), metadata=home.owner.metadata)
    after = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)
    assert at(after.next_due_time) == due  # reopened, not counted as missed
    assert await occurrences(chores, chore, home.owner) == []
    # The same for an undo after a tick.
    again = await complete(chores, chore, home["kid"])
    await chores.TickSubtask(tick, metadata=home["kid"].metadata)
    await chores.DeleteCompletion(task_pb2.DeleteCompletionRequest(name=again.name), metadata=home["kid"].metadata)
    back = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)
    assert at(back.next_due_time) == due


async def test_only_a_listed_member_claims_a_chore_whose_rotation_found_nobody(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, kid="child", other="member")
    made = task_pb2.Chore(
        title="Bins",
        recurrence=Recurrence(once=Recurrence.Once()),
        assignment=Assignment(strategy=Assignment.UNASSIGNED),
    )
    free = await chores.CreateChore(
        task_pb2.CreateChoreRequest(parent=home.name, chore=made), metadata=home.owner.metadata
    )
    # Nobody listed: anyone may claim it.
    claimed = await chores.ClaimChore(task_pb2.ClaimChoreRequest(name=free.name), metadata=home["other"].metadata)
    assert claimed.assignee == home["other"].name
    # A rotation over the kid alone that found nobody (as when everyone listed is away): only the kid may take it.
    made.assignment.CopyFrom(Assignment(strategy=Assignment.ROUND_ROBIN, assignees=[home["kid"].name]))
    listed = await chores.CreateChore(
        task_pb2.CreateChoreRequest(parent=home.name, chore=made), metadata=home.owner.metadata
    )
    engine = create_async_engine(stack.databases["task"])
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text("UPDATE chores SET assignee_id = NULL WHERE id = :id"),
                {"id": uuid.UUID(listed.name.rsplit("/", 1)[-1])},
            )
    finally:
        await engine.dispose()
    refusal = await refused(
        chores.ClaimChore(task_pb2.ClaimChoreRequest(name=listed.name), metadata=home["other"].metadata)
    )
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    taken = await chores.ClaimChore(task_pb2.ClaimChoreRequest(name=listed.name), metadata=home["kid"].metadata)
    assert taken.assignee == home["kid"].name
