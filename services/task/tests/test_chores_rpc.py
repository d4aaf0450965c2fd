"""ChoreService end to end: real user and task servers, real tokens, households and roles from the user service.

Each test makes its own household, so tests share the (module-scoped) stack but never each other's data.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
import redis.asyncio as aioredis
from google.protobuf import field_mask_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from hearth.events.v1 import events_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc

from kit.ids import new_id
from tests.support.events import household_events, payload
from tests.support.fixtures import stack_fixture, stub_fixture
from tests.support.infra import infra
from tests.support.occurrences import reopen
from tests.support.people import Household, Person, household, register
from tests.support.photos import encoded, upload
from tests.support.rpc import refused
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

BERLIN = ZoneInfo("Europe/Berlin")
Recurrence = task_pb2.Recurrence
Assignment = task_pb2.Assignment
Chore = task_pb2.Chore


stack = stack_fixture(["user", "task"])
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)


def once() -> task_pb2.Recurrence:
    return Recurrence(once=Recurrence.Once())


def interval(every: int, unit: int, **kwargs: Any) -> task_pb2.Recurrence:
    return Recurrence(interval=Recurrence.Interval(every=every, unit=unit), **kwargs)


def unassigned() -> task_pb2.Assignment:
    return Assignment(strategy=Assignment.UNASSIGNED)


def fixed(*people: Person) -> task_pb2.Assignment:
    return Assignment(strategy=Assignment.FIXED, assignees=[p.name for p in people])


def new_chore(title: str = "Dishes", *, due: datetime | None = None, **fields: Any) -> task_pb2.Chore:
    fields.setdefault("points", 10)
    fields.setdefault("recurrence", once())
    fields.setdefault("assignment", unassigned())
    chore = Chore(title=title, **fields)
    if due is not None:
        chore.next_due_time.FromDatetime(due)
    return chore


def ts(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def due_of(chore: task_pb2.Chore) -> datetime:
    return chore.next_due_time.ToDatetime(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def create(
    chores: task_pb2_grpc.ChoreServiceStub, home: Household, by: Person | None = None, **kwargs: Any
) -> task_pb2.Chore:
    request_id = kwargs.pop("request_id", "")
    chore = kwargs.pop("chore", None) or new_chore(**kwargs)
    return await chores.CreateChore(
        task_pb2.CreateChoreRequest(parent=home.name, chore=chore, request_id=request_id),
        metadata=(by or home.owner).metadata,
    )


async def list_all(
    chores: task_pb2_grpc.ChoreServiceStub, home: Household, *, page_size: int = 2, **filters: Any
) -> list[task_pb2.Chore]:
    """Every page of a listing, following next_page_token; checks each page's size bound."""
    found: list[task_pb2.Chore] = []
    token = ""
    while True:
        page = await chores.ListChores(
            task_pb2.ListChoresRequest(parent=home.name, page_size=page_size, page_token=token, **filters),
            metadata=home.owner.metadata,
        )
        assert len(page.chores) <= page_size
        found += page.chores
        token = page.next_page_token
        if not token:
            return found


def titles(found: list[task_pb2.Chore]) -> list[str]:
    return [chore.title for chore in found]


# --- create / get ----------------------------------------------------------------------------------


async def test_create_and_get_round_trip_every_field(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, member="member")
    due = datetime(now().year + 1, 4, 15, 16, tzinfo=UTC)  # in the chore's season (April, September)
    chore = Chore(
        title="  Vacuum the stairs  ",
        description="All three floors.",
        category="cleaning",
        labels=["weekly", "indoor"],
        points=20,
        estimated_minutes=30,
        recurrence=interval(2, Recurrence.Interval.WEEKS, rolling=True, months=[9, 4]),
        assignment=Assignment(
            strategy=Assignment.FIXED,
            assignees=[home["member"].name, home.owner.name],
            rotate=Assignment.ON_COMPLETION,
            on_miss=Assignment.KEEP,
            grace_minutes=90,
        ),
        reminders=[task_pb2.Reminder(before_minutes=60), task_pb2.Reminder(before_minutes=1440)],
        requires_photo=True,
    )
    chore.next_due_time.FromDatetime(due)
    created = await create(chores, home, chore=chore)

    assert created.name.startswith(f"{home.name}/chores/")
    assert created.title == "Vacuum the stairs"  # trimmed
    assert created.description == "All three floors."
    assert created.category == "cleaning"
    assert list(created.labels) == ["weekly", "indoor"]
    assert created.points == 20
    assert created.HasField("estimated_minutes")
    assert created.estimated_minutes == 30
    assert created.recurrence.WhichOneof("kind") == "interval"
    assert created.recurrence.interval.every == 2
    assert created.recurrence.interval.unit == Recurrence.Interval.WEEKS
    assert created.recurrence.rolling is True
    assert list(created.recurrence.months) == [4, 9]
    assert created.assignment.strategy == Assignment.FIXED
    assert list(created.assignment.assignees) == [home["member"].name, home.owner.name]
    assert created.assignment.rotate == Assignment.ON_COMPLETION
    assert created.assignment.on_miss == Assignment.KEEP
    assert created.assignment.grace_minutes == 90
    assert created.assignee == home["member"].name  # fixed: the first assignee
    assert sorted(r.before_minutes for r in created.reminders) == [60, 1440]
    assert created.requires_photo is True
    assert created.state == Chore.ACTIVE
    assert created.creator == home.owner.name
    assert created.etag
    assert created.HasField("create_time")
    assert created.update_time == created.create_time
    assert not created.HasField("last_completion_time")
    assert due_of(created) == due

    got = await chores.GetChore(task_pb2.GetChoreRequest(name=created.name), metadata=home["member"].metadata)
    assert got == created


