"""GDPR in notify, end to end: user.deleted and household.deleted on the user stream → the real consumer → nothing
of the person (or the household) left in notify's database, queried table by table; and PrivacyService.
ExportUserData over real gRPC, with the user service's service token (a user's token and another service's are
refused)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc

from kit.ids import new_id
from services.notify.consumers import on_user_deleted
from services.notify.models import Notification
from services.notify.privacy import DELETED_USER_ID, DELETED_USER_NAME, erase_user
from services.notify.tests.helpers import Events, tables_naming
from tests.support.events import delivered, envelope
from tests.support.fixtures import redis_fixture, stack_fixture, stub_fixture
from tests.support.infra import unique
from tests.support.people import Person, register
from tests.support.rpc import refused
from tests.support.service_tokens import service_token
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "notify"])
redis = redis_fixture()
inbox = stub_fixture("notify", notify_pb2_grpc.NotificationServiceStub)
privacy = stub_fixture("notify", notify_pb2_grpc.PrivacyServiceStub)


@pytest_asyncio.fixture(loop_scope="module")
async def events(stack: Stack, redis: aioredis.Redis) -> Events:
    return Events(stack, redis)


async def person(stack: Stack, name: str) -> Person:
    """A user with a name no other test uses, so finding it anywhere in the database means it is this one's."""
    return await register(stack, unique(name).replace("_", ""))


def user_deleted(user: Person, *household_ids: str) -> events_pb2.Envelope:
    payload = events_pb2.UserDeleted(user_id=user.user_id, household_ids=list(household_ids))
    return envelope("user.deleted", payload, household_id="", actor_id=user.user_id)


def household_deleted(household_id: str) -> events_pb2.Envelope:
    return envelope(
        "household.deleted", events_pb2.HouseholdDeleted(household_id=household_id), household_id=household_id
    )


async def listed(
    inbox: notify_pb2_grpc.NotificationServiceStub, who: Person, *, kind: str | None = "chore.completed"
) -> list[notify_pb2.Notification]:
    """`who`'s notifications of type `kind` (None: all): joining members tell each other too."""
    reply = await inbox.ListNotifications(notify_pb2.ListNotificationsRequest(parent="users/me"), metadata=who.metadata)
    return [n for n in reply.notifications if kind is None or n.type == kind]


async def test_after_user_deleted_nothing_of_the_person_remains_and_others_keep_their_anonymised_notifications(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    zelda, bob, carol = await person(stack, "Zelda"), await person(stack, "Bob"), await person(stack, "Carol")
    for who, role in ((zelda, "owner"), (bob, "member"), (carol, "admin")):
        await events.join(who, role)
    elsewhere = Events(stack, events.redis)  # a household Zelda is in too
    await elsewhere.join(zelda, "member")
    await elsewhere.join(bob, "owner")
    await events.complete(zelda, "Dishes", points=10)
    await elsewhere.complete(zelda, "Bins", points=0)
    await events.complete(bob, "Laundry")  # Zelda's own inbox gets one
    assert len(await listed(inbox, zelda)) == 1
    assert await tables_naming(stack, zelda.user_id, zelda.display_name)

    await events.send("user", user_deleted(zelda, events.household_id, elsewhere.household_id))

    assert await tables_naming(stack, zelda.user_id, zelda.display_name) == {}
    assert await listed(inbox, zelda) == []
    bobs = {n.title: n for n in await listed(inbox, bob)}
    assert set(bobs) == {f"{DELETED_USER_NAME} completed Dishes", f"{DELETED_USER_NAME} completed Bins"}
    dishes = bobs[f"{DELETED_USER_NAME} completed Dishes"]
    assert dishes.body == f"{DELETED_USER_NAME} completed “Dishes” and earned 10 points."
    assert dishes.actor == ""
    assert dishes.subject.startswith(f"households/{events.household_id}/chores/")
    assert bobs[f"{DELETED_USER_NAME} completed Bins"].body == f"{DELETED_USER_NAME} completed “Bins”."
    # Bob is untouched as an actor: his completion still names him.
    assert {n.title for n in await listed(inbox, carol)} == {
        f"{DELETED_USER_NAME} completed Dishes",
        f"{bob.display_name} completed Laundry",
    }
    async with stack.servers["notify"].runtime.sessions() as session:
        names_bob = await session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(Notification.data["completed_by"].astext == bob.user_id)
        )
    assert names_bob == 1

    # Redelivered, or handled again directly: nothing more changes.
    deleted = user_deleted(zelda, events.household_id)
    await events.send("user", deleted)
    sessions = stack.servers["notify"].runtime.sessions
    async with sessions() as session, session.begin():
        await on_user_deleted(session, delivered(deleted))
    assert {n.title for n in await listed(inbox, bob)} == set(bobs)

    # A completion of hers published before the deletion, read from the task stream after it: nobody named.
    await events.complete(zelda, "Windows", points=1)
    assert f"{DELETED_USER_NAME} completed Windows" in {n.title for n in await listed(inbox, bob)}
    assert await tables_naming(stack, zelda.user_id, zelda.display_name) == {}


