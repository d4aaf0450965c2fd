"""Notification preferences and the email channel end to end: the real user and notify services and the gateway,
events on the real streams, notify's real worker and a real SMTP server (aiosmtpd) the mails reach.

Time is never slept through: a mail held for quiet hours is a job scheduled for later — the test runs the worker
until nothing is due (the mail stays queued), then moves the job's schedule to now, as the clock reaching the end
of the quiet hours would, and runs it again.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import grpc
import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc

from kit.ids import new_id
from kit.jobs import defer_in
from services.notify import summary, unsubscribe
from services.notify.models import FAILED, SENT, EmailDelivery, HouseholdActivity, LeadReminder, Notification, UserName
from services.notify.reminders import REMIND_LEAD
from services.notify.tests.helpers import Events, Mailbox, Received, smtp_server, tables_naming
from tests.support.events import envelope
from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.infra import unique
from tests.support.jobs import run_notify_jobs
from tests.support.people import Person, register
from tests.support.rpc import refused
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "notify"], gateway=True)
redis = redis_fixture()
prefs = stub_fixture("notify", notify_pb2_grpc.NotificationPreferenceServiceStub)
API = "/api/v1"
PREFS = f"{API}/users/me/notification-preferences"
T0 = datetime.now(UTC) - timedelta(hours=1)


@pytest_asyncio.fixture(loop_scope="module")
async def events(stack: Stack, redis: aioredis.Redis) -> Events:
    return Events(stack, redis)


@pytest_asyncio.fixture(loop_scope="module")
async def mailbox() -> AsyncIterator[Mailbox]:
    async with smtp_server(Mailbox()) as box:
        yield box


@pytest_asyncio.fixture(loop_scope="module")
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with stack.http() as client:
        yield client


def bearer(person: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.token}"}


async def person(
    stack: Stack, events: Events, name: str, *, locale: str = "en", zone: str = "Europe/Berlin", role: str = "member"
) -> tuple[Person, str]:
    """A person registered for real, with the locale, zone and address notify hears from user.updated (sent here as
    the user service sends it, newer than the real registration's), joined to the test's household."""
    someone = await register(stack, name)
    address = f"{unique(name.lower())}@example.com"
    updated = events_pb2.UserUpdated(
        user_id=someone.user_id, display_name=name, time_zone=zone, locale=locale, email=address, changed=["email"]
    )
    at = datetime.now(UTC) + timedelta(seconds=1)
    await events.send("user", envelope("user.updated", updated, household_id="", occurred_at=at))
    await events.join(someone, role, at=T0)
    return someone, address


def overdue(events: Events, assignee: Person, title: str = "Bins", penalty: int = 3) -> events_pb2.Envelope:
    payload = events_pb2.ChoreOverdue(
        household_id=events.household_id,
        chore_id=str(new_id()),
        title=title,
        assignee_id=assignee.user_id,
        penalty_points=penalty,
        occurrence_id=str(new_id()),
    )
    return envelope("chore.overdue", payload, household_id=events.household_id)


async def deliveries(stack: Stack, person: Person) -> list[EmailDelivery]:
    async with stack.servers["notify"].runtime.sessions() as session:
        rows = await session.scalars(
            sa.select(EmailDelivery)
            .where(EmailDelivery.user_id == uuid.UUID(person.user_id))
            .order_by(EmailDelivery.create_time)
        )
        return list(rows)


async def in_app(stack: Stack, person: Person, event: events_pb2.Envelope) -> int:
    async with stack.servers["notify"].runtime.sessions() as session:
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(
                Notification.user_id == uuid.UUID(person.user_id), Notification.event_id == uuid.UUID(event.event_id)
            )
        )
        return int(count or 0)


async def put(http: httpx.AsyncClient, who: Person, document: dict[str, Any], **headers: str) -> httpx.Response:
    return await http.put(PREFS, json=document, headers={**bearer(who), **headers})


def unsubscribe_token(mail: Received) -> str:
    link = mail.message["List-Unsubscribe"].strip("<>")
    return parse_qs(urlsplit(link).query)["token"][0]


async def job_schedule(stack: Stack, delivery_id: uuid.UUID) -> tuple[str, datetime]:
    async with stack.servers["notify"].runtime.sessions() as session:
        row = (
            await session.execute(
                sa.text(
                    "SELECT status::text, scheduled_at FROM procrastinate.procrastinate_jobs"
                    " WHERE args ->> 'delivery_id' = :id"
                ),
                {"id": str(delivery_id)},
            )
        ).one()
    return row[0], row[1]


async def due_now(stack: Stack, task: str, **args: str) -> None:
    """The clock reaches a job's scheduled time: the job (found by its args) is due now."""
    where = " AND ".join(f"args ->> '{key}' = :{key}" for key in args)
    async with stack.servers["notify"].runtime.sessions() as session, session.begin():
        await session.execute(
            sa.text(
                f"UPDATE procrastinate.procrastinate_jobs SET scheduled_at = now() WHERE task_name = :task AND {where}"
            ),
            {"task": task, **args},
        )


# --- the preferences over REST and gRPC -----------------------------------------------------------------------


async def test_the_defaults_then_a_whole_document_replaced_with_etags(
    stack: Stack, events: Events, http: httpx.AsyncClient
) -> None:
    ana, _ = await person(stack, events, "Ana", zone="America/New_York")
    first = await http.get(PREFS, headers=bearer(ana))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["events"]["chore.due_soon"] == {"in_app": True, "email": True, "push": True}
    assert body["events"]["chore.completed"] == {"in_app": True, "email": False, "push": False}
    assert body["events"]["weekly_summary"] == {"email": True}
    assert (body["quiet_hours"], body["reminder_lead_minutes"], body["timezone"]) == (None, None, "America/New_York")
    etag = first.headers["etag"]
    assert (await http.get(PREFS, headers={**bearer(ana), "If-None-Match": etag})).status_code == 304

    document = {
        "events": {"chore.completed": {"email": True}, "chore.due_soon": {"in_app": False}},
        "quiet_hours": {"start": "22:00", "end": "07:00"},
        "reminder_lead_minutes": 45,
    }
    changed = await put(http, ana, document, **{"If-Match": etag})
    assert changed.status_code == 200, changed.text
    assert changed.json()["events"]["chore.completed"] == {"in_app": True, "email": True, "push": False}
    assert changed.json()["events"]["chore.due_soon"] == {"in_app": False, "email": True, "push": True}
    assert changed.json()["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert changed.json()["reminder_lead_minutes"] == 45
    assert changed.headers["etag"] != etag
    # The old tag is stale now: 412, and nothing changes.
    stale = await put(http, ana, {"events": {}}, **{"If-Match": etag})
    assert stale.status_code == 412, stale.text
    assert (await http.get(PREFS, headers=bearer(ana))).json()["reminder_lead_minutes"] == 45
    # PUT replaces: what is left out takes its default again.
    reset = await put(http, ana, {"events": {}}, **{"If-Match": changed.headers["etag"]})
    assert reset.json()["events"]["chore.completed"]["email"] is False
    assert (reset.json()["quiet_hours"], reset.json()["reminder_lead_minutes"]) == (None, None)
    # The same document again changes nothing, not even the tag.
    again = await put(http, ana, {"events": {}})
    assert again.headers["etag"] == reset.headers["etag"]


async def test_a_bad_document_is_422_naming_each_field_in_the_callers_language(
    stack: Stack, events: Events, http: httpx.AsyncClient
) -> None:
    bo, _ = await person(stack, events, "Bo")
    bad = {
        "events": {"chore.exploded": {"email": True}, "chore.overdue": {"sms": True, "webhook": False}},
        "quiet_hours": {"start": "7pm", "end": "25:00"},
        "reminder_lead_minutes": 20000,
    }
    answer = await put(http, bo, bad)
    assert answer.status_code == 422, answer.text
    fields = {e["field"]: e["message"] for e in answer.json()["errors"]}
    assert set(fields) == {
        "events.chore.exploded",
        "events.chore.overdue.sms",
        "events.chore.overdue.webhook",
        "quiet_hours.start",
        "quiet_hours.end",
        "reminder_lead_minutes",
    }
    assert "per household" in fields["events.chore.overdue.webhook"]
    german = await http.put(PREFS, json=bad, headers={**bearer(bo), "Accept-Language": "de"})
    assert german.headers["content-language"] == "de", german.text
    # Shapes the gateway refuses before the service: not a bool, an unknown top-level field, a huge document.
    for shape in (
        {"events": {"chore.overdue": {"email": "yes"}}},
        {"evnets": {}},
        {"events": {f"type{i}": {"email": True} for i in range(100)}},
        {"reminder_lead_minutes": 2**40},
    ):
        assert (await put(http, bo, shape)).status_code == 422, shape
    assert (await http.get(PREFS)).status_code == 401
    # Nothing was stored.
    assert (await http.get(PREFS, headers=bearer(bo))).json()["reminder_lead_minutes"] is None


async def test_nobody_reads_or_writes_someone_elses_preferences(
    stack: Stack, events: Events, prefs: notify_pb2_grpc.NotificationPreferenceServiceStub
) -> None:
    parent, _ = await person(stack, events, "Parent", role="owner")
    kid, _ = await person(stack, events, "Kid", role="child")
    theirs = f"users/{parent.user_id}/notificationPreferences"
    code = await refused(
        prefs.GetNotificationPreferences(
            notify_pb2.GetNotificationPreferencesRequest(name=theirs), metadata=kid.metadata
        )
    )
    assert code.code == grpc.StatusCode.PERMISSION_DENIED
    update = notify_pb2.UpdateNotificationPreferencesRequest(
        preferences=notify_pb2.NotificationPreferences(name=theirs, reminder_lead_minutes=5)
    )
    code = await refused(prefs.UpdateNotificationPreferences(update, metadata=kid.metadata))
    assert code.code == grpc.StatusCode.PERMISSION_DENIED
    # Nor the other way round; one's own by id is fine.
    kids = f"users/{kid.user_id}/notificationPreferences"
    code = await refused(
        prefs.GetNotificationPreferences(
            notify_pb2.GetNotificationPreferencesRequest(name=kids), metadata=parent.metadata
        )
    )
    assert code.code == grpc.StatusCode.PERMISSION_DENIED
    mine = await prefs.GetNotificationPreferences(
        notify_pb2.GetNotificationPreferencesRequest(name=theirs), metadata=parent.metadata
    )
    assert mine.name == theirs
    assert not mine.HasField("reminder_lead_minutes")
    code = await refused(prefs.GetNotificationPreferences(notify_pb2.GetNotificationPreferencesRequest(name=theirs)))
    assert code.code == grpc.StatusCode.UNAUTHENTICATED


async def test_the_user_service_tells_notify_the_address_and_zone(stack: Stack) -> None:
    someone = await register(stack, "Cleo")

    async def heard() -> UserName | None:
        async with stack.servers["notify"].runtime.sessions() as session:
            found = await session.get(UserName, uuid.UUID(someone.user_id))
            return found if found is not None and found.email else None

    names = await eventually(heard)
    assert names is not None
    assert names.email is not None
    assert names.email.endswith("@example.com")
    assert names.email.startswith("cleo")


# --- mails per event ------------------------------------------------------------------------------------------


async def test_an_overdue_chore_is_mailed_in_german_with_html_text_and_an_unsubscribe_header(
    stack: Stack, events: Events, mailbox: Mailbox
) -> None:
    dora, address = await person(stack, events, "Dora", locale="de-AT")
    sent = await events.send("task", overdue(events, dora, "Mülleimer", penalty=3))
    assert await in_app(stack, dora, sent) == 1
    await events.send("task", sent)  # redelivered: one mail still
    [delivery] = await deliveries(stack, dora)
    await run_notify_jobs(stack, mailbox.port)
    mail = await mailbox.mail_for(address)
    assert mail.message["Subject"] == "Mülleimer ist überfällig"
    assert mail.message["Content-Language"] == "de"
    text, html = mail.part("plain"), mail.part("html")
    assert text.startswith("Hallo Dora,")
    assert "„Mülleimer“ wurde nicht rechtzeitig erledigt. Dir wurden 3 Punkte abgezogen." in text
    assert "Mülleimer" in html
    assert "Diese E-Mails abbestellen" in html
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = mail.message["List-Unsubscribe"].strip("<>")
    assert link.startswith("http://localhost:8080/api/v1/notification-preferences/unsubscribe?token=")
    assert link in text
    done = (await deliveries(stack, dora))[0]
    assert (done.id, done.status, done.recipient, done.unsubscribe_url) == (delivery.id, SENT, None, None)
    assert len(mailbox.to(address)) == 1


async def test_html_in_a_chore_title_is_escaped_in_the_mail(stack: Stack, events: Events, mailbox: Mailbox) -> None:
    eli, address = await person(stack, events, "Eli")
    await events.send("task", overdue(events, eli, "<script>alert(1)</script>", penalty=0))
    await run_notify_jobs(stack, mailbox.port)
    mail = await mailbox.mail_for(address)
    assert "<script>" not in mail.part("html")
    assert "&lt;script&gt;" in mail.part("html")
    assert mail.message["Subject"] == "<script>alert(1)</script> is overdue"  # plain text, not HTML


async def test_in_app_off_writes_no_notification_and_email_off_sends_no_mail(
    stack: Stack, events: Events, http: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    fay, address = await person(stack, events, "Fay")
    answer = await put(http, fay, {"events": {"chore.overdue": {"in_app": False}, "chore.assigned": {"email": False}}})
    assert answer.status_code == 200, answer.text
    first = await events.send("task", overdue(events, fay))
    assigned = events_pb2.ChoreAssigned(
        household_id=events.household_id,
        chore_id=str(new_id()),
        title="Dishes",
        assignee_id=fay.user_id,
        reason="claim",
    )
    second = await events.send("task", envelope("chore.assigned", assigned, household_id=events.household_id))
    assert await in_app(stack, fay, first) == 0
    assert await in_app(stack, fay, second) == 1
    [only] = await deliveries(stack, fay)
    assert only.template == "chore_overdue"
    await run_notify_jobs(stack, mailbox.port)
    assert (await mailbox.mail_for(address)).message["Subject"] == "Bins is overdue"


async def test_no_address_no_mail(stack: Stack, events: Events) -> None:
    gus = await register(stack, "Gus")
    registered = events_pb2.UserRegistered(user_id=gus.user_id, display_name="Gus", locale="en")
    await events.send("user", envelope("user.registered", registered, household_id="", occurred_at=T0))
    async with stack.servers["notify"].runtime.sessions() as session, session.begin():
        # As if the address never reached notify (an account from before user events carried it).
        await session.execute(sa.update(UserName).where(UserName.user_id == uuid.UUID(gus.user_id)).values(email=None))
    await events.join(gus, "member", at=T0)
    sent = await events.send("task", overdue(events, gus))
    assert await in_app(stack, gus, sent) == 1
    assert await deliveries(stack, gus) == []


def around_now(zone: str) -> tuple[str, str, datetime]:
    """Quiet hours from an hour ago to an hour ahead in `zone` (wrapping midnight if they must), and their end."""
    now = datetime.now(ZoneInfo(zone)).replace(second=0, microsecond=0)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    return start.strftime("%H:%M"), end.strftime("%H:%M"), end.astimezone(UTC)


async def test_quiet_hours_hold_the_mail_until_they_end_and_in_app_is_written_at_once(
    stack: Stack, events: Events, http: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    zone = "Asia/Tokyo"
    hana, address = await person(stack, events, "Hana", zone=zone)
    start, end, ends_at = around_now(zone)
    assert (await put(http, hana, {"quiet_hours": {"start": start, "end": end}})).status_code == 200
    first, second = overdue(events, hana, "Bins"), overdue(events, hana, "Towels")
    for event in (first, second):
        await events.send("task", event)
        assert await in_app(stack, hana, event) == 1  # in-app is not held
    held = await deliveries(stack, hana)
    assert [d.not_before for d in held] == [ends_at, ends_at]
    for delivery in held:
        assert await job_schedule(stack, delivery.id) == ("todo", ends_at)
    await run_notify_jobs(stack, mailbox.port)
    assert mailbox.to(address) == []  # still quiet: nothing went out
    # The quiet hours end: the held mails go, each on its own (held, not digested).
    for delivery in held:
        await due_now(stack, "notify:send_email", delivery_id=str(delivery.id))
    await run_notify_jobs(stack, mailbox.port)
    await mailbox.mail_for(address, nth=2)
    assert sorted(m.message["Subject"] for m in mailbox.to(address)) == ["Bins is overdue", "Towels is overdue"]


def reserved_port() -> socket.socket:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    return held


async def test_with_smtp_down_a_notification_mail_is_retried_then_failed(stack: Stack, events: Events) -> None:
    ivy, _ = await person(stack, events, "Ivy")
    await events.send("task", overdue(events, ivy))
    held = reserved_port()
    try:
        port = held.getsockname()[1]

        async def over() -> EmailDelivery | None:
            await run_notify_jobs(stack, port, smtp_max_attempts=3)
            [delivery] = await deliveries(stack, ivy)
            return delivery if delivery.status == FAILED else None

        failed = await eventually(over, timeout=30)
    finally:
        held.close()
    assert failed is not None
    assert failed.attempts == 3
    assert failed.last_error is not None
    assert "Connect" in failed.last_error
    assert (failed.recipient, failed.html_body, failed.unsubscribe_url) == (None, None, None)


# --- unsubscribing --------------------------------------------------------------------------------------------


async def test_the_unsubscribe_link_turns_off_exactly_that_category_and_bad_tokens_are_404(
    stack: Stack, events: Events, http: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    jo, address = await person(stack, events, "Jo")
    await events.send("task", overdue(events, jo))
    await run_notify_jobs(stack, mailbox.port)
    token = unsubscribe_token(await mailbox.mail_for(address))
    before = (await http.get(PREFS, headers=bearer(jo))).json()

    for forged in (token[:-3] + "AAA", token.split(".")[0] + ".", "nonsense", "x" * 512):
        answer = await http.post(f"{API}/notification-preferences/unsubscribe", params={"token": forged})
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == "not_found"
    secret = stack.servers["notify"].runtime.settings.unsubscribe_secret.get_secret_value().encode()
    now = datetime.now(UTC)
    expired = unsubscribe.make_token(
        secret, uuid.UUID(jo.user_id), "chore.overdue", now=now - timedelta(days=400), days=90
    )
    nobody = unsubscribe.make_token(secret, uuid.uuid4(), "chore.overdue", now=now, days=90)
    for bad in (expired, nobody):
        answer = await http.get(f"{API}/notification-preferences/unsubscribe", params={"token": bad})
        assert answer.status_code == 404, answer.text
    assert (await http.get(f"{API}/notification-preferences/unsubscribe")).status_code == 422
    assert (await http.get(PREFS, headers=bearer(jo))).json() == before

    # RFC 8058 one-click: a form POST, no sign-in.
    done = await http.post(
        f"{API}/notification-preferences/unsubscribe",
        params={"token": token},
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200, done.text
    assert done.json() == {"category": "chore.overdue", "email": False}
    after = (await http.get(PREFS, headers=bearer(jo))).json()
    assert after["events"]["chore.overdue"] == {"in_app": True, "email": False, "push": True}
    changed = {kind for kind in before["events"] if before["events"][kind] != after["events"][kind]}
    assert changed == {"chore.overdue"}
    # Again (a second click, a mail scanner): the same answer, nothing more changes.
    assert (await http.get(f"{API}/notification-preferences/unsubscribe", params={"token": token})).status_code == 200
    # No more overdue mails; other mails still come.
    await events.send("task", overdue(events, jo))
    assigned = events_pb2.ChoreAssigned(
        household_id=events.household_id, chore_id=str(new_id()), title="Plants", assignee_id=jo.user_id, reason="claim"
    )
    await events.send("task", envelope("chore.assigned", assigned, household_id=events.household_id))
    assert [d.template for d in await deliveries(stack, jo)] == ["chore_overdue", "chore_assigned"]


# --- the weekly summary ---------------------------------------------------------------------------------------


def completed(events: Events, by: Person, at: datetime) -> events_pb2.Envelope:
    return events.completion(by, "Vacuum", at=at)


async def test_the_weekly_summary_goes_once_per_week_to_each_member_who_keeps_it_on(
    stack: Stack, events: Events, http: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    home = Events(stack, events.redis)  # a household of its own: the summary counts the whole household
    kim, kim_address = await person(stack, home, "Kim", locale="de")
    lou, lou_address = await person(stack, home, "Lou")
    max_, max_address = await person(stack, home, "Max")
    assert (await put(http, max_, {"events": {"weekly_summary": {"email": False}}})).status_code == 200
    monday = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # the job's schedule; it reports on 23-29 November
    for who, day in ((kim, 24), (kim, 25), (lou, 29), (kim, 30)):  # the 30th is this week: not counted
        await home.send("task", completed(home, who, datetime(2026, 11, day, 12, 0, tzinfo=UTC)))
    await home.send("task", overdue(home, lou))  # now: not in that week either
    sessions = stack.servers["notify"].runtime.sessions
    first = await summary.send_summaries(sessions, scheduled=monday)
    again = await summary.send_summaries(sessions, scheduled=monday + timedelta(minutes=5))  # replayed
    assert (first, again) == (2, 0)
    kims = [d for d in await deliveries(stack, kim) if d.template == "weekly_summary"]
    lous = [d for d in await deliveries(stack, lou) if d.template == "weekly_summary"]
    assert len(kims) == len(lous) == 1
    assert [d for d in await deliveries(stack, max_) if d.template == "weekly_summary"] == []
    await run_notify_jobs(stack, mailbox.port)
    kim_mail = await mailbox.mail_for(kim_address)
    await mailbox.mail_for(lou_address, nth=2)  # the chore.overdue mail came first
    [lou_mail] = [m for m in mailbox.to(lou_address) if m.message["Subject"].startswith("Your household's week")]
    assert kim_mail.message["Subject"] == "Die Woche in deinem Haushalt: 3 erledigt, 0 verpasst"
    kim_text = kim_mail.part("plain").replace("\r\n", "\n")
    assert "Erledigt von:\n- Kim: 2\n- Lou: 1\n" in kim_text
    assert "vom 2026-11-23 bis 2026-11-29" in kim_text
    assert "<li>Kim: 2</li><li>Lou: 1</li>" in lou_mail.part("html")
    assert lou_mail.message["List-Unsubscribe"]
    assert mailbox.to(max_address) == []
    # The next week is a week of its own, with a mail of its own (Kim's completion on the 30th is in it).
    # (Other tests' households are active this week too: count this household's mails, not all.)
    await summary.send_summaries(sessions, scheduled=monday + timedelta(days=7))
    assert len([d for d in await deliveries(stack, kim) if d.template == "weekly_summary"]) == 2
    await run_notify_jobs(stack, mailbox.port)
    second = await mailbox.mail_for(kim_address, nth=2)
    assert second.message["Subject"].startswith("Die Woche in deinem Haushalt: 1 erledigt")


# --- the reminder lead ----------------------------------------------------------------------------------------


def chore_created(events: Events, assignee: Person, due: datetime, chore_id: str) -> events_pb2.Envelope:
    payload = events_pb2.ChoreCreated(
        household_id=events.household_id, chore_id=chore_id, title="Laundry", assignee_id=assignee.user_id, points=5
    )
    payload.next_due_at.FromDatetime(due)
    return envelope("chore.created", payload, household_id=events.household_id)


async def reminders_of(stack: Stack, person: Person) -> list[LeadReminder]:
    async with stack.servers["notify"].runtime.sessions() as session:
        rows = await session.scalars(sa.select(LeadReminder).where(LeadReminder.user_id == uuid.UUID(person.user_id)))
        return list(rows)


async def due_soon_notifications(stack: Stack, person: Person) -> list[Notification]:
    async with stack.servers["notify"].runtime.sessions() as session:
        rows = await session.scalars(
            sa.select(Notification).where(
                Notification.user_id == uuid.UUID(person.user_id), Notification.type == "chore.due_soon"
            )
        )
        return list(rows)


async def test_the_reminder_lead_reminds_once_per_occurrence_instead_of_the_chores_reminders(
    stack: Stack, events: Events, http: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    nia, _ = await person(stack, events, "Nia")
    assert (await put(http, nia, {"reminder_lead_minutes": 30})).status_code == 200
    due = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    chore_id = str(new_id())
    await events.send("task", chore_created(events, nia, due, chore_id))
    # Another event naming the same occurrence schedules nothing more.
    updated = events_pb2.ChoreUpdated(
        household_id=events.household_id, chore_id=chore_id, title="Laundry", assignee_id=nia.user_id, changed=["title"]
    )
    updated.next_due_at.FromDatetime(due)
    await events.send("task", envelope("chore.updated", updated, household_id=events.household_id))
    [reminder] = await reminders_of(stack, nia)
    assert (reminder.due_at, reminder.remind_at) == (due, due - timedelta(minutes=30))
    # Not yet due: running the worker tells nobody.
    await run_notify_jobs(stack, mailbox.port)
    assert await due_soon_notifications(stack, nia) == []
    # The task service's own reminder is not for someone with a lead of their own.
    task_reminder = events_pb2.ChoreDueSoon(
        household_id=events.household_id, chore_id=chore_id, title="Laundry", assignee_id=nia.user_id, before_minutes=60
    )
    await events.send("task", envelope("chore.due_soon", task_reminder, household_id=events.household_id))
    assert await due_soon_notifications(stack, nia) == []
    # due - 30 minutes: the reminder comes, once (the job run again, too).
    await due_now(stack, REMIND_LEAD, reminder_id=str(reminder.id))
    await run_notify_jobs(stack, mailbox.port)
    [told] = await due_soon_notifications(stack, nia)
    assert told.body == "“Laundry” is due in 30 minutes."
    async with stack.servers["notify"].runtime.sessions() as session, session.begin():
        await session.execute(
            sa.text(
                "UPDATE procrastinate.procrastinate_jobs SET status = 'todo', scheduled_at = now()"
                " WHERE task_name = :task AND args ->> 'reminder_id' = :reminder"
            ),
            {"task": REMIND_LEAD, "reminder": str(reminder.id)},
        )
    await run_notify_jobs(stack, mailbox.port)
    assert len(await due_soon_notifications(stack, nia)) == 1
    assert len([d for d in await deliveries(stack, nia) if d.template == "chore_due_soon"]) == 1


async def test_a_reminder_for_an_occurrence_that_moved_on_says_nothing_and_the_new_one_is_scheduled(
    stack: Stack, events: Events, http: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    oli, _ = await person(stack, events, "Oli")
    assert (await put(http, oli, {"reminder_lead_minutes": 60})).status_code == 200
    due = (datetime.now(UTC) + timedelta(hours=5)).replace(microsecond=0)
    chore_id = str(new_id())
    await events.send("task", chore_created(events, oli, due, chore_id))
    later = due + timedelta(days=1)
    snoozed = events_pb2.ChoreSnoozed(
        household_id=events.household_id, chore_id=chore_id, title="Laundry", assignee_id=oli.user_id
    )
    snoozed.previous_due_at.FromDatetime(due)
    snoozed.next_due_at.FromDatetime(later)
    await events.send("task", envelope("chore.snoozed", snoozed, household_id=events.household_id))
    first, second = sorted(await reminders_of(stack, oli), key=lambda r: r.due_at)
    assert (first.due_at, second.due_at) == (due, later)
    await due_now(stack, REMIND_LEAD, reminder_id=str(first.id))
    await run_notify_jobs(stack, mailbox.port)
    assert await due_soon_notifications(stack, oli) == []  # the old occurrence is not the chore's open one now
    # Someone else has it now: their lead (none) applies, and Oli's reminder for `later` says nothing either.
    other, _ = await person(stack, events, "Pat")
    assigned = events_pb2.ChoreAssigned(
        household_id=events.household_id, chore_id=chore_id, title="Laundry", assignee_id=other.user_id, reason="claim"
    )
    assigned.next_due_at.FromDatetime(later)
    await events.send("task", envelope("chore.assigned", assigned, household_id=events.household_id))
    await due_now(stack, REMIND_LEAD, reminder_id=str(second.id))
    await run_notify_jobs(stack, mailbox.port)
    assert await due_soon_notifications(stack, oli) == []
    assert await reminders_of(stack, other) == []


# --- erasure --------------------------------------------------------------------------------------------------


async def test_user_deleted_erases_preferences_address_zone_held_mails_and_reminders(
    stack: Stack, events: Events, http: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    quinn, address = await person(stack, events, "Quinn", zone="Asia/Tokyo")
    start, end, _ = around_now("Asia/Tokyo")
    document = {"quiet_hours": {"start": start, "end": end}, "reminder_lead_minutes": 15}
    assert (await put(http, quinn, document)).status_code == 200
    await events.send("task", overdue(events, quinn, "Held"))  # held for the quiet hours: owed
    await events.send("task", chore_created(events, quinn, datetime.now(UTC) + timedelta(hours=2), str(new_id())))
    assert await reminders_of(stack, quinn)
    assert await tables_naming(stack, quinn.user_id, address)

    deleted = events_pb2.UserDeleted(user_id=quinn.user_id, household_ids=[events.household_id])
    await events.send("user", envelope("user.deleted", deleted, household_id="", actor_id=quinn.user_id))

    assert await tables_naming(stack, quinn.user_id, address) == {}
    # The held mail's job and the reminder's find nothing to do: nothing goes out.
    async with stack.servers["notify"].runtime.sessions() as session, session.begin():
        await session.execute(
            sa.text("UPDATE procrastinate.procrastinate_jobs SET scheduled_at = now() WHERE status = 'todo'")
        )
    await run_notify_jobs(stack, mailbox.port)
    assert mailbox.to(address) == []
    # A link from a mail they got before leads nowhere now.
    secret = stack.servers["notify"].runtime.settings.unsubscribe_secret.get_secret_value().encode()
    token = unsubscribe.make_token(secret, uuid.UUID(quinn.user_id), "chore.overdue", now=datetime.now(UTC), days=9)
    answer = await http.post(f"{API}/notification-preferences/unsubscribe", params={"token": token})
    assert answer.status_code == 404


async def test_the_weekly_summary_job_on_the_queue_mails_once_however_often_it_runs(
    stack: Stack, events: Events, mailbox: Mailbox
) -> None:
    home = Events(stack, events.redis)
    rae, address = await person(stack, home, "Rae")
    await home.send("task", completed(home, rae, datetime(2026, 11, 18, 9, 0, tzinfo=UTC)))
    scheduled = int(datetime(2026, 11, 23, 7, 0, tzinfo=UTC).timestamp())  # reports on 16-22 November
    for _ in range(2):  # the periodic job deferred again (a replay, a second worker's deferral)
        async with stack.servers["notify"].runtime.sessions() as session, session.begin():
            await defer_in(session, summary.WEEKLY_SUMMARY_JOB, timestamp=scheduled)
        await run_notify_jobs(stack, mailbox.port)
    summaries = [d for d in await deliveries(stack, rae) if d.template == "weekly_summary"]
    assert len(summaries) == 1
    assert summaries[0].status == SENT
    mail = await mailbox.mail_for(address)
    assert mail.message["Subject"] == "Your household's week: 1 done, 0 missed"
    assert "from 2026-11-16 to 2026-11-22" in mail.part("plain")


async def test_the_weekly_job_prunes_old_activity_and_the_reminders_of_past_occurrences(stack: Stack) -> None:
    sessions = stack.servers["notify"].runtime.sessions
    scheduled = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    old, kept = uuid.uuid4(), uuid.uuid4()
    past_due = datetime.now(UTC) - timedelta(days=3)
    someone, chore = uuid.uuid4(), uuid.uuid4()
    async with sessions() as session, session.begin():
        household = uuid.uuid4()
        await summary.record(session, summary.COMPLETED, old, household, None, scheduled - timedelta(weeks=7))
        await summary.record(session, summary.COMPLETED, kept, household, None, scheduled - timedelta(weeks=4))
        session.add(LeadReminder(id=uuid.uuid4(), user_id=someone, chore_id=chore, due_at=past_due, remind_at=past_due))
    await summary.send_summaries(sessions, scheduled=scheduled)
    async with sessions() as session:
        refs = set(
            await session.scalars(sa.select(HouseholdActivity.ref_id).where(HouseholdActivity.ref_id.in_([old, kept])))
        )
        reminders = list(await session.scalars(sa.select(LeadReminder).where(LeadReminder.user_id == someone)))
    assert refs == {kept}
    assert reminders == []


async def test_a_lead_set_later_reminds_of_the_chores_held_now_and_turning_it_off_silences_it(
    stack: Stack, events: Events, http: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    ray, _ = await person(stack, events, "Ray")
    due = (datetime.now(UTC) + timedelta(hours=4)).replace(microsecond=0)
    chore_id = str(new_id())
    await events.send("task", chore_created(events, ray, due, chore_id))
    assert await reminders_of(stack, ray) == []  # no lead yet: the chore's own reminders apply
    set_lead = await put(http, ray, {"reminder_lead_minutes": 20})
    assert set_lead.status_code == 200
    [reminder] = await reminders_of(stack, ray)
    assert (reminder.due_at, reminder.remind_at) == (due, due - timedelta(minutes=20))
    # Back to the chore's reminders: the scheduled one says nothing, task's chore.due_soon reaches them again.
    assert (await put(http, ray, {}, **{"If-Match": set_lead.headers["etag"]})).status_code == 200
    await due_now(stack, REMIND_LEAD, reminder_id=str(reminder.id))
    await run_notify_jobs(stack, mailbox.port)
    assert await due_soon_notifications(stack, ray) == []
    task_reminder = events_pb2.ChoreDueSoon(
        household_id=events.household_id, chore_id=chore_id, title="Laundry", assignee_id=ray.user_id, before_minutes=60
    )
    await events.send("task", envelope("chore.due_soon", task_reminder, household_id=events.household_id))
    [told] = await due_soon_notifications(stack, ray)
    assert told.body == "“Laundry” is due in 60 minutes."
