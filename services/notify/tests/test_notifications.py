"""notify end to end: events on the streams → the real consumer → the inbox, read through the real gRPC server.

Members come from member.* events (their new names from user.updated) and completions from chore.completed
events, XADDed to the stream in the relay's wire format; people are real users with real access tokens from the
user service.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc

from kit import pagination
from kit.ids import new_id
from services.notify.consumers import on_chore_completed
from services.notify.models import Notification
from services.notify.tests.helpers import Events
from tests.support.events import delivered, envelope
from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.people import Person, register
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "notify"])
redis = redis_fixture()
inbox = stub_fixture("notify", notify_pb2_grpc.NotificationServiceStub)


@pytest_asyncio.fixture(loop_scope="module")
async def events(stack: Stack, redis: aioredis.Redis) -> Events:
    return Events(stack, redis)


async def listed(
    inbox: notify_pb2_grpc.NotificationServiceStub,
    person: Person,
    *,
    kind: str | None = "chore.completed",
    **kwargs: object,
) -> list[notify_pb2.Notification]:
    """`person`'s notifications of type `kind` (None: all), newest first: joining members tell each other too."""
    response = await inbox.ListNotifications(
        notify_pb2.ListNotificationsRequest(parent="users/me", **kwargs), metadata=person.metadata
    )
    return [n for n in response.notifications if kind is None or n.type == kind]


async def people(stack: Stack, *names: str) -> list[Person]:
    return [await register(stack, name) for name in names]


