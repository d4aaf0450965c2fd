"""notify end to end, for every event type that tells people something: events on the streams → the real consumer →
the inbox, read through the real gRPC server, and notification.created in notify's outbox.

Each test checks who hears (and who does not: never the one who did it), that a redelivered event notifies once, and
the texts; German recipients (their locale from user.registered / user.updated) get German texts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import sqlalchemy as sa
from google.protobuf.message import Message
from hearth.events.v1 import events_pb2
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc

from kit.ids import new_id
from services.notify.models import outbox
from services.notify.tests.helpers import Events
from tests.support.events import envelope, member_joined
from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.people import Person, register
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "notify"])
redis = redis_fixture()
inbox = stub_fixture("notify", notify_pb2_grpc.NotificationServiceStub)

# Long enough ago that the members' joins are older than anything a test sends.
T0 = datetime.now(UTC) - timedelta(hours=1)


@pytest_asyncio.fixture(loop_scope="module")
async def events(stack: Stack, redis: aioredis.Redis) -> Events:
    return Events(stack, redis)


async def listed(
    inbox: notify_pb2_grpc.NotificationServiceStub, person: Person, kind: str
) -> list[notify_pb2.Notification]:
    response = await inbox.ListNotifications(
        notify_pb2.ListNotificationsRequest(parent="users/me"), metadata=person.metadata
    )
    return [n for n in response.notifications if n.type == kind]


async def household(stack: Stack, events: Events, **roles: str) -> dict[str, Person]:
    """People registered for real, joined to the test's household with their roles (in the order given)."""
    people = {}
    for name, role in roles.items():
        people[name] = await register(stack, name.capitalize())
        await events.join(people[name], role, at=T0)
    return people


async def twice(events: Events, domain: str, event: events_pb2.Envelope) -> events_pb2.Envelope:
    """Send `event`, then again as the relay's at-least-once delivery may."""
    await events.send(domain, event)
    return await events.send(domain, event)


def task_event(events: Events, kind: str, payload: Message, actor: Person | None = None) -> events_pb2.Envelope:
    return envelope(kind, payload, household_id=events.household_id, actor_id=actor.user_id if actor else "")


async def created_events(stack: Stack, source: events_pb2.Envelope) -> list[events_pb2.NotificationCreated]:
    """The notification.created events notify's outbox holds for the notifications of `source`."""
    async with stack.servers["notify"].runtime.sessions() as session:
        rows = await session.scalars(sa.select(outbox.c.envelope).where(outbox.c.event_type == "notification.created"))
        found = []
        for raw in rows:
            message, payload = events_pb2.Envelope(), events_pb2.NotificationCreated()
            message.ParseFromString(raw)
            message.payload.Unpack(payload)
            if payload.source_event_id == source.event_id:
                found.append(payload)
    return found


async def recipients_of(
    inbox: notify_pb2_grpc.NotificationServiceStub, people: dict[str, Person], event: events_pb2.Envelope
) -> set[str]:
    """Whose inboxes hold a notification of `event`, and each only one."""
    heard = set()
    for name, person in people.items():
        mine = [n for n in await listed(inbox, person, event.type) if n.event_id == event.event_id]
        assert len(mine) <= 1, name
        if mine:
            heard.add(name)
    return heard


