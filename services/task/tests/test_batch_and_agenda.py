"""BatchCreateChores (per-item results, atomic all-or-nothing) and ListAgenda (a person's chores across households)
over gRPC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from hearth.task.v1 import task_pb2, task_pb2_grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit import pagination
from kit.errors import Conflict, InvalidArgument
from kit.interceptors import error_of
from tests.support.events import household_events
from tests.support.fixtures import stack_fixture, stub_fixture
from tests.support.people import Household, Person, household, register
from tests.support.rpc import refused
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

Recurrence = task_pb2.Recurrence
Assignment = task_pb2.Assignment

stack = stack_fixture(["user", "task"])
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def chore(title: str, *, due: datetime | None = None, assignee: Person | None = None) -> task_pb2.Chore:
    made = task_pb2.Chore(
        title=title,
        points=5,
        recurrence=Recurrence(once=Recurrence.Once()),
        assignment=Assignment(strategy=Assignment.FIXED, assignees=[assignee.name])
        if assignee
        else Assignment(strategy=Assignment.UNASSIGNED),
    )
    if due is not None:
        made.next_due_time.FromDatetime(due)
    return made


def batch(home: Household, items: list[task_pb2.Chore], *, atomic: bool = False) -> task_pb2.BatchCreateChoresRequest:
    return task_pb2.BatchCreateChoresRequest(parent=home.name, chores=items, atomic=atomic)


async def titles(chores: task_pb2_grpc.ChoreServiceStub, home: Household) -> list[str]:
    page = await chores.ListChores(
        task_pb2.ListChoresRequest(parent=home.name, order_by="title", page_size=200), metadata=home.owner.metadata
    )
    return [c.title for c in page.chores]


# --- BatchCreateChores -----------------------------------------------------------------------------------


async def test_a_batch_creates_the_valid_items_and_says_why_the_others_were_refused(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    stranger = await register(stack, "Stranger")
    items = [chore("Bins"), chore("Dishes", assignee=stranger), chore("Windows", assignee=home.owner)]
    response = await chores.BatchCreateChores(batch(home, items), metadata=home.owner.metadata)
    bins, refused_item, windows = response.results
    assert (bins.chore.title, windows.chore.title, windows.chore.assignee) == ("Bins", "Windows", home.owner.name)
    assert refused_item.WhichOneof("outcome") == "error"
    error = error_of(refused_item.error)
    assert isinstance(error, InvalidArgument)
    assert [v.field for v in error.violations] == ["assignment.assignees[0]"]
    assert await titles(chores, home) == ["Bins", "Windows"]
    created = await household_events(stack, "task", "chore.created", home.id)
    assert len(created) == 2


async def test_an_atomic_batch_creates_all_or_nothing(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    bad = chore("Never")
    bad.points = 5000
    response = await chores.BatchCreateChores(
        batch(home, [chore("Bins"), bad, chore("Windows")], atomic=True), metadata=home.owner.metadata
    )
    first, second, third = (error_of(result.error) for result in response.results)
    assert isinstance(second, InvalidArgument)
    assert [v.field for v in second.violations] == ["points"]
    assert isinstance(first, Conflict)
    assert isinstance(third, Conflict)
    assert "(1)" in first.message  # names the refused item
    assert await titles(chores, home) == []
    assert await household_events(stack, "task", "chore.created", home.id) == []
    # All valid: all made, in order.
    done = await chores.BatchCreateChores(
        batch(home, [chore("Bins"), chore("Windows")], atomic=True), metadata=home.owner.metadata
    )
    assert [r.chore.title for r in done.results] == ["Bins", "Windows"]
    assert await titles(chores, home) == ["Bins", "Windows"]


async def test_batch_refusals(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, kid="child")
    other = await household(stack)
    for items, field in (([], "chores"), ([chore(f"C{i}") for i in range(501)], "chores")):
        refusal = await refused(chores.BatchCreateChores(batch(home, items), metadata=home.owner.metadata))
        assert (refusal.code, field in refusal.violations) == (grpc.StatusCode.INVALID_ARGUMENT, True)
    child = await refused(chores.BatchCreateChores(batch(home, [chore("Bins")]), metadata=home["kid"].metadata))
    assert child.code == grpc.StatusCode.PERMISSION_DENIED
    outsider = await refused(chores.BatchCreateChores(batch(home, [chore("Bins")]), metadata=other.owner.metadata))
    assert outsider.code == grpc.StatusCode.NOT_FOUND
    malformed = await refused(
        chores.BatchCreateChores(
            task_pb2.BatchCreateChoresRequest(parent="households/nope", chores=[chore("Bins")]),
            metadata=home.owner.metadata,
        )
    )
    assert malformed.code == grpc.StatusCode.INVALID_ARGUMENT
    assert await titles(chores, home) == []


# --- ListAgenda ------------------------------------------------------------------------------------------


async def agenda(
    chores: task_pb2_grpc.ChoreServiceStub, who: Person, *, until: datetime | None = None, page_size: int = 2
) -> list[task_pb2.Chore]:
    found: list[task_pb2.Chore] = []
    token = ""
    while True:
        request = task_pb2.ListAgendaRequest(page_size=page_size, page_token=token)
        if until is not None:
            request.until.FromDatetime(until)
        page = await chores.ListAgenda(request, metadata=who.metadata)
        assert len(page.chores) <= page_size
        found += page.chores
        token = page.next_page_token
        if not token:
            return found


async def test_the_agenda_holds_the_callers_active_chores_of_every_household_by_due_time(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, me="member", partner="member")
    me = home["me"]
    elsewhere = await household(stack)
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        households = user_pb2_grpc.HouseholdServiceStub(channel)
        invite = await households.CreateInvite(
            user_pb2.CreateInviteRequest(parent=elsewhere.name, invite=user_pb2.Invite(role=user_pb2.ROLE_MEMBER)),
            metadata=elsewhere.owner.metadata,
        )
        await households.AcceptInvite(user_pb2.AcceptInviteRequest(code=invite.code), metadata=me.metadata)
    start = now()

    async def make(where: Household, title: str, hours: int, assignee: Person | None) -> task_pb2.Chore:
        return await chores.CreateChore(
            task_pb2.CreateChoreRequest(
                parent=where.name, chore=chore(title, due=start + timedelta(hours=hours), assignee=assignee)
            ),
            metadata=where.owner.metadata,
        )

    overdue = await make(home, "Overdue", -3, me)
    later = await make(elsewhere, "Later", 30, me)
    soon = await make(elsewhere, "Soon", 2, me)
    tomorrow = await make(home, "Tomorrow", 20, me)
    await make(home, "Partner's", 1, home["partner"])
    await make(home, "Anyone's", 1, None)
    archived = await make(home, "Archived", 4, me)
    await chores.DeleteChore(task_pb2.DeleteChoreRequest(name=archived.name), metadata=home.owner.metadata)
    done = await make(home, "Done", -1, me)
    await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=done.name), metadata=me.metadata)

    mine = await agenda(chores, me)
    assert [c.name for c in mine] == [overdue.name, soon.name, tomorrow.name, later.name]
    assert [c.title for c in await agenda(chores, me, until=start + timedelta(hours=20))] == ["Overdue", "Soon"]
    assert await agenda(chores, home["partner"], page_size=50) != []
    assert await agenda(chores, elsewhere.owner) == []  # owns a household, holds none of its chores

    # Once they leave a household, its chores are no longer on their agenda.
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        households = user_pb2_grpc.HouseholdServiceStub(channel)
        await households.DeleteMember(
            user_pb2.DeleteMemberRequest(name=f"{elsewhere.name}/members/{me.user_id}"), metadata=me.metadata
        )

    async def left() -> bool:
        return [c.title for c in await agenda(chores, me)] == ["Overdue", "Tomorrow"]

    await eventually(left)


async def test_agenda_refusals(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    forged = pagination.encode_token(["not a time", "x"], pagination.fingerprint("agenda", home.owner.user_id, ""))
    refusal = await refused(
        chores.ListAgenda(task_pb2.ListAgendaRequest(page_token=forged), metadata=home.owner.metadata)
    )
    assert (refusal.code, "page_token" in refusal.violations) == (grpc.StatusCode.INVALID_ARGUMENT, True)
    # Another person's token is not theirs to replay: it was made for another query.
    other = await household(stack)
    mine = pagination.encode_token(
        [now().isoformat(), "0192f1b0-aa11-7b22-8c33-d44e55f66a77"],
        pagination.fingerprint("agenda", other.owner.user_id, ""),
    )
    theirs = await refused(chores.ListAgenda(task_pb2.ListAgendaRequest(page_token=mine), metadata=home.owner.metadata))
    assert theirs.code == grpc.StatusCode.INVALID_ARGUMENT
    far = task_pb2.ListAgendaRequest()
    far.until.FromDatetime(datetime(2500, 1, 1, tzinfo=UTC))
    assert (
        await refused(chores.ListAgenda(far, metadata=home.owner.metadata))
    ).code == grpc.StatusCode.INVALID_ARGUMENT
    nobody = await refused(chores.ListAgenda(task_pb2.ListAgendaRequest()))
    assert nobody.code == grpc.StatusCode.UNAUTHENTICATED