async def test_list_and_get_show_each_chore_as_its_writes_do(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    """GetChore and ListChores read plain rows (converters.chore_row_to_proto), the writes answer from the model
    (converters.chore_to_proto): for the same chores, in every shape, the three agree field for field."""
    home = await household(stack, member="member")
    owner = home.owner.metadata
    due = datetime(now().year + 1, 4, 15, 16, tzinfo=UTC)
    every_field = Chore(
        title="Vacuum",
        description="All three floors.",
        category="cleaning",
        labels=["weekly", "indoor"],
        points=20,
        estimated_minutes=0,  # present although zero
        recurrence=interval(2, Recurrence.Interval.WEEKS, rolling=True, months=[9, 4]),
        assignment=Assignment(
            strategy=Assignment.FIXED,
            assignees=[home["member"].name, home.owner.name],
            rotate=Assignment.ON_COMPLETION,
            on_miss=Assignment.KEEP,
            grace_minutes=90,
        ),
        reminders=[task_pb2.Reminder(before_minutes=60), task_pb2.Reminder(before_minutes=1440)],
        requires_photo=True,
    )
    every_field.next_due_time.FromDatetime(due)
    latest = {
        "every field": await create(chores, home, chore=every_field),
        "defaults": await create(chores, home, title="Defaults"),
        "same schedule": await create(chores, home, title="Daily A", recurrence=interval(1, Recurrence.Interval.DAYS)),
        "same schedule again": await create(
            chores, home, title="Daily B", recurrence=interval(1, Recurrence.Interval.DAYS)
        ),
    }
    done = await create(chores, home, title="One-off", due=now() + timedelta(hours=1))
    completed = await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=done.name), metadata=owner)
    latest["done"] = completed.chore
    assert not completed.chore.HasField("next_due_time")
    updated = latest["defaults"]
    updated.description = "now with a description"
    latest["defaults"] = await chores.UpdateChore(
        task_pb2.UpdateChoreRequest(chore=updated, update_mask=field_mask_pb2.FieldMask(paths=["description"])),
        metadata=owner,
    )
    archived = await create(chores, home, title="Archived")
    await chores.DeleteChore(task_pb2.DeleteChoreRequest(name=archived.name), metadata=owner)
    latest["archived"] = archived
    latest["archived"].state = Chore.ARCHIVED
    latest["archived"].etag = str(int(archived.etag) + 1)

    listed = [
        chore
        for status in ("", "done", "archived")
        for chore in await list_all(chores, home, page_size=50, status=status)
    ]
    got = {
        chore.name: await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=owner)
        for chore in latest.values()
    }
    assert sorted(chore.name for chore in listed) == sorted(got)
    for chore in listed:
        assert chore == got[chore.name]
    for key, chore in latest.items():
        if key == "archived":  # DeleteChore answers Empty: all but the state, etag and update time as created
            got[chore.name].ClearField("update_time")
            chore.ClearField("update_time")
        assert got[chore.name] == chore, key


