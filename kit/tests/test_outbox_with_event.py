"""`kit.outbox.with_event`: a change and its event in one statement — the writes, the outbox row and the relay's
NOTIFY commit together, and none of them survives a failure; `add_event` writes its row and NOTIFY the same way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
import sqlalchemy as sa
from hearth.events.v1 import events_pb2

from kit import context
from kit.events import unpack
from kit.outbox import NOTIFY_CHANNEL, add_event, event_row, new_envelope, with_event
from kit.tests.conftest import Db, outbox, things

# Built once, as a service builds its own: a new thing, a renamed one, and the event.
ADD_AND_RENAME = with_event(
    sa.insert(things).values(id=sa.bindparam("new_id"), name=sa.bindparam("new_name")),
    sa.update(things).where(things.c.id == sa.bindparam("old_id")).values(name=sa.bindparam("old_name")),
)


class Notifications:
    """The relay's side of the channel: every NOTIFY on it, in commit order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    def received(self, connection: object, pid: int, channel: str, payload: str) -> None:
        self.queue.put_nowait(channel)


@pytest.fixture
async def notifications(db: Db) -> AsyncIterator[Notifications]:
    listener = await asyncpg.connect(db.dsn)
    seen = Notifications()
    await listener.add_listener(NOTIFY_CHANNEL, seen.received)
    yield seen
    await listener.close()


async def names(db: Db) -> dict[int, str]:
    async with db.engine.connect() as conn:
        return {row.id: row.name for row in await conn.execute(sa.select(things.c.id, things.c.name))}


async def outbox_event_ids(db: Db) -> list[str]:
    async with db.engine.connect() as conn:
        return [str(event_id) for event_id in (await conn.scalars(sa.select(outbox.c.event_id))).all()]


async def add_and_rename(db: Db, *, new_id: int, renamed: str) -> events_pb2.Envelope:
    envelope = new_envelope(events_pb2.ChoreCreated(chore_id=str(new_id)), household_id="h1")
    async with db.sessions() as session, session.begin():
        connection = await session.connection()
        await connection.execute(
            ADD_AND_RENAME,
            {"new_id": new_id, "new_name": f"thing {new_id}", "old_id": 1, "old_name": renamed, **event_row(envelope)},
        )
    return envelope


async def seed(db: Db) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(sa.insert(things).values(id=1, name="first"))


async def test_the_writes_the_event_and_the_notification_commit_together(db: Db, notifications: Notifications) -> None:
    await seed(db)
    envelope = await add_and_rename(db, new_id=2, renamed="first, renamed")

    assert await asyncio.wait_for(notifications.queue.get(), 10) == NOTIFY_CHANNEL
    assert await names(db) == {1: "first, renamed", 2: "thing 2"}
    async with db.engine.connect() as conn:
        row = (await conn.execute(sa.select(outbox.c.event_id, outbox.c.event_type, outbox.c.envelope))).one()
    assert (str(row.event_id), row.event_type) == (envelope.event_id, "chore.created")
    stored = events_pb2.Envelope.FromString(row.envelope)
    assert stored == envelope
    assert stored.household_id == "h1"
    assert unpack(stored, events_pb2.ChoreCreated).chore_id == "2"
    async with db.engine.connect() as conn:
        # One transaction wrote both things and the outbox row.
        writers = set(
            (await conn.scalars(sa.text("SELECT xmin::text FROM things UNION SELECT xmin::text FROM outbox"))).all()
        )
    assert len(writers) == 1


async def test_a_failing_write_leaves_nothing_and_notifies_no_one(db: Db, notifications: Notifications) -> None:
    await seed(db)
    with pytest.raises(sa.exc.IntegrityError):
        await add_and_rename(db, new_id=1, renamed="never")  # thing 1 exists: the whole statement fails

    async def fails_after_the_statement() -> None:
        envelope = new_envelope(events_pb2.ChoreCreated(chore_id="3"))
        async with db.sessions() as session, session.begin():
            connection = await session.connection()
            params = {"new_id": 3, "new_name": "thing 3", "old_id": 1, "old_name": "never", **event_row(envelope)}
            await connection.execute(ADD_AND_RENAME, params)
            raise RuntimeError("the transaction fails after the statement")

    with pytest.raises(RuntimeError):
        await fails_after_the_statement()
    assert await names(db) == {1: "first"}
    assert await outbox_event_ids(db) == []

    kept = await add_and_rename(db, new_id=4, renamed="kept")
    # Notifications arrive in commit order: the first one is the committed change's, so the failures sent none.
    assert await asyncio.wait_for(notifications.queue.get(), 10) == NOTIFY_CHANNEL
    assert notifications.queue.empty()
    assert await outbox_event_ids(db) == [kept.event_id]


async def test_add_event_writes_its_row_and_the_notification_in_one_statement(
    db: Db, notifications: Notifications
) -> None:
    statements: list[str] = []
    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    async with db.sessions() as session, session.begin():
        written = await add_event(session, events_pb2.ChoreCreated(chore_id="1"), household_id="h1")
    assert len(statements) == 1, statements
    assert await asyncio.wait_for(notifications.queue.get(), 10) == NOTIFY_CHANNEL
    assert await outbox_event_ids(db) == [written.event_id]


async def test_an_event_of_another_service_is_refused_before_anything_is_written() -> None:
    token = context.service_name.set("notify")
    try:
        with pytest.raises(ValueError, match="published by task, not notify"):
            new_envelope(events_pb2.ChoreCreated(chore_id="1"))
    finally:
        context.service_name.reset(token)