async def test_a_completion_by_an_anonymised_completer_names_nobody(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    ann = await person(stack, "Ann")
    await events.join(ann, "owner")
    gone = Person(str(DELETED_USER_ID), "", "")
    await events.complete(gone, "Dishes", points=2)
    [note] = await listed(inbox, ann)
    assert (note.title, note.actor) == (f"{DELETED_USER_NAME} completed Dishes", "")


async def test_a_notification_from_before_chore_titles_were_kept_is_anonymised_from_its_own_texts(
    stack: Stack,
) -> None:
    actor, recipient, household = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sessions = stack.servers["notify"].runtime.sessions
    rows = [
        ("Ann Marie completed Hang the washing", "Ann Marie completed “Hang the washing” and earned 5 points.", 5),
        ("something unexpected", "nothing like the usual", 0),
    ]
    async with sessions() as session, session.begin():
        for title, body, points in rows:
            session.add(
                Notification(
                    id=new_id(),
                    user_id=recipient,
                    household_id=household,
                    type="chore.completed",
                    title=title,
                    body=body,
                    data={"chore_id": str(new_id()), "completed_by": str(actor), "points": points},
                    event_id=uuid.uuid4(),
                    create_time=datetime.now(UTC),
                )
            )
    async with sessions() as session, session.begin():
        await erase_user(session, actor, at=datetime.now(UTC))
    async with sessions() as session:
        found = (await session.scalars(sa.select(Notification).where(Notification.user_id == recipient))).all()
    assert sorted((n.title, n.body, n.data["completed_by"]) for n in found) == [
        (
            f"{DELETED_USER_NAME} completed Hang the washing",
            f"{DELETED_USER_NAME} completed “Hang the washing” and earned 5 points.",
            None,
        ),
        (f"{DELETED_USER_NAME} completed a chore", f"{DELETED_USER_NAME} completed “a chore”.", None),
    ]


async def test_household_deleted_erases_its_notifications_and_members_only(
    stack: Stack, events: Events, inbox: notify_pb2_grpc.NotificationServiceStub
) -> None:
    ann, ben = await person(stack, "Ann"), await person(stack, "Ben")
    other = Events(stack, events.redis)
    for household in (events, other):
        await household.join(ann, "owner")
        await household.join(ben, "member")
    await events.complete(ann, "Dishes")
    await other.complete(ann, "Bins")
    assert len(await listed(inbox, ben)) == 2

    gone = household_deleted(events.household_id)
    await events.send("user", gone)
    await events.send("user", gone)  # redelivered: harmless

    assert await tables_naming(stack, events.household_id) == {}
    assert [n.household for n in await listed(inbox, ben)] == [f"households/{other.household_id}"]
    # The other household still works: its members still hear of completions.
    await other.complete(ann, "Windows")
    assert len(await listed(inbox, ben)) == 2


async def test_the_export_holds_the_persons_notifications_name_and_households(
    stack: Stack, events: Events, privacy: notify_pb2_grpc.PrivacyServiceStub
) -> None:
    olga, kai = await person(stack, "Olga"), await person(stack, "Kai")
    await events.join(olga, "owner")
    await events.join(kai, "member")
    done = await events.complete(kai, "Dishes", points=3)
    reply = await privacy.ExportUserData(
        notify_pb2.ExportUserDataRequest(user=olga.name), metadata=await service_token(stack, "user", "notify")
    )
    data = json.loads(reply.json)
    assert data["service"] == "notify"
    assert data["user"] == olga.name
    assert data["display_name"] == olga.display_name
    assert data["households"] == [
        {"household": f"households/{events.household_id}", "role": "owner", "left_time": None}
    ]
    [notification, joined] = data["notifications"]  # newest first
    assert joined["title"] == f"{kai.display_name} joined the household"
    assert notification["title"] == f"{kai.display_name} completed Dishes"
    assert notification["event_id"] == done.event_id
    assert notification["actor"] == kai.name
    assert notification["name"].startswith(f"{olga.name}/notifications/")
    assert "read_time" not in notification

    nobody = await privacy.ExportUserData(
        notify_pb2.ExportUserDataRequest(user=f"users/{uuid.uuid4()}"),
        metadata=await service_token(stack, "user", "notify"),
    )
    assert json.loads(nobody.json)["notifications"] == []


async def test_only_the_user_service_may_export(stack: Stack, privacy: notify_pb2_grpc.PrivacyServiceStub) -> None:
    olga = await person(stack, "Olga")
    request = notify_pb2.ExportUserDataRequest(user=olga.name)
    refusal = await refused(privacy.ExportUserData(request, metadata=olga.metadata))
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED  # a user's own token: internal method
    assert "only services" in refusal.message
    refusal = await refused(privacy.ExportUserData(request, metadata=await service_token(stack, "task", "notify")))
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    assert "only the user service" in refusal.message
    assert (await refused(privacy.ExportUserData(request))).code == grpc.StatusCode.UNAUTHENTICATED
    bad = await refused(
        privacy.ExportUserData(
            notify_pb2.ExportUserDataRequest(user="users/me"), metadata=await service_token(stack, "user", "notify")
        )
    )
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad.violations) == {"user"}