async def test_create_defaults(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    before = datetime.now(UTC)
    created = await create(chores, home, title="Fix the tap")
    assert before - timedelta(seconds=1) <= due_of(created) <= datetime.now(UTC)  # first due: now
    assert created.assignee == ""
    assert created.recurrence.WhichOneof("kind") == "once"
    assert not created.HasField("estimated_minutes")
    assert created.state == Chore.ACTIVE


async def test_create_is_idempotent_with_a_request_id(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    request_id = str(new_id())
    first = await create(chores, home, title="Water plants", request_id=request_id)
    again = await create(chores, home, title="Water plants", request_id=request_id)
    assert again == first
    # Concurrent retries are one chore too.
    racing = await asyncio.gather(*(create(chores, home, title="Mop", request_id="race") for _ in range(5)))
    assert len({chore.name for chore in racing}) == 1
    # The same id for a different request is refused, not answered with the first chore.
    reused = await refused(create(chores, home, title="Something else", request_id=request_id))
    assert reused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in reused.violations
    assert sorted(titles(await list_all(chores, home, page_size=10))) == ["Mop", "Water plants"]
    created_events = await household_events(stack, "task", "chore.created", home.id)
    assert len(created_events) == 2


async def test_create_writes_chore_created_with_the_change_and_the_relay_publishes_it(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, member="member")
    created = await create(chores, home, title="Bins", points=7, assignment=fixed(home["member"]))
    chore_id = created.name.rsplit("/", 1)[-1]
    [event] = await household_events(stack, "task", "chore.created", home.id)
    assert event.source == "task"
    assert event.actor_id == home.owner.user_id
    body = payload(event, events_pb2.ChoreCreated)
    assert body.chore_id == chore_id
    assert body.household_id == home.id
    assert body.title == "Bins"
    assert body.assignee_id == home["member"].user_id
    assert body.points == 7
    assert body.next_due_at.ToDatetime(tzinfo=UTC) == due_of(created)

    client = aioredis.Redis.from_url(infra().redis_url)
    try:

        async def published() -> bool:
            entries = await client.xrange(f"{stack.namespace}.events.task")
            return any(fields[b"event_id"].decode() == event.event_id for _, fields in entries)

        assert await eventually(published)
    finally:
        await client.aclose()


# --- validation ------------------------------------------------------------------------------------


async def test_invalid_input_is_refused_with_field_violations(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    outsider = await register(stack, "Stranger")
    bad = Chore(
        title="   ",
        description="x" * 5001,
        category="c" * 51,
        labels=[f"l{n}" for n in range(21)],
        points=5000,
        estimated_minutes=1441,
        recurrence=interval(0, Recurrence.Interval.UNIT_UNSPECIFIED, months=[13]),
        assignment=Assignment(strategy=Assignment.FIXED, assignees=[outsider.name, "not-a-user"]),
    )
    refusal = await refused(create(chores, home, chore=bad))
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refusal.reason == "VALIDATION_FAILED"
    assert {
        "title",
        "description",
        "category",
        "labels",
        "points",
        "estimated_minutes",
        "recurrence.months",
        "recurrence.every",
        "recurrence.unit",
        "assignment.assignees[1]",
    } <= set(refusal.violations)

    cases: list[tuple[task_pb2.Chore, str, str]] = [
        (new_chore(recurrence=Recurrence()), "recurrence", "required"),
        (Chore(title="No recurrence", assignment=unassigned()), "recurrence", "required"),
        (new_chore(assignment=Assignment()), "assignment.strategy", "required"),
        (new_chore(recurrence=Recurrence(weekly=Recurrence.Weekly(every=1))), "recurrence.days", "at least one day"),
        (new_chore(recurrence=Recurrence(rrule=Recurrence.RRule(rrule="FREQ=HOURLY"))), "recurrence.rrule", "FREQ"),
        (new_chore(assignment=Assignment(strategy=Assignment.ROUND_ROBIN)), "assignment.assignees", "at least one"),
        (new_chore(assignment=Assignment(strategy=Assignment.FIXED)), "assignment.assignees", "needs one assignee"),
        (new_chore(assignment=fixed(outsider)), "assignment.assignees[0]", "not a member"),
        (
            new_chore(assignment=Assignment(strategy=Assignment.UNASSIGNED, assignees=[home.owner.name])),
            "assignment.assignees",
            "takes no assignees",
        ),
        (
            new_chore(assignment=Assignment(strategy=Assignment.FIXED, assignees=[home.owner.name] * 2)),
            "assignment.assignees[1]",
            "twice",
        ),
        (
            new_chore(assignment=Assignment(strategy=Assignment.UNASSIGNED, rotate=Assignment.DAILY)),
            "assignment.rotate",
            "use round_robin",
        ),
        (new_chore(labels=["ok", " "]), "labels[1]", "1 to 50"),
        (new_chore(points=-1), "points", "between 0 and 1000"),
        (new_chore(recurrence=interval(1, Recurrence.Interval.YEARS, months=[4])), "recurrence.months", "never"),
        (new_chore(reminders=[task_pb2.Reminder(before_minutes=-5)]), "reminders[0].before_minutes", "between"),
    ]
    for chore, field, message in cases:
        if field == "recurrence.months":  # a yearly chore due in March never falls in April
            chore.next_due_time.FromDatetime(datetime(now().year + 1, 3, 10, 9, tzinfo=UTC))
        refusal = await refused(create(chores, home, chore=chore))
        assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, (field, refusal)
        assert field in refusal.violations, (field, refusal)
        assert message in refusal.violations[field], (field, refusal)

    assert await list_all(chores, home) == []  # nothing half-created
    assert await household_events(stack, "task", "chore.created", home.id) == []


async def test_names_are_validated(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    for name in ("chores/x", f"{home.name}/chores/not-a-uuid", f"{home.name}/tasks/{new_id()}"):
        refusal = await refused(chores.GetChore(task_pb2.GetChoreRequest(name=name), metadata=home.owner.metadata))
        assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, name
        assert "name" in refusal.violations
    refusal = await refused(
        chores.GetChore(task_pb2.GetChoreRequest(name=f"{home.name}/chores/{new_id()}"), metadata=home.owner.metadata)
    )
    assert refusal.code == grpc.StatusCode.NOT_FOUND


# --- authorization ---------------------------------------------------------------------------------


async def test_roles_and_outsiders(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, admin="admin", member="member", kid="child")
    outsider_home = await household(stack)
    outsider = outsider_home.owner
    kid = home["kid"]
    chore = await create(chores, home, title="Dishes")
    chore_id = chore.name.rsplit("/", 1)[-1]

    # Any adult creates and edits; a child only reads.
    for key in ("admin", "member"):
        made = await create(chores, home, home[key], title=f"By {key}")
        assert made.creator == home[key].name
    denied = [
        create(chores, home, kid, title="Sneaky"),
        chores.UpdateChore(
            task_pb2.UpdateChoreRequest(chore=Chore(name=chore.name, title="Mine"), update_mask={"paths": ["title"]}),
            metadata=kid.metadata,
        ),
        chores.DeleteChore(task_pb2.DeleteChoreRequest(name=chore.name), metadata=kid.metadata),
    ]
    for call in denied:
        refusal = await refused(call)
        assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
        assert refusal.reason == "PERMISSION_DENIED"
    got = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=kid.metadata)
    assert got.title == "Dishes"
    listed = await chores.ListChores(task_pb2.ListChoresRequest(parent=home.name), metadata=kid.metadata)
    assert sorted(titles(list(listed.chores))) == ["By admin", "By member", "Dishes"]

    # An outsider sees nothing at all: not the household, not its chores.
    hidden = [
        chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=outsider.metadata),
        chores.ListChores(task_pb2.ListChoresRequest(parent=home.name), metadata=outsider.metadata),
        create(chores, home, outsider, title="Intruder"),
        chores.UpdateChore(
            task_pb2.UpdateChoreRequest(chore=Chore(name=chore.name, title="x"), update_mask={"paths": ["title"]}),
            metadata=outsider.metadata,
        ),
        chores.DeleteChore(task_pb2.DeleteChoreRequest(name=chore.name), metadata=outsider.metadata),
        chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=outsider.metadata),
        chores.ListCompletions(task_pb2.ListCompletionsRequest(parent=chore.name), metadata=outsider.metadata),
        # The chore's id under the outsider's own household: still not found.
        chores.GetChore(
            task_pb2.GetChoreRequest(name=f"{outsider_home.name}/chores/{chore_id}"), metadata=outsider.metadata
        ),
        chores.CompleteChore(
            task_pb2.CompleteChoreRequest(name=f"{outsider_home.name}/chores/{chore_id}"), metadata=outsider.metadata
        ),
    ]
    for call in hidden:
        refusal = await refused(call)
        assert refusal.code == grpc.StatusCode.NOT_FOUND
        assert refusal.reason == "NOT_FOUND"
    assert (await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)).etag == (
        chore.etag
    )  # untouched

    anonymous = await refused(chores.GetChore(task_pb2.GetChoreRequest(name=chore.name)))
    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED


