"""The outbox: events commit (or roll back) with the change; the relay publishes each row exactly once."""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from opentelemetry.sdk.trace import TracerProvider
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context
from kit.events import unpack
from kit.outbox import OutboxRelay, add_event
from kit.tests.conftest import Db, outbox, things
from tests.support.infra import unique
from tests.support.wait import eventually


async def write_things(db: Db, count: int, *, start: int = 0) -> list[str]:
    ids = []
    for n in range(start, start + count):
        async with db.sessions() as session, session.begin():
            await session.execute(sa.insert(things).values(id=n, name=f"thing {n}"))
            envelope = await add_event(session, events_pb2.ChoreCreated(chore_id=str(n), title=f"thing {n}"))
            ids.append(envelope.event_id)
    return ids


def relay(db: Db, redis: aioredis.Redis, stream: str, **kwargs) -> OutboxRelay:
    return OutboxRelay(sessions=db.sessions, redis=redis, stream=stream, dsn=db.dsn, **kwargs)


async def stream_event_ids(redis: aioredis.Redis, stream: str) -> list[str]:
    entries = await redis.xrange(stream)
    return [events_pb2.Envelope.FromString(fields[b"envelope"]).event_id for _, fields in entries]


async def test_event_is_written_with_the_change_and_rolled_back_with_it(db: Db) -> None:
    async with db.sessions() as session, session.begin():
        await session.execute(sa.insert(things).values(id=1, name="kept"))
        await add_event(session, events_pb2.ChoreCreated(chore_id="1"), household_id="h1")

    async def failing_change() -> None:
        async with db.sessions() as session, session.begin():
            await session.execute(sa.insert(things).values(id=2, name="lost"))
            await add_event(session, events_pb2.ChoreCreated(chore_id="2"))
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with db.sessions() as session:
        rows = (await session.execute(sa.select(outbox.c.event_type, outbox.c.envelope))).all()
    assert len(rows) == 1
    envelope = events_pb2.Envelope.FromString(rows[0].envelope)
    assert envelope.type == "chore.created"
    assert envelope.household_id == "h1"
    assert unpack(envelope, events_pb2.ChoreCreated).chore_id == "1"
    assert envelope.occurred_at.seconds > 0


async def test_envelope_carries_the_current_traceparent(db: Db) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("change") as span:
        async with db.sessions() as session, session.begin():
            envelope = await add_event(session, events_pb2.ChoreCreated())
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert envelope.traceparent.startswith(f"00-{trace_id}-")


async def test_relay_publishes_each_row_once_and_marks_it_sent(db: Db, redis_client: aioredis.Redis) -> None:
    stream = unique("t") + ".events.kit"
    ids = await write_things(db, 5)
    publisher = relay(db, redis_client, stream, batch_size=2)
    assert await publisher.drain() == 5
    assert await publisher.drain() == 0
    assert await stream_event_ids(redis_client, stream) == ids
    assert (await publisher.backlog())[0] == 0


async def test_relay_wakes_on_notify_not_on_polling(db: Db, redis_client: aioredis.Redis) -> None:
    stream = unique("t") + ".events.kit"
    # A poll interval far longer than the test: only LISTEN/NOTIFY can make the event appear in time.
    task = asyncio.create_task(relay(db, redis_client, stream, poll_interval=3600).run())
    try:
        await eventually(lambda: publisher_listening(db))
        [event_id] = await write_things(db, 1)

        async def published() -> bool:
            return await stream_event_ids(redis_client, stream) == [event_id]

        await eventually(published)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def publisher_listening(db: Db) -> bool:
    # pg_listening_channels() is per session, so look for the relay's LISTEN in pg_stat_activity.
    async with db.sessions() as session:
        waiting = await session.scalar(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'")
        )
    return bool(waiting)


