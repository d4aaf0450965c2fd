"""Every recurrence kind through the real task service over gRPC: created with its first slot in the household's
zone, round-tripped, moved on by completions (adaptive learning from the chore's history), and bad combinations
refused with field violations, nothing created."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf import field_mask_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc

from services.task.scheduling import ADAPTIVE_DEFAULT
from services.task.tests.test_chores_rpc import create, list_all, new_chore
from tests.support.events import household_events
from tests.support.fixtures import stack_fixture, stub_fixture
from tests.support.people import household
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

NEW_YORK = ZoneInfo("America/New_York")
Recurrence = task_pb2.Recurrence

stack = stack_fixture(["user", "task"])
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)


def local(chore: task_pb2.Chore, tz: ZoneInfo) -> datetime:
    return chore.next_due_time.ToDatetime(tzinfo=UTC).astimezone(tz)


async def complete(
    chores: task_pb2_grpc.ChoreServiceStub, chore: task_pb2.Chore, metadata: object, at: datetime | None = None
) -> task_pb2.Chore:
    request = task_pb2.CompleteChoreRequest(name=chore.name)
    if at is not None:
        request.complete_time.FromDatetime(at)
    return (await chores.CompleteChore(request, metadata=metadata)).chore  # type: ignore[arg-type]


async def test_each_kind_is_created_on_its_first_slot_and_round_trips(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, time_zone="America/New_York")
    start = datetime(datetime.now(UTC).year + 1, 1, 1, 9, 0, tzinfo=NEW_YORK)  # a Friday or so: 09:00 local
    cases = [
        (Recurrence(weekly=Recurrence.Weekly(every=1, days=["mon", "thu"], time="18:30")), ("mon", "thu"), "18:30"),
        (Recurrence(monthly=Recurrence.Monthly(every=1, day_of_month=-1)), None, "09:00"),
        (Recurrence(monthly=Recurrence.Monthly(every=1, weekday="sat", week=2)), ("sat",), "09:00"),
        (Recurrence(yearly=Recurrence.Yearly(every=1, month=2, day=29)), None, "09:00"),
        (Recurrence(rrule=Recurrence.RRule(rrule="FREQ=WEEKLY;BYDAY=SU;BYHOUR=7;BYMINUTE=15")), ("sun",), "07:15"),
        (Recurrence(adaptive=Recurrence.Adaptive(), months=[1, 2, 3]), None, "09:00"),
    ]
    created = []
    for recurrence, weekdays, clock in cases:
        chore = await create(chores, home, chore=new_chore(recurrence=recurrence, due=start))
        created.append(chore)
        due = local(chore, NEW_YORK)
        assert due >= start, recurrence
        assert due.strftime("%H:%M") == clock, recurrence
        if weekdays is not None:
            assert due.strftime("%a").lower() in weekdays, recurrence
        got = await chores.GetChore(task_pb2.GetChoreRequest(name=chore.name), metadata=home.owner.metadata)
        assert got.recurrence == recurrence  # every field back as sent (every: 1 when left out)
    monthly_last, yearly = created[1], created[3]
    assert local(monthly_last, NEW_YORK).day == 31
    assert local(yearly, NEW_YORK).strftime("%m-%d") in ("02-28", "02-29")


async def test_completions_move_a_monthly_31st_chore_month_by_month(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, time_zone="Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    first = datetime(datetime.now(UTC).year - 2, 12, 31, 9, 0, tzinfo=berlin)
    # Due long ago: an on-time completion per occurrence (each dated at its due time) walks the months.
    chore = await create(
        chores, home, chore=new_chore(recurrence=Recurrence(monthly=Recurrence.Monthly(day_of_month=31)), due=first)
    )
    days = []
    for _ in range(3):
        due = chore.next_due_time.ToDatetime(tzinfo=UTC)
        chore = await complete(chores, chore, home.owner.metadata, at=min(due, datetime.now(UTC)))
        days.append(local(chore, berlin).strftime("%m-%d %H:%M"))
    assert days[0] == "01-31 09:00"
    assert days[1] in ("02-28 09:00", "02-29 09:00")
    assert days[2] == "03-31 09:00"  # the 31st again, not the 28th


async def test_an_adaptive_chore_learns_from_its_completions(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    now = datetime.now(UTC).replace(microsecond=0)
    chore = await create(
        chores,
        home,
        chore=new_chore(recurrence=Recurrence(adaptive=Recurrence.Adaptive()), due=now - timedelta(days=9)),
    )
    first = now - timedelta(days=8)
    chore = await complete(chores, chore, home.owner.metadata, at=first)
    assert chore.next_due_time.ToDatetime(tzinfo=UTC) == first + ADAPTIVE_DEFAULT  # one completion: the default
    chore = await complete(chores, chore, home.owner.metadata, at=first + timedelta(days=2))
    assert chore.next_due_time.ToDatetime(tzinfo=UTC) == first + timedelta(days=4)  # one interval of 2 days
    chore = await complete(chores, chore, home.owner.metadata, at=first + timedelta(days=6))
    # Intervals 2 (weight 0.5) and 4 days (weight 1): 10/3 days after the last completion.
    expected = first + timedelta(days=6) + timedelta(seconds=round(timedelta(days=10).total_seconds() / 3))
    assert chore.next_due_time.ToDatetime(tzinfo=UTC) == expected


async def test_an_adaptive_chore_starts_from_its_first_guess(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack)
    now = datetime.now(UTC).replace(microsecond=0)
    guess = Recurrence(adaptive=Recurrence.Adaptive(every=3, unit=Recurrence.Interval.DAYS))
    chore = await create(chores, home, chore=new_chore(recurrence=guess, due=now - timedelta(days=5)))
    assert (chore.recurrence.adaptive.every, chore.recurrence.adaptive.unit) == (3, Recurrence.Interval.DAYS)
    first = now - timedelta(days=4)
    chore = await complete(chores, chore, home.owner.metadata, at=first)
    assert chore.next_due_time.ToDatetime(tzinfo=UTC) == first + timedelta(days=3)  # the guess, not a week
    chore = await complete(chores, chore, home.owner.metadata, at=first + timedelta(days=1))
    # Two completions give an interval: from now on the guess gives way to what was learned.
    assert chore.next_due_time.ToDatetime(tzinfo=UTC) == first + timedelta(days=2)
    # Half a guess is refused, naming the missing part.
    for half, field in (
        (Recurrence.Adaptive(every=3), "recurrence.unit"),
        (Recurrence.Adaptive(unit=Recurrence.Interval.DAYS), "recurrence.every"),
        (Recurrence.Adaptive(every=10_000, unit=Recurrence.Interval.DAYS), "recurrence.every"),
    ):
        refusal = await refused(create(chores, home, chore=new_chore(recurrence=Recurrence(adaptive=half))))
        assert (refusal.code, field in refusal.violations) == (grpc.StatusCode.INVALID_ARGUMENT, True), half


async def test_an_rrule_with_a_count_ends_the_chore(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    chore = await create(
        chores,
        home,
        chore=new_chore(recurrence=Recurrence(rrule=Recurrence.RRule(rrule="FREQ=DAILY;COUNT=2")), due=start),
    )
    chore = await complete(chores, chore, home.owner.metadata, at=start)
    assert chore.state == task_pb2.Chore.ACTIVE
    chore = await complete(chores, chore, home.owner.metadata, at=start + timedelta(days=1))
    assert chore.state == task_pb2.Chore.DONE


async def test_bad_combinations_are_refused_by_field(stack: Stack, chores: task_pb2_grpc.ChoreServiceStub) -> None:
    home = await household(stack)
    cases: list[tuple[task_pb2.Recurrence, str, str]] = [
        (Recurrence(weekly=Recurrence.Weekly(days=[])), "recurrence.days", "at least one day"),
        (Recurrence(weekly=Recurrence.Weekly(days=["mon", "funday"])), "recurrence.days[1]", "mon, tue"),
        (Recurrence(weekly=Recurrence.Weekly(days=["mon", "mon"])), "recurrence.days", "repeat"),
        (Recurrence(weekly=Recurrence.Weekly(days=["mon"], time="25:00")), "recurrence.time", "HH:MM"),
        (Recurrence(weekly=Recurrence.Weekly(days=["mon"], every=-1)), "recurrence.every", "between 1 and 1000"),
        (Recurrence(monthly=Recurrence.Monthly()), "recurrence.day_of_month", "required"),
        (Recurrence(monthly=Recurrence.Monthly(day_of_month=32)), "recurrence.day_of_month", "1 to 31"),
        (Recurrence(monthly=Recurrence.Monthly(day_of_month=-2)), "recurrence.day_of_month", "1 to 31"),
        (Recurrence(monthly=Recurrence.Monthly(weekday="sat")), "recurrence.week", "required with weekday"),
        (Recurrence(monthly=Recurrence.Monthly(week=2)), "recurrence.weekday", "required with week"),
        (Recurrence(monthly=Recurrence.Monthly(weekday="sat", week=5)), "recurrence.week", "1 to 4"),
        (
            Recurrence(monthly=Recurrence.Monthly(day_of_month=3, weekday="sat", week=1)),
            "recurrence.day_of_month",
            "not both",
        ),
        (Recurrence(yearly=Recurrence.Yearly(month=13, day=1)), "recurrence.month", "1 to 12"),
        (Recurrence(yearly=Recurrence.Yearly(month=4, day=31)), "recurrence.day", "between 1 and 30"),
        (Recurrence(yearly=Recurrence.Yearly(month=1, day=1, every=51)), "recurrence.every", "between 1 and 50"),
        (Recurrence(rrule=Recurrence.RRule(rrule="")), "recurrence.rrule", "required"),
        (Recurrence(rrule=Recurrence.RRule(rrule="FREQ=MINUTELY")), "recurrence.rrule", "FREQ must be"),
        (Recurrence(rrule=Recurrence.RRule(rrule="FREQ=DAILY;DTSTART=20260101")), "recurrence.rrule", "DTSTART"),
        (Recurrence(rrule=Recurrence.RRule(rrule="FREQ=WEEKLY;BYDAY=XX")), "recurrence.rrule", "not a valid RRULE"),
        (
            Recurrence(rrule=Recurrence.RRule(rrule="FREQ=DAILY;" + "BYHOUR=1;" * 100)),
            "recurrence.rrule",
            "at most 500",
        ),
        (Recurrence(rrule=Recurrence.RRule(rrule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30")), "recurrence.rrule", "never"),
        (Recurrence(yearly=Recurrence.Yearly(month=3, day=1), months=[4]), "recurrence.months", "never"),
    ]
    for recurrence, field, message in cases:
        refusal = await refused(create(chores, home, chore=new_chore(recurrence=recurrence)))
        assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, (field, refusal)
        assert field in refusal.violations, (field, refusal)
        assert message in refusal.violations[field], (field, refusal)
    assert await list_all(chores, home) == []
    assert await household_events(stack, "task", "chore.created", home.id) == []


async def test_a_recurrence_update_reschedules_on_the_new_kind(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub
) -> None:
    home = await household(stack, time_zone="America/New_York")
    chore = await create(chores, home)
    chore.recurrence.CopyFrom(Recurrence(weekly=Recurrence.Weekly(days=["wed"], time="07:00")))
    updated = await chores.UpdateChore(
        task_pb2.UpdateChoreRequest(chore=chore, update_mask=field_mask_pb2.FieldMask(paths=["recurrence"])),
        metadata=home.owner.metadata,
    )
    due = local(updated, NEW_YORK)
    assert (due.strftime("%a"), due.strftime("%H:%M")) == ("Wed", "07:00")