# --- list ------------------------------------------------------------------------------------------


async def test_list_pages_in_due_order_and_other_orders(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    base = now()
    specs = [  # title, due offset (hours), points
        ("Cellar", 5, 30),
        ("Attic", -3, 10),
        ("Bathroom", 1, 30),
        ("Dusting", 48, 10),
        ("Ironing", -30, 50),
        ("Garden", 2, 30),
        ("Hallway", 100, 0),
    ]
    for title, hours, points in specs:
        await create(chores, home, title=title, due=base + timedelta(hours=hours), points=points)

    by_due = await list_all(chores, home, page_size=3)
    assert titles(by_due) == ["Ironing", "Attic", "Bathroom", "Garden", "Cellar", "Dusting", "Hallway"]
    assert len({c.name for c in by_due}) == 7
    first_page = await chores.ListChores(
        task_pb2.ListChoresRequest(parent=home.name, page_size=3), metadata=home.owner.metadata
    )
    assert len(first_page.chores) == 3
    assert first_page.next_page_token

    assert titles(await list_all(chores, home, page_size=2, order_by="due_at desc")) == list(reversed(titles(by_due)))
    assert titles(await list_all(chores, home, page_size=2, order_by="title")) == sorted(t for t, _, _ in specs)
    assert titles(await list_all(chores, home, page_size=3, order_by="title desc")) == sorted(
        (t for t, _, _ in specs), reverse=True
    )
    assert titles(await list_all(chores, home, page_size=2, order_by="created_at")) == [t for t, _, _ in specs]
    assert titles(await list_all(chores, home, page_size=4, order_by="created_at desc")) == [
        t for t, _, _ in reversed(specs)
    ]
    # Ties (three chores with 30 points) are broken by id, consistently across pages.
    by_points = await list_all(chores, home, page_size=2, order_by="points desc")
    assert [c.points for c in by_points] == [50, 30, 30, 30, 10, 10, 0]
    assert len({c.name for c in by_points}) == 7
    tied = [c.name for c in by_points if c.points == 30]
    assert tied == sorted(tied, reverse=True)
    assert [c.points for c in await list_all(chores, home, page_size=5, order_by="points")] == [
        0,
        10,
        10,
        30,
        30,
        30,
        50,
    ]

    # Page tokens belong to their query.
    page = await chores.ListChores(
        task_pb2.ListChoresRequest(parent=home.name, page_size=2, order_by="title"), metadata=home.owner.metadata
    )
    for request in (
        task_pb2.ListChoresRequest(parent=home.name, page_size=2, page_token=page.next_page_token),
        task_pb2.ListChoresRequest(parent=home.name, order_by="title", category="x", page_token=page.next_page_token),
        task_pb2.ListChoresRequest(parent=home.name, page_token="garbage!"),
        task_pb2.ListChoresRequest(parent=home.name, order_by="colour"),
        task_pb2.ListChoresRequest(parent=home.name, order_by="title sideways"),
        task_pb2.ListChoresRequest(parent=home.name, status="someday"),
        task_pb2.ListChoresRequest(parent=home.name, page_size=-1),
        task_pb2.ListChoresRequest(parent=home.name, assignee="nobody"),
    ):
        refusal = await refused(chores.ListChores(request, metadata=home.owner.metadata))
        assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, request


async def test_list_filters(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, time_zone="Europe/Berlin", member="member")
    member = home["member"]
    base = now()
    local_now = base.astimezone(BERLIN)
    tomorrow = datetime.combine(local_now.date() + timedelta(days=1), datetime.min.time(), tzinfo=BERLIN)
    made = {}
    made["overdue"] = await create(
        chores,
        home,
        title="Vacuum the stairs",
        description="with the big hoover",
        due=base - timedelta(hours=2),
        category="cleaning",
        labels=["indoor", "weekly"],
        assignment=fixed(member),
        recurrence=interval(1, Recurrence.Interval.WEEKS),
    )
    made["tomorrow"] = await create(
        chores,
        home,
        title="Mow the lawn",
        description="front and back garden",
        due=tomorrow.astimezone(UTC) + timedelta(hours=10),
        category="garden",
        labels=["outdoor"],
    )
    made["later"] = await create(
        chores,
        home,
        title="Clean the windows",
        description="inside and outside",
        due=base + timedelta(days=10),
        category="cleaning",
        labels=["indoor"],
        assignment=fixed(member),
    )
    done = await create(chores, home, title="Fix the tap", due=base - timedelta(days=1))
    await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=done.name), metadata=home.owner.metadata)
    archived = await create(chores, home, title="Old chore")
    await chores.DeleteChore(task_pb2.DeleteChoreRequest(name=archived.name), metadata=home.owner.metadata)
    due_today_later = base + timedelta(minutes=1)
    if due_today_later < tomorrow.astimezone(UTC):
        made["today"] = await create(chores, home, title="Feed the cat", due=due_today_later)

    async def listed(**filters: Any) -> set[str]:
        return set(titles(await list_all(chores, home, **filters)))

    everything_active = {c.title for c in made.values()}
    assert await listed() == everything_active
    assert await listed(assignee=member.name) == {"Vacuum the stairs", "Clean the windows"}
    assert await listed(assignee=home.owner.name) == set()
    assert await listed(category="cleaning") == {"Vacuum the stairs", "Clean the windows"}
    assert await listed(label="indoor") == {"Vacuum the stairs", "Clean the windows"}
    assert await listed(label="outdoor", category="garden") == {"Mow the lawn"}
    assert await listed(status="overdue") == {"Vacuum the stairs"}
    assert await listed(status="due") == {"Vacuum the stairs"} | ({"Feed the cat"} if "today" in made else set())
    assert await listed(status="upcoming") == {"Mow the lawn", "Clean the windows"}
    assert await listed(status="archived") == {"Old chore"}
    assert await listed(status="done") == {"Fix the tap"}
    assert await listed(due_after=ts(base + timedelta(days=2))) == {"Clean the windows"}
    assert await listed(due_before=ts(base)) == {"Vacuum the stairs"}
    assert await listed(due_after=ts(base), due_before=ts(base + timedelta(days=5)), status="upcoming") == {
        "Mow the lawn"
    }
    # Full text over title and description (websearch syntax).
    assert await listed(query="hoover") == {"Vacuum the stairs"}
    assert await listed(query="garden") == {"Mow the lawn"}
    assert await listed(query="clean") == {"Clean the windows"}
    assert await listed(query="outside -windows") == set()
    assert await listed(query='"the lawn"') == {"Mow the lawn"}
    assert await listed(query="the", category="cleaning") == {"Vacuum the stairs", "Clean the windows"}
    assert await listed(query="nothing-like-this") == set()