async def test_concurrent_relays_never_double_publish(db: Db, redis_client: aioredis.Redis) -> None:
    stream = unique("t") + ".events.kit"
    ids = await write_things(db, 60)
    replicas = [relay(db, redis_client, stream, batch_size=7) for _ in range(4)]
    published = await asyncio.gather(*(r.drain() for r in replicas))
    assert sum(published) == 60
    assert sorted(await stream_event_ids(redis_client, stream)) == sorted(ids)


async def test_relay_restart_loses_nothing_and_doubles_nothing(db: Db, redis_client: aioredis.Redis) -> None:
    stream = unique("t") + ".events.kit"
    first_ids = await write_things(db, 10)
    first = relay(db, redis_client, stream, batch_size=4)
    assert await first.publish_pending() == 4  # then the relay "dies" mid-backlog
    later_ids = await write_things(db, 5, start=100)  # written while no relay runs
    second = relay(db, redis_client, stream, batch_size=4)
    assert await second.drain() == 11
    assert await stream_event_ids(redis_client, stream) == first_ids + later_ids


async def test_redis_down_keeps_rows_until_published(db: Db, redis_client: aioredis.Redis) -> None:
    stream = unique("t") + ".events.kit"
    ids = await write_things(db, 3)
    # Built the way kit.runtime builds its client (from_url: no client-side retries, so it fails fast).
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    with pytest.raises(RedisError):
        await relay(db, dead, stream).publish_pending()
    await dead.aclose()
    publisher = relay(db, redis_client, stream)
    assert (await publisher.backlog())[0] == 3
    assert await publisher.drain() == 3
    assert await stream_event_ids(redis_client, stream) == ids


class FlakySessions:
    """A session factory that fails `failures` times with an error that is neither Redis's nor the
    database driver's (the pool's own timeout), then hands out real sessions."""

    def __init__(self, db: Db, failures: int) -> None:
        self._db = db
        self.failures = failures
        self.calls = 0

    def __call__(self) -> AsyncSession:
        self.calls += 1
        if self.calls <= self.failures:
            raise sa.exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached, connection timed out")
        return self._db.sessions()


async def test_relay_survives_any_exception_and_publishes_after_it(
    db: Db, redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    stream = unique("t") + ".events.kit"
    [event_id] = await write_things(db, 1)
    sessions = FlakySessions(db, failures=3)
    publisher = OutboxRelay(
        sessions=cast(async_sessionmaker[AsyncSession], sessions),
        redis=redis_client,
        stream=stream,
        dsn=db.dsn,
        max_backoff=0.05,
    )
    with caplog.at_level(logging.ERROR, logger="hearth.outbox"):
        task = asyncio.create_task(publisher.run())
        try:

            async def published() -> bool:
                assert not task.done(), task
                return await stream_event_ids(redis_client, stream) == [event_id]

            await eventually(published)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()  # cancelling still stops it
    assert sessions.calls > 3
    failures = [r for r in caplog.records if r.name == "hearth.outbox" and r.exc_info]
    assert len(failures) == 3
    assert all(isinstance(r.exc_info[1], sa.exc.TimeoutError) for r in failures if r.exc_info)


async def test_the_event_type_comes_from_the_payload_and_a_non_event_is_refused(db: Db) -> None:
    async with db.sessions() as session, session.begin():
        envelope = await add_event(session, events_pb2.MemberLeft(household_id="h", user_id="u"))
        assert envelope.type == "member.left"
        with pytest.raises(ValueError, match="not an event payload"):
            await add_event(session, events_pb2.Envelope())


async def test_a_service_cannot_write_another_services_event(db: Db) -> None:
    """Consumers would refuse it from this service's stream; the producing side refuses it first."""
    token = context.service_name.set("notify")
    try:
        async with db.sessions() as session, session.begin():
            with pytest.raises(ValueError, match="published by task, not notify"):
                await add_event(session, events_pb2.ChoreCreated(chore_id="1"))
    finally:
        context.service_name.reset(token)
    token = context.service_name.set("task")
    try:
        async with db.sessions() as session, session.begin():
            assert (await add_event(session, events_pb2.ChoreCreated(chore_id="1"))).source == "task"
    finally:
        context.service_name.reset(token)
