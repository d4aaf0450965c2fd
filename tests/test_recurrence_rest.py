"""Recurrence kinds through the real gateway and task service (REST, API.md's JSON shape): each kind created,
echoed back and due at its first slot in the household's zone (Europe/Berlin), a completion moving it on, and
bad or hostile recurrences refused with 422 naming the JSON field — quickly, even for a rule no date matches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.support.api import API, create_chore, create_household, expect, problem, sign_up
from tests.support.fixtures import http_fixture, stack_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")

BERLIN = ZoneInfo("Europe/Berlin")

stack = stack_fixture(gateway=True)
http = http_fixture()


def local(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(BERLIN)


KINDS: list[dict[str, Any]] = [
    {"kind": "weekly", "days": ["mon", "thu"], "time": "18:00"},
    {"kind": "monthly", "day_of_month": 31},
    {"kind": "monthly", "weekday": "sat", "week": 2},
    {"kind": "yearly", "month": 2, "day": 29},
    {"kind": "rrule", "rrule": "FREQ=WEEKLY;BYDAY=SU;BYHOUR=10;BYMINUTE=0"},
    {"kind": "adaptive"},
    {"kind": "adaptive", "every": 3, "unit": "days"},
]


async def test_each_kind_round_trips_and_moves_on(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Rita")
    hid = await create_household(http, owner)
    # First due 2 March, 09:00 Berlin, of a coming year two years before a leap year (so the next 29 February
    # falls in a common year: 28 February).
    year = datetime.now(UTC).year + 1
    year += (2 - year) % 4
    first = datetime(year, 3, 2, 9, 0, tzinfo=BERLIN).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for recurrence in KINDS:
        chore = await create_chore(http, hid, owner, recurrence=recurrence, first_due_at=first)
        sent = {"rolling": False, **recurrence}
        if recurrence["kind"] in ("weekly", "monthly", "yearly"):
            sent.setdefault("every", 1)
        assert chore["recurrence"] == sent, chore["recurrence"]
        due = local(chore["next_due_at"])
        assert due >= local(first)
        assert due.strftime("%H:%M") in ("18:00", "09:00", "10:00")
        got = expect(await http.get(f"{API}/households/{hid}/chores/{chore['id']}", headers=owner.headers), 200)
        assert got["recurrence"] == chore["recurrence"]
    listed = expect(await http.get(f"{API}/households/{hid}/chores?page_size=50", headers=owner.headers), 200)
    by_kind = {c["recurrence"]["kind"] + str(c["recurrence"].get("weekday", "")): c for c in listed["items"]}
    assert local(by_kind["monthly"]["next_due_at"]).day == 31
    assert local(by_kind["monthlysat"]["next_due_at"]).day in range(8, 15)  # the second Saturday
    yearly = local(by_kind["yearly"]["next_due_at"])
    assert (yearly.year, yearly.month, yearly.day) == (year + 1, 2, 28)
    assert local(by_kind["weekly"]["next_due_at"]).strftime("%a %H:%M") == "Mon 18:00"
    assert local(by_kind["rrule"]["next_due_at"]).strftime("%a %H:%M") == "Sun 10:00"


async def test_a_completion_moves_a_weekly_chore_to_its_next_day(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Wanda")
    hid = await create_household(http, owner)
    weekly = await create_chore(
        http, hid, owner, recurrence={"kind": "weekly", "days": ["mon", "thu"], "time": "07:30"}
    )
    before = local(weekly["next_due_at"])
    expect(
        await http.post(f"{API}/households/{hid}/chores/{weekly['id']}/complete", json={}, headers=owner.headers), 201
    )
    after = local(
        expect(await http.get(f"{API}/households/{hid}/chores/{weekly['id']}", headers=owner.headers), 200)[
            "next_due_at"
        ]
    )
    assert after > before
    assert after.strftime("%H:%M") == "07:30"
    assert after.strftime("%a") in ("Mon", "Thu")


@pytest.mark.parametrize(
    ("recurrence", "field"),
    [
        ({"kind": "weekly", "days": []}, "recurrence.days"),
        ({"kind": "weekly", "days": ["mon"], "time": "7:5"}, "recurrence.time"),
        ({"kind": "monthly"}, "recurrence.day_of_month"),
        ({"kind": "monthly", "weekday": "sat"}, "recurrence.week"),
        ({"kind": "monthly", "day_of_month": 40}, "recurrence.day_of_month"),
        ({"kind": "yearly", "month": 2, "day": 30}, "recurrence.day"),
        ({"kind": "rrule", "rrule": "FREQ=SECONDLY"}, "recurrence.rrule"),
        ({"kind": "rrule", "rrule": "FREQ=DAILY;DTSTART=20260101T000000"}, "recurrence.rrule"),
        ({"kind": "rrule", "rrule": "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31"}, "recurrence.rrule"),
        ({"kind": "rrule", "rrule": "FREQ=DAILY;" + "BYMONTHDAY=1,2,3,4,5;" * 40}, "recurrence.rrule"),
        # A field the kind has no use for is refused, not dropped.
        ({"kind": "weekly", "days": ["mon"], "day_of_month": 3}, "recurrence.day_of_month"),
        ({"kind": "adaptive", "every": 3}, "recurrence.unit"),  # a first guess is both or neither
        ({"kind": "adaptive", "days": ["mon"]}, "recurrence.days"),
        ({"kind": "once", "rrule": "FREQ=DAILY"}, "recurrence.rrule"),
        ({"kind": "interval", "every": 2, "unit": "days", "days": ["mon"]}, "recurrence.days"),
    ],
)
async def test_bad_recurrences_are_refused_naming_the_json_field(
    http: httpx.AsyncClient, recurrence: dict[str, Any], field: str
) -> None:
    owner = await sign_up(http, "Bert")
    hid = await create_household(http, owner)
    body = {"title": "Bad", "points": 1, "recurrence": recurrence, "assignment": {"strategy": "unassigned"}}
    response = await http.post(f"{API}/households/{hid}/chores", json=body, headers=owner.headers)
    refusal = problem(response, 422, "validation_failed")
    assert field in {error["field"] for error in refusal["errors"]}, refusal
    listed = expect(await http.get(f"{API}/households/{hid}/chores", headers=owner.headers), 200)
    assert listed["items"] == []


async def test_refusals_are_translated(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Greta")
    hid = await create_household(http, owner)
    body = {
        "title": "x",
        "points": 1,
        "recurrence": {"kind": "weekly", "days": []},
        "assignment": {"strategy": "unassigned"},
    }
    response = await http.post(
        f"{API}/households/{hid}/chores", json=body, headers={**owner.headers, "Accept-Language": "de"}
    )
    refusal = problem(response, 422, "validation_failed")
    messages = {error["field"]: error["message"] for error in refusal["errors"]}
    assert messages["recurrence.days"].startswith("eine wöchentliche Aufgabe braucht mindestens einen Tag")