# --- update / delete -------------------------------------------------------------------------------


async def test_update_with_etags_and_masks(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, member="member")
    created = await create(chores, home, title="Dishes", points=5, category="kitchen", labels=["daily"])

    updated = await chores.UpdateChore(
        task_pb2.UpdateChoreRequest(
            chore=Chore(name=created.name, title="Dishes and pans", points=8, etag=created.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["title", "points"]),
        ),
        metadata=home["member"].metadata,
    )
    assert (updated.title, updated.points) == ("Dishes and pans", 8)
    assert updated.category == "kitchen"  # not in the mask: kept
    assert list(updated.labels) == ["daily"]
    assert updated.etag != created.etag
    assert updated.update_time.ToDatetime() > created.update_time.ToDatetime()

    stale = await refused(
        chores.UpdateChore(
            task_pb2.UpdateChoreRequest(
                chore=Chore(name=created.name, title="Lost update", etag=created.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            ),
            metadata=home.owner.metadata,
        )
    )
    assert stale.code == grpc.StatusCode.FAILED_PRECONDITION
    assert stale.reason == "PRECONDITION_FAILED"

    # No mask: the fields that are set (AIP-134). Clearing a field needs a mask.
    implied = await chores.UpdateChore(
        task_pb2.UpdateChoreRequest(chore=Chore(name=created.name, description="Also the pans")),
        metadata=home.owner.metadata,
    )
    assert (implied.description, implied.title, implied.points) == ("Also the pans", "Dishes and pans", 8)
    cleared = await chores.UpdateChore(
        task_pb2.UpdateChoreRequest(
            chore=Chore(name=created.name), update_mask=field_mask_pb2.FieldMask(paths=["labels", "category"])
        ),
        metadata=home.owner.metadata,
    )
    assert list(cleared.labels) == []
    assert cleared.category == ""
    # Output-only fields in a mask are ignored.
    ignored = await chores.UpdateChore(
        task_pb2.UpdateChoreRequest(
            chore=Chore(name=created.name, state=Chore.ARCHIVED, creator="users/x"),
            update_mask=field_mask_pb2.FieldMask(paths=["state", "creator"]),
        ),
        metadata=home.owner.metadata,
    )
    assert ignored.state == Chore.ACTIVE
    assert ignored.creator == home.owner.name

    # Assignment and schedule: the assignee and the next due time follow.
    rescheduled_due = now() + timedelta(days=3)
    new = Chore(
        name=created.name,
        assignment=fixed(home["member"]),
        recurrence=interval(1, Recurrence.Interval.DAYS),
    )
    new.next_due_time.FromDatetime(rescheduled_due)
    moved = await chores.UpdateChore(
        task_pb2.UpdateChoreRequest(
            chore=new, update_mask=field_mask_pb2.FieldMask(paths=["assignment", "recurrence", "next_due_time"])
        ),
        metadata=home.owner.metadata,
    )
    assert moved.assignee == home["member"].name
    assert moved.recurrence.interval.unit == Recurrence.Interval.DAYS
    assert due_of(moved) == rescheduled_due

    for paths, field in (
        (["colour"], "update_mask"),
        (["recurrence.every"], "update_mask"),
        (["*", "title"], "update_mask"),
    ):
        refusal = await refused(
            chores.UpdateChore(
                task_pb2.UpdateChoreRequest(chore=Chore(name=created.name), update_mask={"paths": paths}),
                metadata=home.owner.metadata,
            )
        )
        assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
        assert field in refusal.violations
    invalid = await refused(
        chores.UpdateChore(
            task_pb2.UpdateChoreRequest(chore=Chore(name=created.name, points=2000), update_mask={"paths": ["points"]}),
            metadata=home.owner.metadata,
        )
    )
    assert invalid.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "points" in invalid.violations
    # A full replacement ("*") validates every field: an empty title is refused.
    replaced = await refused(
        chores.UpdateChore(
            task_pb2.UpdateChoreRequest(chore=Chore(name=created.name), update_mask={"paths": ["*"]}),
            metadata=home.owner.metadata,
        )
    )
    assert {"title", "recurrence", "assignment.strategy"} <= set(replaced.violations)
    final = await chores.GetChore(task_pb2.GetChoreRequest(name=created.name), metadata=home.owner.metadata)
    assert final == moved


async def test_delete_archives_and_checks_the_etag(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    chore = await create(chores, home, title="Old bike", recurrence=interval(1, Recurrence.Interval.DAYS))
    await create(chores, home, title="Keep me")
    stale = await refused(
        chores.DeleteChore(task_pb2.DeleteChoreRequest(name=chore.name, etag="999"), metadata=home.owner.metadata)
    )
    assert stale.code == grpc.StatusCode.FAILED_PRECONDITION

    await chores.DeleteChore(
        task_pb2.DeleteChoreRequest(name=chore.name, etag=chore.etag), metadata=home.owner.metadata
    )
    archived = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)
    assert archived.state == Chore.ARCHIVED
    assert archived.etag != chore.etag
    assert titles(await list_all(chores, home)) == ["Keep me"]
    assert titles(await list_all(chores, home, status="archived")) == ["Old bike"]
    await chores.DeleteChore(task_pb2.DeleteChoreRequest(name=chore.name), metadata=home.owner.metadata)  # no-op

    for call in (
        chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=home.owner.metadata),
        chores.UpdateChore(
            task_pb2.UpdateChoreRequest(chore=Chore(name=chore.name, title="Back"), update_mask={"paths": ["title"]}),
            metadata=home.owner.metadata,
        ),
    ):
        refusal = await refused(call)
        assert refusal.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "archived" in refusal.message