async def test_other_adults_hear_about_a_completion_but_not_the_child_or_the_completer(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    alice, bob, dan, carol = await people(stack, "Alice", "Bob", "Dan", "Carol")
    for person, role in ((alice, "owner"), (bob, "member"), (dan, "admin"), (carol, "child")):
        await events.join(person, role)
    at = datetime(2026, 11, 23, 18, 0, 5, tzinfo=UTC)
    done = await events.complete(alice, "Dishes", points=10, at=at)
    payload = events_pb2.ChoreCompleted()
    done.payload.Unpack(payload)

    [note] = await listed(inbox, bob)
    assert note.type == "chore.completed"
    assert note.title == "Alice completed Dishes"
    assert "Dishes" in note.body
    assert "10 points" in note.body
    assert note.name.startswith(f"users/{bob.user_id}/notifications/")
    assert note.household == f"households/{events.household_id}"
    assert note.subject == f"households/{events.household_id}/chores/{payload.chore_id}"
    assert note.actor == f"users/{alice.user_id}"
    assert note.event_id == done.event_id
    assert note.create_time.ToDatetime(tzinfo=UTC) == at
    assert not note.HasField("read_time")

    [dans] = await listed(inbox, dan)
    assert dans.event_id == done.event_id
    assert dans.name != note.name
    # The event has been handled and acknowledged: the completer and the child got nothing.
    assert await listed(inbox, alice) == []
    assert await listed(inbox, carol) == []


async def test_a_child_completing_notifies_the_adults(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    olga, kid = await people(stack, "Olga", "Kid")
    await events.join(olga, "owner")
    await events.join(kid, "child")
    await events.complete(kid, "Feed the cat")
    assert [n.title for n in await listed(inbox, olga)] == ["Kid completed Feed the cat"]
    assert await listed(inbox, kid) == []


async def test_a_redelivered_event_notifies_once(
    stack: Stack, events: Events, redis: aioredis.Redis, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    alice, bob = await people(stack, "Alice", "Bob")
    await events.join(alice, "owner")
    await events.join(bob, "member")
    done = events.completion(alice)
    await events.send("task", done)
    await events.send("task", done)  # at-least-once: the relay published it twice
    assert [n.event_id for n in await listed(inbox, bob)] == [done.event_id]

    # Idempotent by construction too, not only thanks to the consumer's inbox: run the handler again directly.
    sessions = stack.servers["notify"].runtime.sessions
    for _ in range(2):
        async with sessions() as session, session.begin():
            await on_chore_completed(session, delivered(done))
    async with sessions() as session:
        count = await session.scalar(
            sa.select(sa.func.count()).select_from(Notification).where(Notification.event_id == done.event_id)
        )
    assert count == 1
    assert [n.event_id for n in await listed(inbox, bob)] == [done.event_id]


async def test_an_undone_completion_is_no_longer_told_of(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    alice, bob, dan = await people(stack, "Alice", "Bob", "Dan")
    for person, role in ((alice, "owner"), (bob, "member"), (dan, "admin")):
        await events.join(person, role)
    undone, kept = events.completion(alice, "Dishes"), events.completion(alice, "Bins")
    await events.send("task", undone)
    await events.send("task", kept)
    [read] = [n for n in await listed(inbox, bob) if n.title == "Alice completed Dishes"]
    await inbox.MarkNotificationRead(notify_pb2.MarkNotificationReadRequest(name=read.name), metadata=bob.metadata)
    completed = events_pb2.ChoreCompleted()
    undone.payload.Unpack(completed)
    taken_back = events_pb2.CompletionUndone(
        household_id=events.household_id,
        chore_id=completed.chore_id,
        completion_id=completed.completion_id,
        title="Dishes",
        completed_by=alice.user_id,
        points=10,
    )
    message = envelope("completion.undone", taken_back, household_id=events.household_id, actor_id=alice.user_id)
    await events.send("task", message)
    # Gone from every inbox, read or not; the other completion stays.
    for person in (bob, dan):
        assert [n.title for n in await listed(inbox, person)] == ["Alice completed Bins"]
    await events.send("task", message)  # redelivered: nothing more to do, nothing else goes
    assert [n.title for n in await listed(inbox, bob)] == ["Alice completed Bins"]


async def test_role_changes_and_departures_change_who_hears(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    alice, bob, dan, frank, gina = await people(stack, "Alice", "Bob", "Dan", "Frank", "Gina")
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    await events.join(alice, "owner", at=t0)
    await events.join(bob, "member", at=t0)
    await events.join(dan, "member", at=t0)
    await events.join(gina, "child", at=t0)
    hid = events.household_id
    demoted = events_pb2.MemberUpdated(household_id=hid, user_id=bob.user_id, role="child")
    await events.send(
        "user", envelope("member.updated", demoted, household_id=hid, occurred_at=t0 + timedelta(minutes=1))
    )
    promoted = events_pb2.MemberUpdated(household_id=hid, user_id=gina.user_id, role="member")
    await events.send(
        "user", envelope("member.updated", promoted, household_id=hid, occurred_at=t0 + timedelta(minutes=1))
    )
    gone = events_pb2.MemberLeft(household_id=hid, user_id=dan.user_id)
    await events.send("user", envelope("member.left", gone, household_id=hid, occurred_at=t0 + timedelta(minutes=1)))
    # Out of order: Frank's departure is handled before his (earlier) arrival; he stays gone.
    frank_left = events_pb2.MemberLeft(household_id=hid, user_id=frank.user_id)
    await events.send(
        "user", envelope("member.left", frank_left, household_id=hid, occurred_at=t0 + timedelta(minutes=2))
    )
    await events.join(frank, "admin", at=t0 + timedelta(minutes=1))
    # ...and a stale role change does not undo a newer one.
    stale = events_pb2.MemberUpdated(household_id=hid, user_id=bob.user_id, role="admin")
    await events.send("user", envelope("member.updated", stale, household_id=hid, occurred_at=t0))

    await events.complete(alice, "Laundry")
    assert [n.title for n in await listed(inbox, gina)] == ["Alice completed Laundry"]
    for person in (bob, dan, frank):
        assert await listed(inbox, person) == [], person.display_name


def renamed(person: Person, display_name: str, *, at: datetime) -> events_pb2.Envelope:
    """`user.updated` for `person`'s new name, as the user service publishes it (no household)."""
    payload = events_pb2.UserUpdated(
        user_id=person.user_id, display_name=display_name, time_zone="UTC", locale="en", changed=["display_name"]
    )
    return envelope("user.updated", payload, household_id="", actor_id=person.user_id, occurred_at=at)


async def test_a_renamed_user_is_named_anew_in_every_household(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    alice, bob, carol = await people(stack, "Alice", "Bob", "Carol")
    other = Events(stack, events.redis)
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    for home, person, role in ((events, alice, "owner"), (events, bob, "member"), (other, alice, "member")):
        await home.join(person, role, at=t0)
    await other.join(carol, "owner", at=t0)
    await events.complete(alice, "Dishes")
    assert [n.title for n in await listed(inbox, bob)] == ["Alice completed Dishes"]

    await events.send("user", renamed(alice, "Ally", at=t0 + timedelta(minutes=5)))
    await events.complete(alice, "Bins")
    await other.complete(alice, "Windows")

    assert [n.title for n in await listed(inbox, bob)] == ["Ally completed Bins", "Alice completed Dishes"]
    assert [n.title for n in await listed(inbox, carol)] == ["Ally completed Windows"]


async def test_an_older_name_does_not_replace_a_newer_one_and_a_rename_is_no_membership_fact(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    alice, bob, dan = await people(stack, "Alice", "Bob", "Dan")
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    for person, role in ((alice, "owner"), (bob, "member"), (dan, "member")):
        await events.join(person, role, at=t0)
    hid = events.household_id

    await events.send("user", renamed(alice, "Ally", at=t0 + timedelta(minutes=5)))
    await events.send("user", renamed(alice, "Al", at=t0 + timedelta(minutes=3)))  # late and older: ignored
    # A late member.joined (newer than the membership row, older than the name) keeps the newer name.
    await events.join(alice, "owner", at=t0 + timedelta(minutes=1))
    # A rename says nothing about membership: a role change made before it (but handled after) still applies.
    await events.send("user", renamed(dan, "Daniel", at=t0 + timedelta(minutes=5)))
    demoted = events_pb2.MemberUpdated(household_id=hid, user_id=dan.user_id, role="child")
    await events.send(
        "user", envelope("member.updated", demoted, household_id=hid, occurred_at=t0 + timedelta(minutes=2))
    )

    await events.complete(alice, "Laundry")
    assert [n.title for n in await listed(inbox, bob)] == ["Ally completed Laundry"]
    assert await listed(inbox, dan) == []


async def test_a_completer_the_service_does_not_know_yet_is_someone(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    bob, stranger = await people(stack, "Bob", "Stranger")
    await events.join(bob, "member")
    await events.complete(stranger, "Windows")
    assert [n.title for n in await listed(inbox, bob)] == ["Someone completed Windows"]


async def test_read_one_and_read_all(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    alice, bob = await people(stack, "Alice", "Bob")
    await events.join(alice, "owner")
    await events.join(bob, "member")
    for title in ("One", "Two", "Three"):
        await events.complete(alice, title)
    notes = await listed(inbox, bob)
    assert len(notes) == 3

    read = await inbox.MarkNotificationRead(
        notify_pb2.MarkNotificationReadRequest(name=notes[1].name), metadata=bob.metadata
    )
    assert read.name == notes[1].name
    assert read.HasField("read_time")
    unread = await listed(inbox, bob, unread_only=True)
    assert [n.name for n in unread] == [notes[0].name, notes[2].name]
    # Marking it again keeps the first read time; "users/me/..." names the same notification.
    again = await inbox.MarkNotificationRead(
        notify_pb2.MarkNotificationReadRequest(name=notes[1].name.replace(f"users/{bob.user_id}/", "users/me/")),
        metadata=bob.metadata,
    )
    assert again.read_time == read.read_time

    await inbox.MarkAllNotificationsRead(
        notify_pb2.MarkAllNotificationsReadRequest(parent="users/me"), metadata=bob.metadata
    )
    assert await listed(inbox, bob, unread_only=True) == []
    everything = await listed(inbox, bob)
    assert [n.name for n in everything] == [n.name for n in notes]
    assert all(n.HasField("read_time") for n in everything)
    assert next(n for n in everything if n.name == notes[1].name).read_time == read.read_time

    # New ones after read-all arrive unread.
    await events.complete(alice, "Four")
    assert [n.title for n in await listed(inbox, bob, unread_only=True)] == ["Alice completed Four"]


async def test_pages_are_newest_first_and_keyset_based(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    alice, bob = await people(stack, "Alice", "Bob")
    await events.join(alice, "owner")
    await events.join(bob, "member")
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    for n in range(5):
        await events.complete(alice, f"Chore {n}", at=t0 + timedelta(minutes=n))
    same_time = t0 + timedelta(minutes=2)  # two notifications with the same create_time: the id breaks the tie
    await events.complete(alice, "Chore 2b", at=same_time)

    seen: list[notify_pb2.Notification] = []
    token = ""
    pages = 0
    while True:
        response = await inbox.ListNotifications(
            notify_pb2.ListNotificationsRequest(parent="users/me", page_size=2, page_token=token),
            metadata=bob.metadata,
        )
        pages += 1
        assert len(response.notifications) <= 2
        seen += response.notifications
        token = response.next_page_token
        if not token:
            break
    assert pages == 3
    assert len({n.name for n in seen}) == 6
    times = [n.create_time.ToDatetime(tzinfo=UTC) for n in seen]
    assert times == sorted(times, reverse=True)
    assert [n.title.removeprefix("Alice completed ") for n in seen][:2] == ["Chore 4", "Chore 3"]
    assert [n.title.removeprefix("Alice completed ") for n in seen][-2:] == ["Chore 1", "Chore 0"]
    assert seen == await listed(inbox, bob)  # one big page says the same

    # A token belongs to its query (and its user).
    first = await inbox.ListNotifications(
        notify_pb2.ListNotificationsRequest(parent="users/me", page_size=2), metadata=bob.metadata
    )
    for request, who in (
        (
            notify_pb2.ListNotificationsRequest(parent="users/me", page_token=first.next_page_token, unread_only=True),
            bob,
        ),
        (notify_pb2.ListNotificationsRequest(parent="users/me", page_token=first.next_page_token), alice),
        (notify_pb2.ListNotificationsRequest(parent="users/me", page_token="not-a-token"), bob),
        (notify_pb2.ListNotificationsRequest(parent="users/me", page_size=-1), bob),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await inbox.ListNotifications(request, metadata=who.metadata)
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_callers_only_see_and_mark_their_own(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    alice, bob = await people(stack, "Alice", "Bob")
    await events.join(alice, "owner")
    await events.join(bob, "member")
    await events.complete(alice)
    [note] = await listed(inbox, bob)
    note_id = note.name.rsplit("/", 1)[1]

    own = await inbox.ListNotifications(
        notify_pb2.ListNotificationsRequest(parent=f"users/{bob.user_id}"), metadata=bob.metadata
    )
    assert [n.name for n in own.notifications] == [note.name]

    async def code_of(call: object) -> grpc.StatusCode:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await call  # type: ignore[misc]
        return failed.value.code()

    assert (
        await code_of(
            inbox.ListNotifications(
                notify_pb2.ListNotificationsRequest(parent=f"users/{bob.user_id}"), metadata=alice.metadata
            )
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    for name in (note.name, f"users/me/notifications/{note_id}", f"users/{alice.user_id}/notifications/{note_id}"):
        assert (
            await code_of(
                inbox.MarkNotificationRead(notify_pb2.MarkNotificationReadRequest(name=name), metadata=alice.metadata)
            )
            == grpc.StatusCode.NOT_FOUND
        ), name
    assert (
        await code_of(
            inbox.MarkAllNotificationsRead(
                notify_pb2.MarkAllNotificationsReadRequest(parent=f"users/{bob.user_id}"), metadata=alice.metadata
            )
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    await inbox.MarkAllNotificationsRead(
        notify_pb2.MarkAllNotificationsReadRequest(parent="users/me"), metadata=alice.metadata
    )
    [still] = await listed(inbox, bob, unread_only=True)
    assert still.name == note.name

    for request in (
        notify_pb2.ListNotificationsRequest(parent="households/x"),
        notify_pb2.ListNotificationsRequest(parent="users/not-an-id"),
        notify_pb2.ListNotificationsRequest(parent=""),
    ):
        assert (
            await code_of(inbox.ListNotifications(request, metadata=bob.metadata)) == grpc.StatusCode.INVALID_ARGUMENT
        )
    assert (
        await code_of(
            inbox.MarkNotificationRead(
                notify_pb2.MarkNotificationReadRequest(name="users/me/notifications/nope"), metadata=bob.metadata
            )
        )
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (
        await code_of(
            inbox.MarkNotificationRead(
                notify_pb2.MarkNotificationReadRequest(name=f"users/me/notifications/{new_id()}"),
                metadata=bob.metadata,
            )
        )
        == grpc.StatusCode.NOT_FOUND
    )
    assert (
        await code_of(inbox.ListNotifications(notify_pb2.ListNotificationsRequest(parent="users/me")))
        == grpc.StatusCode.UNAUTHENTICATED
    )


async def test_forged_page_tokens_are_invalid_argument(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    """Page tokens are not signed: one built with the real query fingerprint but a sort key PostgreSQL cannot
    hold (or not of its kind) is INVALID_ARGUMENT naming page_token, never INTERNAL."""
    alice, bob = await people(stack, "Alice", "Bob")
    await events.join(alice, "owner")
    await events.join(bob, "member")
    for n in range(2):
        await events.complete(alice, f"Chore {n}")
    real = await inbox.ListNotifications(
        notify_pb2.ListNotificationsRequest(parent="users/me", page_size=1), metadata=bob.metadata
    )
    # The fingerprint computed the way the service does is the one its real tokens carry.
    fingerprint = pagination.fingerprint("notifications", bob.user_id, False)
    data = json.loads(base64.urlsafe_b64decode(real.next_page_token + "=" * (-len(real.next_page_token) % 4)))
    assert data["q"] == fingerprint
    create_time, notification_id = data["k"]
    forgeries: list[list[object]] = [
        ["0001-01-01T00:00:00+05:00", notification_id],
        ["9999-12-31T23:59:59-05:00", notification_id],
        ["2026-01-01T00:00:00", notification_id],  # no time zone
        [None, notification_id],
        [12, notification_id],
        [create_time, "not-a-uuid"],
        [create_time, None],
        [create_time],
    ]
    for key in forgeries:
        token = pagination.encode_token(key, fingerprint)
        refusal = await refused(
            inbox.ListNotifications(
                notify_pb2.ListNotificationsRequest(parent="users/me", page_token=token), metadata=bob.metadata
            )
        )
        assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, key
        assert "page_token" in refusal.violations, key
    # The real token still pages on.
    rest = await inbox.ListNotifications(
        notify_pb2.ListNotificationsRequest(parent="users/me", page_token=real.next_page_token), metadata=bob.metadata
    )
    assert [n.title for n in rest.notifications] == ["Alice completed Chore 0"]
