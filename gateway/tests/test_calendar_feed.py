"""The calendar feed over REST (gateway/routes/calendar.py): a token made with the bearer token, the feed fetched
with the feed token alone (text/calendar, ETag, private caching), rotation, revocation, a member who left, another
household's URL and hostile tokens all refused alike — and the token in no log line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from gateway.routes.calendar import HiddenFeedToken
from kit.logging import JsonFormatter
from tests.support.api import API, Person, create_household, expect, join, problem, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.stack import SERVICES
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

BERLIN = ZoneInfo("Europe/Berlin")
stack = stack_fixture(SERVICES, gateway=True)
http = http_fixture()


async def new_feed(http: httpx.AsyncClient, hid: str, person: Person) -> dict[str, Any]:
    feed: dict[str, Any] = expect(await http.post(f"{API}/households/{hid}/calendar-feed", headers=person.headers), 201)
    return feed


def feed_path(hid: str) -> str:
    return f"{API}/households/{hid}/calendar.ics"


async def refused(http: httpx.AsyncClient, hid: str, token: str | None) -> dict[str, Any]:
    params = {} if token is None else {"token": token}
    body = problem(await http.get(feed_path(hid), params=params), 404, "not_found")
    assert body["detail"] == "calendar feed not found"
    return body


async def test_the_feed_opens_with_its_token_alone(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Cal")
    hid = await create_household(http, owner)
    due = datetime(datetime.now(UTC).year + 1, 3, 29, 9, tzinfo=BERLIN)  # the day the clocks go forward
    chore = {
        "title": "Water the plants",
        "recurrence": {"kind": "weekly", "days": ["sun"], "time": "09:00"},
        "assignment": {"strategy": "unassigned"},
        "first_due_at": due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    expect(await http.post(f"{API}/households/{hid}/chores", json=chore, headers=owner.headers), 201)
    feed = await new_feed(http, hid, owner)
    url = urlsplit(feed["url"])
    assert url.path == feed_path(hid)
    assert url.query == f"token={feed['token']}"
    response = await http.get(f"{url.path}?{url.query}")  # no Authorization header
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["cache-control"] == "private, no-cache"
    parsed: Any = Calendar.from_ical(response.content)  # Any: icalendar types a property as every value type
    (event,) = parsed.events
    assert event["summary"] == "Water the plants"
    start = event["dtstart"].dt
    assert (start.tzinfo, start.strftime("%a %H:%M")) == (BERLIN, "Sun 09:00")
    assert event["rrule"]["FREQ"] == ["WEEKLY"]
    again = await http.get(
        feed_path(hid), params={"token": feed["token"]}, headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["etag"] == response.headers["etag"]


async def test_rotating_and_revoking(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Rota")
    hid = await create_household(http, owner)
    first = (await new_feed(http, hid, owner))["token"]
    second = (await new_feed(http, hid, owner))["token"]
    await refused(http, hid, first)
    assert (await http.get(feed_path(hid), params={"token": second})).status_code == 200
    assert (await http.delete(f"{API}/households/{hid}/calendar-feed", headers=owner.headers)).status_code == 204
    await refused(http, hid, second)
    assert (await http.delete(f"{API}/households/{hid}/calendar-feed", headers=owner.headers)).status_code == 204


async def test_every_bad_token_gets_the_same_404(http: httpx.AsyncClient) -> None:
    owner, stranger = await sign_up(http, "Own"), await sign_up(http, "Stranger")
    hid, other = await create_household(http, owner), await create_household(http, stranger)
    token = (await new_feed(http, hid, owner))["token"]
    answers = [
        await refused(http, other, token),  # another household's URL
        await refused(http, hid, None),
        await refused(http, hid, ""),
        await refused(http, hid, token[:-1]),
        await refused(http, hid, "x" * 4000),
        await refused(http, hid, "%00' OR 1=1 --"),
        await refused(http, "not-a-household", token),
    ]
    assert len({(a["status"], a["code"], a["detail"]) for a in answers}) == 1
    # Making one needs a member's bearer token.
    problem(await http.post(f"{API}/households/{hid}/calendar-feed"), 401, "unauthenticated")
    problem(await http.post(f"{API}/households/{hid}/calendar-feed", headers=stranger.headers), 404, "not_found")


async def test_a_member_who_left_gets_nothing(http: httpx.AsyncClient) -> None:
    owner, member = await sign_up(http, "Owner"), await sign_up(http, "Leaver")
    hid = await create_household(http, owner)
    await join(http, hid, owner, member, "member")
    token = (await new_feed(http, hid, member))["token"]
    assert (await http.get(feed_path(hid), params={"token": token})).status_code == 200
    left = await http.delete(f"{API}/households/{hid}/members/{member.user_id}", headers=member.headers)
    assert left.status_code == 204, left.text

    async def gone() -> bool:
        return (await http.get(feed_path(hid), params={"token": token})).status_code == 404

    await eventually(gone)
    await refused(http, hid, token)


async def test_the_token_is_in_no_log_line(http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    owner = await sign_up(http, "Quiet")
    hid = await create_household(http, owner)
    token = (await new_feed(http, hid, owner))["token"]
    with caplog.at_level(logging.DEBUG):
        assert (await http.get(feed_path(hid), params={"token": token})).status_code == 200
        await refused(http, hid, token + "x")
    formatter = JsonFormatter("gateway")
    # The gateway's own lines (uvicorn's access log is off in production, gateway/__main__.py; httpx's and
    # httpcore's are this test client's).
    ours = [record for record in caplog.records if not record.name.startswith(("uvicorn", "httpx", "httpcore"))]
    logged = [json.loads(formatter.format(record)) for record in ours]
    routes = [line["http_route"] for line in logged if line.get("http_route")]
    assert routes == [f"{API}/households/{{hid}}/calendar.ics"] * 2
    assert token not in json.dumps(logged)


async def test_the_token_leaves_the_query_string_before_any_middleware() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    hidden = HiddenFeedToken(app)
    path = f"{API}/households/h/calendar.ics"
    await hidden({"type": "http", "path": path, "query_string": b"a=1&token=s3cret&b=2"}, None, None)  # type: ignore[arg-type]
    await hidden({"type": "http", "path": f"{API}/households/h/chores", "query_string": b"token=kept"}, None, None)  # type: ignore[arg-type]
    feed, other = seen
    assert feed["query_string"] == b"a=1&b=2"
    assert feed["state"]["hearth.feed_token"] == "s3cret"
    assert other["query_string"] == b"token=kept"