# --- complete --------------------------------------------------------------------------------------


async def test_complete_moves_the_schedule_and_writes_the_event(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, member="member")
    member = home["member"]
    # Due yesterday 18:00 in Berlin, weekly: done now (late) → the next one is a week after that occurrence.
    yesterday = (now().astimezone(BERLIN) - timedelta(days=1)).replace(hour=18, minute=0, second=0)
    chore = await create(
        chores,
        home,
        title="Vacuum",
        due=yesterday,
        points=20,
        estimated_minutes=30,
        recurrence=interval(1, Recurrence.Interval.WEEKS),
        assignment=fixed(member),
    )
    done = await chores.CompleteChore(
        task_pb2.CompleteChoreRequest(name=chore.name, note="  finally  "), metadata=member.metadata
    )
    expected_next = (yesterday.replace(tzinfo=None) + timedelta(weeks=1)).replace(tzinfo=BERLIN)
    assert due_of(done.chore) == expected_next.astimezone(UTC)
    assert done.chore.next_due_time.ToDatetime(tzinfo=UTC).astimezone(BERLIN).hour == 18
    assert done.chore.assignee == member.name
    assert done.chore.state == Chore.ACTIVE
    assert done.chore.etag != chore.etag
    assert done.chore.last_completion_time == done.completion.complete_time
    completion = done.completion
    assert completion.name.startswith(f"{chore.name}/completions/")
    assert completion.completed_by == member.name
    assert completion.recorder == member.name
    assert completion.note == "finally"
    assert completion.points == 20
    assert completion.due_time.ToDatetime(tzinfo=UTC) == yesterday.astimezone(UTC)
    assert completion.on_time is False
    got = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)
    assert got == done.chore

    [event] = await household_events(stack, "task", "chore.completed", home.id)
    assert event.actor_id == member.user_id
    body = payload(event, events_pb2.ChoreCompleted)
    assert body.household_id == home.id
    assert body.chore_id == chore.name.rsplit("/", 1)[-1]
    assert body.completion_id == completion.name.rsplit("/", 1)[-1]
    assert body.title == "Vacuum"
    assert body.completed_by == member.user_id
    assert body.completed_at == completion.complete_time
    assert body.due_at == completion.due_time
    assert body.points == 20
    assert body.estimated_minutes == 30
    assert body.on_time is False
    assert body.next_due_at == done.chore.next_due_time
    assert body.next_assignee_id == member.user_id

    # On time: completed before it is due (once that occurrence is open).
    await reopen(stack, chore.name)
    early = await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=member.metadata)
    assert early.completion.on_time is True
    assert due_of(early.chore) == (expected_next.replace(tzinfo=None) + timedelta(weeks=1)).replace(tzinfo=BERLIN)