async def test_a_submitted_completion_asks_the_adults_not_the_child(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    people = await household(stack, events, olga="owner", max="member", kid="child", tim="child")
    payload = events_pb2.CompletionSubmitted(
        household_id=events.household_id,
        chore_id=str(new_id()),
        completion_id=str(new_id()),
        title="Feed the cat",
        completed_by=people["kid"].user_id,
        points=5,
    )
    sent = await twice(events, "task", task_event(events, "completion.submitted", payload, people["kid"]))
    assert await recipients_of(inbox, people, sent) == {"olga", "max"}
    [note] = await listed(inbox, people["olga"], "completion.submitted")
    assert note.title == "Kid asks you to approve Feed the cat"
    assert note.actor == people["kid"].name
    assert note.subject == f"households/{events.household_id}/chores/{payload.chore_id}"

    # notification.created for each, once, in notify's outbox (published on its stream by the relay).
    created = await created_events(stack, sent)
    assert sorted(c.user_id for c in created) == sorted([people["olga"].user_id, people["max"].user_id])
    assert {c.type for c in created} == {"completion.submitted"}
    assert {c.household_id for c in created} == {events.household_id}
    assert note.name.rsplit("/", 1)[1] in {c.notification_id for c in created}

    # Undone, the request is taken back from every inbox.
    undone = events_pb2.CompletionUndone(
        household_id=events.household_id,
        chore_id=payload.chore_id,
        completion_id=payload.completion_id,
        completed_by=people["kid"].user_id,
    )
    await events.send("task", task_event(events, "completion.undone", undone, people["kid"]))
    assert await recipients_of(inbox, people, sent) == set()


async def test_approval_and_rejection_tell_the_one_who_did_it(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    people = await household(stack, events, olga="owner", max="member", kid="child")
    kid, olga = people["kid"], people["olga"]
    approved = events_pb2.CompletionApproved(
        household_id=events.household_id,
        chore_id=str(new_id()),
        completion_id=str(new_id()),
        title="Dishes",
        completed_by=kid.user_id,
        approved_by=olga.user_id,
        points=7,
    )
    sent = await twice(events, "task", task_event(events, "completion.approved", approved, olga))
    assert await recipients_of(inbox, people, sent) == {"kid"}
    [note] = await listed(inbox, kid, "completion.approved")
    assert (note.title, note.body) == (
        "Olga approved Dishes",
        "Olga approved your completion of “Dishes”: you earned 7 points.",
    )
    assert note.actor == olga.name

    rejected = events_pb2.CompletionRejected(
        household_id=events.household_id,
        chore_id=str(new_id()),
        completion_id=str(new_id()),
        title="Bins",
        completed_by=kid.user_id,
        rejected_by=olga.user_id,
        note="They are still full.",
    )
    sent = await twice(events, "task", task_event(events, "completion.rejected", rejected, olga))
    assert await recipients_of(inbox, people, sent) == {"kid"}
    [note] = await listed(inbox, kid, "completion.rejected")
    assert note.body == "Olga did not accept your completion of “Bins”: They are still full."

    # An adult approving their own (an owner may): nobody to tell.
    own = events_pb2.CompletionApproved(
        household_id=events.household_id,
        chore_id=str(new_id()),
        completion_id=str(new_id()),
        title="Windows",
        completed_by=olga.user_id,
        approved_by=olga.user_id,
    )
    sent = await events.send("task", task_event(events, "completion.approved", own, olga))
    assert await recipients_of(inbox, people, sent) == set()
    assert await created_events(stack, sent) == []


async def test_the_assignee_hears_of_assignments_reminders_and_misses(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    people = await household(stack, events, olga="owner", max="member", kid="child")
    hid, max_ = events.household_id, people["max"]
    due = datetime.now(UTC) + timedelta(minutes=30)

    created = events_pb2.ChoreCreated(household_id=hid, chore_id=str(new_id()), title="Mow", assignee_id=max_.user_id)
    sent = await twice(events, "task", task_event(events, "chore.created", created, people["olga"]))
    assert await recipients_of(inbox, people, sent) == {"max"}
    [note] = await listed(inbox, max_, "chore.created")
    assert note.title == "Olga assigned you Mow"
    # Made for oneself, or for nobody: nobody hears.
    for assignee in (max_.user_id, ""):
        own = events_pb2.ChoreCreated(household_id=hid, chore_id=str(new_id()), title="Own", assignee_id=assignee)
        sent = await events.send("task", task_event(events, "chore.created", own, max_))
        assert await recipients_of(inbox, people, sent) == set()

    rotated = events_pb2.ChoreAssigned(
        household_id=hid, chore_id=str(new_id()), title="Bins", assignee_id=people["kid"].user_id, reason="rotation"
    )
    sent = await twice(events, "task", task_event(events, "chore.assigned", rotated))
    assert await recipients_of(inbox, people, sent) == {"kid"}
    [note] = await listed(inbox, people["kid"], "chore.assigned")
    assert (note.title, note.body, note.actor) == ("Bins is yours now", "It is your turn for “Bins”.", "")
    # A claim is the claimer's own doing.
    claimed = events_pb2.ChoreAssigned(
        household_id=hid, chore_id=str(new_id()), title="Bins", assignee_id=max_.user_id, reason="claim"
    )
    sent = await events.send("task", task_event(events, "chore.assigned", claimed, max_))
    assert await recipients_of(inbox, people, sent) == set()

    soon = events_pb2.ChoreDueSoon(
        household_id=hid, chore_id=str(new_id()), title="Dishes", assignee_id=max_.user_id, before_minutes=30
    )
    soon.due_at.FromDatetime(due)
    sent = await twice(events, "task", task_event(events, "chore.due_soon", soon))
    assert await recipients_of(inbox, people, sent) == {"max"}
    [note] = await listed(inbox, max_, "chore.due_soon")
    assert note.body == "“Dishes” is due in 30 minutes."

    overdue = events_pb2.ChoreOverdue(
        household_id=hid, chore_id=str(new_id()), title="Dishes", assignee_id=max_.user_id, penalty_points=3
    )
    sent = await twice(events, "task", task_event(events, "chore.overdue", overdue))
    assert await recipients_of(inbox, people, sent) == {"max"}
    [note] = await listed(inbox, max_, "chore.overdue")
    assert note.body == "“Dishes” was not done in time: 3 points were deducted."
    assert len(await created_events(stack, sent)) == 1

    # An assignee who is no member (another household's id, or someone who left) hears nothing.
    stranger = await register(stack, "Stranger")
    other = events_pb2.ChoreDueSoon(household_id=hid, chore_id=str(new_id()), title="X", assignee_id=stranger.user_id)
    sent = await events.send("task", task_event(events, "chore.due_soon", other))
    assert await listed(inbox, stranger, "chore.due_soon") == []


async def test_members_hear_who_joined_and_left_but_not_of_themselves(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    people = await household(stack, events, olga="owner", kid="child")
    newcomer = await register(stack, "Nina")
    everyone = {**people, "nina": newcomer}
    sent = await twice(events, "user", member_joined(events.household_id, newcomer, "member"))
    assert await recipients_of(inbox, everyone, sent) == {"olga", "kid"}
    [note] = await listed(inbox, people["kid"], "member.joined")
    assert (note.title, note.actor) == ("Nina joined the household", newcomer.name)

    left = events_pb2.MemberLeft(household_id=events.household_id, user_id=people["kid"].user_id)
    # Removed by the owner: the owner did it, so only Nina hears.
    sent = await twice(
        events, "user", envelope("member.left", left, household_id=events.household_id, actor_id=people["olga"].user_id)
    )
    assert await recipients_of(inbox, everyone, sent) == {"nina"}
    [note] = await listed(inbox, newcomer, "member.left")
    assert note.title == "Kid left the household"

    # A late member.joined of someone who has left since tells nobody.
    late = await register(stack, "Late")
    gone = events_pb2.MemberLeft(household_id=events.household_id, user_id=late.user_id)
    await events.send(
        "user", envelope("member.left", gone, household_id=events.household_id, occurred_at=T0 + timedelta(minutes=30))
    )
    await events.join(late, "member", at=T0 + timedelta(minutes=10))
    assert [n for n in await listed(inbox, newcomer, "member.joined") if n.actor == late.name] == []


async def test_a_redeemed_reward_tells_the_other_adults(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    people = await household(stack, events, olga="owner", max="admin", kid="child", tim="child")
    redeemed = events_pb2.PointsChanged(
        household_id=events.household_id,
        user_id=people["max"].user_id,
        entry_id=str(new_id()),
        delta=-50,
        reason="redemption",
        reward_id=str(new_id()),
    )
    sent = await twice(events, "task", task_event(events, "points.changed", redeemed, people["max"]))
    assert await recipients_of(inbox, people, sent) == {"olga"}
    [note] = await listed(inbox, people["olga"], "points.changed")
    assert (note.title, note.body) == ("Max redeemed a reward", "Max redeemed a reward for 50 points.")
    # Other point changes tell nobody (their completion, undo or miss has its own notification).
    earned = events_pb2.PointsChanged(
        household_id=events.household_id,
        user_id=people["kid"].user_id,
        entry_id=str(new_id()),
        delta=5,
        reason="completion",
    )
    sent = await events.send("task", task_event(events, "points.changed", earned, people["kid"]))
    assert await recipients_of(inbox, people, sent) == set()


async def test_german_recipients_read_german(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    people = await household(stack, events, olga="owner", max="member", kid="child")
    olga, max_ = people["olga"], people["max"]
    # Olga registered in Austrian German; Max switched to German, then back to English. (Their real registration
    # published user.registered with the default locale already: these events are newer, so they win.)
    now = datetime.now(UTC)
    registered = events_pb2.UserRegistered(user_id=olga.user_id, display_name="Olga", locale="de-AT")
    await events.send("user", envelope("user.registered", registered, household_id="", occurred_at=now))
    for at, locale in ((now + timedelta(seconds=2), "en"), (now + timedelta(seconds=1), "de")):  # out of order
        updated = events_pb2.UserUpdated(user_id=max_.user_id, display_name="Max", locale=locale, changed=["locale"])
        await events.send("user", envelope("user.updated", updated, household_id="", occurred_at=at))

    await events.complete(people["kid"], "Abwasch", points=4)
    [note] = await listed(inbox, olga, "chore.completed")
    assert (note.title, note.body) == ("Kid hat Abwasch erledigt", "Kid hat „Abwasch“ erledigt und 4 Punkte bekommen.")
    [note] = await listed(inbox, max_, "chore.completed")
    assert note.title == "Kid completed Abwasch"

    due = events_pb2.ChoreDueSoon(
        household_id=events.household_id,
        chore_id=str(new_id()),
        title="Müll",
        assignee_id=olga.user_id,
        before_minutes=15,
    )
    await events.send("task", task_event(events, "chore.due_soon", due))
    [note] = await listed(inbox, olga, "chore.due_soon")
    assert (note.title, note.body) == ("Müll ist bald fällig", "„Müll“ ist in 15 Minuten fällig.")


async def test_a_deleted_person_goes_from_every_kind_of_notification_in_its_language(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    people = await household(stack, events, olga="owner", kid="child")
    olga = people["olga"]
    registered = events_pb2.UserRegistered(user_id=olga.user_id, display_name="Olga", locale="de")
    await events.send("user", envelope("user.registered", registered, household_id="", occurred_at=datetime.now(UTC)))
    zoe = await register(stack, "Zoe")
    await events.join(zoe, "member")
    redeemed = events_pb2.PointsChanged(
        household_id=events.household_id, user_id=zoe.user_id, entry_id=str(new_id()), delta=-9, reason="redemption"
    )
    await events.send("task", task_event(events, "points.changed", redeemed, zoe))
    [joined, _kids] = await listed(inbox, olga, "member.joined")  # newest first; the kid's came before her locale
    assert joined.title == "Zoe ist dem Haushalt beigetreten"

    deleted = events_pb2.UserDeleted(user_id=zoe.user_id, household_ids=[events.household_id])
    await events.send("user", envelope("user.deleted", deleted, household_id="", actor_id=zoe.user_id))
    [joined, kids] = await listed(inbox, olga, "member.joined")
    assert (joined.title, joined.actor) == ("Ein gelöschter Benutzer ist dem Haushalt beigetreten", "")
    assert kids.title == "Kid joined the household"  # nobody else's name goes
    [redemption] = await listed(inbox, olga, "points.changed")
    assert redemption.body == "Ein gelöschter Benutzer hat eine Belohnung für 9 Punkte eingelöst."
    # The kid's inbox (English) too.
    [joined] = await listed(inbox, people["kid"], "member.joined")
    assert joined.title == "A deleted user joined the household"