async def test_completing_a_one_off_chore_makes_it_done(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    chore = await create(chores, home, title="Fix the tap", due=now() + timedelta(hours=1))
    done = await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=home.owner.metadata)
    assert done.chore.state == Chore.DONE
    assert not done.chore.HasField("next_due_time")
    assert done.completion.on_time is True
    [event] = await household_events(stack, "task", "chore.completed", home.id)
    body = payload(event, events_pb2.ChoreCompleted)
    assert not body.HasField("next_due_at")
    assert body.next_assignee_id == ""
    again = await refused(
        chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=home.owner.metadata)
    )
    assert again.code == grpc.StatusCode.FAILED_PRECONDITION
    # Rescheduling a done chore brings it back.
    back = Chore(name=chore.name)
    back.next_due_time.FromDatetime(now() + timedelta(days=1))
    revived = await chores.UpdateChore(
        task_pb2.UpdateChoreRequest(chore=back, update_mask={"paths": ["next_due_time"]}), metadata=home.owner.metadata
    )
    assert revived.state == Chore.ACTIVE


async def test_complete_is_idempotent_with_a_request_id(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    chore = await create(chores, home, title="Laundry", recurrence=interval(2, Recurrence.Interval.DAYS))
    request = task_pb2.CompleteChoreRequest(name=chore.name, request_id=str(new_id()))
    first = await chores.CompleteChore(request, metadata=home.owner.metadata)
    retry = await chores.CompleteChore(request, metadata=home.owner.metadata)
    assert retry.completion == first.completion
    assert retry.chore.next_due_time == first.chore.next_due_time  # moved once
    assert retry.chore.etag == first.chore.etag
    # Concurrent retries of another request: one completion, one event.
    await reopen(stack, chore.name)
    racing = task_pb2.CompleteChoreRequest(name=chore.name, request_id="race")
    results = await asyncio.gather(*(chores.CompleteChore(racing, metadata=home.owner.metadata) for _ in range(5)))
    assert len({r.completion.name for r in results}) == 1
    # The same id for a different request (another note, another chore) is refused.
    await reopen(stack, chore.name)
    other = await create(chores, home, title="Dishes", recurrence=interval(1, Recurrence.Interval.DAYS))
    for different in (
        task_pb2.CompleteChoreRequest(name=chore.name, request_id=request.request_id, note="again"),
        task_pb2.CompleteChoreRequest(name=other.name, request_id=request.request_id),
    ):
        reused = await refused(chores.CompleteChore(different, metadata=home.owner.metadata))
        assert reused.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "request_id" in reused.violations
    history = await chores.ListCompletions(
        task_pb2.ListCompletionsRequest(parent=chore.name), metadata=home.owner.metadata
    )
    assert len(history.completions) == 2
    events = await household_events(stack, "task", "chore.completed", home.id)
    assert len(events) == 2


async def test_concurrent_completions_are_serialised(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    start = now() + timedelta(days=1)
    chore = await create(
        chores, home, title="Feed the fish", due=start, recurrence=interval(1, Recurrence.Interval.DAYS)
    )
    results = await asyncio.gather(
        *(
            chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=home.owner.metadata)
            for _ in range(4)
        ),
        return_exceptions=True,
    )
    # The row lock orders them: the first fulfils the open occurrence, the others find the next one not open yet
    # (scheduling.is_open); none is lost, none counted twice.
    done = [r for r in results if isinstance(r, task_pb2.CompleteChoreResponse)]
    [first] = done
    assert first.completion.due_time.ToDatetime(tzinfo=UTC) == start
    refusals = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert [r.code() for r in refusals] == [grpc.StatusCode.FAILED_PRECONDITION] * 3
    final = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)
    assert final.etag == str(int(chore.etag) + 1)


async def test_who_may_complete_what(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack, member="member", kid="child")
    kid, member = home["kid"], home["member"]
    outsider = await register(stack, "Outsider")
    kids_chore = await create(chores, home, title="Tidy room", assignment=fixed(kid), recurrence=interval(1, 2))
    members_chore = await create(chores, home, title="Cook", assignment=fixed(member), recurrence=interval(1, 2))
    anyones_chore = await create(chores, home, title="Sweep", recurrence=interval(1, 2))

    own = await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=kids_chore.name), metadata=kid.metadata)
    assert own.completion.completed_by == kid.name
    for name in (members_chore.name, anyones_chore.name):
        refusal = await refused(chores.CompleteChore(task_pb2.CompleteChoreRequest(name=name), metadata=kid.metadata))
        assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    on_behalf = await refused(
        chores.CompleteChore(
            task_pb2.CompleteChoreRequest(name=kids_chore.name, completed_by=member.name), metadata=kid.metadata
        )
    )
    assert on_behalf.code == grpc.StatusCode.PERMISSION_DENIED

    # Adults complete any chore, and may record one for another member.
    await reopen(stack, kids_chore.name)
    for chore in (kids_chore, members_chore, anyones_chore):
        await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=member.metadata)
    await reopen(stack, kids_chore.name)
    recorded = await chores.CompleteChore(
        task_pb2.CompleteChoreRequest(name=kids_chore.name, completed_by=kid.name), metadata=home.owner.metadata
    )
    assert recorded.completion.completed_by == kid.name
    assert recorded.completion.recorder == home.owner.name
    stranger = await refused(
        chores.CompleteChore(
            task_pb2.CompleteChoreRequest(name=kids_chore.name, completed_by=outsider.name), metadata=member.metadata
        )
    )
    assert stranger.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "completed_by" in stranger.violations


async def test_completion_input_is_validated(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    # First due four days ago, so a completion may be dated back to five days ago.
    chore = await create(
        chores, home, title="Photo proof", requires_photo=True, recurrence=interval(1, 2), due=now() - timedelta(days=4)
    )
    future = task_pb2.CompleteChoreRequest(name=chore.name, note="x" * 1001)
    future.complete_time.FromDatetime(datetime.now(UTC) + timedelta(minutes=10))
    refusal = await refused(chores.CompleteChore(future, metadata=home.owner.metadata))
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {"complete_time", "note"} <= set(refusal.violations)
    no_photo = await refused(
        chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=home.owner.metadata)
    )
    assert no_photo.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "photo" in no_photo.violations
    foreign = await refused(
        chores.CompleteChore(
            task_pb2.CompleteChoreRequest(name=chore.name, photo=f"households/{new_id()}/photos/{new_id()}"),
            metadata=home.owner.metadata,
        )
    )
    assert "photo" in foreign.violations
    # A photo of the right household that its store does not hold (never uploaded) is refused the same way.
    unknown = await refused(
        chores.CompleteChore(
            task_pb2.CompleteChoreRequest(name=chore.name, photo=f"{home.name}/photos/{new_id()}"),
            metadata=home.owner.metadata,
        )
    )
    assert "photo" in unknown.violations
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        uploaded = await upload(task_pb2_grpc.PhotoServiceStub(channel), home.name, home.owner, encoded("PNG"))
    photo = uploaded.name
    slightly_ahead = task_pb2.CompleteChoreRequest(name=chore.name, photo=photo)
    slightly_ahead.complete_time.FromDatetime(datetime.now(UTC) + timedelta(minutes=2))  # clock skew is fine
    ok = await chores.CompleteChore(slightly_ahead, metadata=home.owner.metadata)
    assert ok.completion.photo == photo
    await reopen(stack, chore.name)
    backdated = task_pb2.CompleteChoreRequest(name=chore.name, photo=photo)
    backdated.complete_time.FromDatetime(datetime.now(UTC) - timedelta(days=3))
    old = await chores.CompleteChore(backdated, metadata=home.owner.metadata)
    # A backdated completion never moves last_completion_time backwards.
    assert old.chore.last_completion_time == ok.chore.last_completion_time


async def test_list_completions_pages_newest_first(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    first = await create(chores, home, title="Water plants", recurrence=interval(1, Recurrence.Interval.DAYS))
    second = await create(chores, home, title="Bins", recurrence=interval(1, Recurrence.Interval.WEEKS))
    base = now() - timedelta(hours=12)  # within the day a completion may be backdated
    stamps = []
    for k, chore in enumerate([first, second, first, first, second]):
        request = task_pb2.CompleteChoreRequest(name=chore.name)
        stamp = base + timedelta(minutes=k)
        request.complete_time.FromDatetime(stamp)
        stamps.append((stamp, chore.name))
        await chores.CompleteChore(request, metadata=home.owner.metadata)
        await reopen(stack, chore.name)

    async def history(parent: str) -> list[task_pb2.Completion]:
        found, token = [], ""
        while True:
            page = await chores.ListCompletions(
                task_pb2.ListCompletionsRequest(parent=parent, page_size=2, page_token=token),
                metadata=home.owner.metadata,
            )
            assert len(page.completions) <= 2
            found += page.completions
            token = page.next_page_token
            if not token:
                return found

    of_first = await history(first.name)
    assert [c.complete_time.ToDatetime(tzinfo=UTC) for c in of_first] == [
        s for s, name in reversed(stamps) if name == first.name
    ]
    everything = await history(f"{home.name}/chores/-")
    assert [c.complete_time.ToDatetime(tzinfo=UTC) for c in everything] == [s for s, _ in reversed(stamps)]
    assert len({c.name for c in everything}) == 5
    missing = await refused(
        chores.ListCompletions(
            task_pb2.ListCompletionsRequest(parent=f"{home.name}/chores/{new_id()}"), metadata=home.owner.metadata
        )
    )
    assert missing.code == grpc.StatusCode.NOT_FOUND
