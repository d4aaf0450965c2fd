"""The consumer: handled once per event id, XACK after commit, reclaim after a crash, dead letters."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncSession

from kit import context
from kit.events import EVENTS_REFUSED, Event, EventConsumer, Handler, combine, dead_letter_stream
from kit.ids import new_id
from kit.logging import JsonFormatter
from kit.outbox import OutboxRelay, add_event, stream_fields
from kit.tests.conftest import Db, inbox, things
from tests.support.infra import unique
from tests.support.wait import eventually


class Crash(Exception):
    """Stands for the process dying at a precise point."""


async def handle_created(session: AsyncSession, event: Event[events_pb2.ChoreCreated]) -> None:
    assert isinstance(event.payload, events_pb2.ChoreCreated)  # typed: the consumer decoded it
    await session.execute(
        sa.update(things).where(things.c.id == int(event.payload.chore_id)).values(handled=things.c.handled + 1)
    )


async def publish(db: Db, redis: aioredis.Redis, stream: str, thing_id: int, *, tracer=None) -> events_pb2.Envelope:
    """Write a thing + its event through the real outbox and relay."""
    async with db.sessions() as session, session.begin():
        await session.execute(sa.insert(things).values(id=thing_id, name=f"thing {thing_id}"))
        payload = events_pb2.ChoreCreated(chore_id=str(thing_id))
        envelope = await add_event(session, payload)
    await OutboxRelay(sessions=db.sessions, redis=redis, stream=stream, dsn=db.dsn).drain()
    return envelope


def consumer(db: Db, redis: aioredis.Redis, stream: str, name: str = "c1", **kwargs) -> EventConsumer:
    kwargs.setdefault("handlers", {events_pb2.ChoreCreated: handle_created})
    # Tests drive poll_once() themselves; a 1 ms block keeps a poll with nothing new from waiting.
    kwargs.setdefault("block_ms", 1)
    return EventConsumer(sessions=db.sessions, redis=redis, streams=[stream], group="kit", consumer=name, **kwargs)


def test_a_consumer_that_would_spin_is_refused(db: Db, redis_client: aioredis.Redis) -> None:
    with pytest.raises(ValueError, match="block_ms must be at least 1"):
        consumer(db, redis_client, "s", block_ms=0)


async def handled_count(db: Db, thing_id: int) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(sa.select(things.c.handled).where(things.c.id == thing_id)) or 0)


async def pending(redis: aioredis.Redis, stream: str) -> int:
    return int((await redis.xpending(stream, "kit"))["pending"])


def new_stream() -> str:
    """A stream of task's events (the consumer accepts chore.* only from the task stream)."""
    return unique("t") + ".events.task"


async def test_event_is_handled_and_acknowledged(db: Db, redis_client: aioredis.Redis) -> None:
    stream = new_stream()
    worker = consumer(db, redis_client, stream)
    await worker.ensure_groups()
    envelope = await publish(db, redis_client, stream, 1)
    assert await worker.poll_once() == 1
    assert await handled_count(db, 1) == 1
    assert await pending(redis_client, stream) == 0
    async with db.sessions() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(inbox)) == 1
        assert str(await session.scalar(sa.select(inbox.c.event_id))) == envelope.event_id


async def test_a_group_created_late_still_sees_earlier_events(db: Db, redis_client: aioredis.Redis) -> None:
    stream = new_stream()
    await publish(db, redis_client, stream, 1)  # before any consumer existed
    assert await consumer(db, redis_client, stream).poll_once() == 1
    assert await handled_count(db, 1) == 1


async def test_the_same_event_delivered_twice_is_handled_once(db: Db, redis_client: aioredis.Redis) -> None:
    stream = new_stream()
    worker = consumer(db, redis_client, stream)
    await worker.ensure_groups()
    await publish(db, redis_client, stream, 1)
    [(_, fields)] = await redis_client.xrange(stream)
    await redis_client.xadd(stream, fields)  # what a relay crashing between XADD and COMMIT produces
    assert await worker.poll_once() == 2
    assert await handled_count(db, 1) == 1
    assert await pending(redis_client, stream) == 0


async def test_consumer_crashing_before_xack_is_redelivered_and_handled_once(
    db: Db, redis_client: aioredis.Redis
) -> None:
    stream = new_stream()

    async def die(_: events_pb2.Envelope) -> None:
        raise Crash

    doomed = consumer(db, redis_client, stream, "doomed", after_commit=die)
    await doomed.ensure_groups()
    await publish(db, redis_client, stream, 1)
    try:
        await doomed.poll_once()
        raise AssertionError("the consumer should have crashed")
    except Crash:
        pass
    # Committed but never acknowledged: still pending for the dead consumer.
    assert await handled_count(db, 1) == 1
    assert await pending(redis_client, stream) == 1
    # A healthy replica reclaims it (idle threshold 0 instead of waiting 30 s), sees it in the inbox, acks it.
    survivor = consumer(db, redis_client, stream, "survivor", claim_idle_ms=0)
    assert await survivor.poll_once() == 1
    assert await handled_count(db, 1) == 1
    assert await pending(redis_client, stream) == 0


async def test_a_failing_handler_rolls_back_and_is_retried(db: Db, redis_client: aioredis.Redis) -> None:
    stream = new_stream()
    attempts = []

    async def flaky(session: AsyncSession, event: Event[events_pb2.ChoreCreated]) -> None:
        await handle_created(session, event)  # an effect that must vanish with the failure
        attempts.append(event.envelope.event_id)
        if len(attempts) == 1:
            raise Crash("first attempt fails after writing")

    worker = consumer(db, redis_client, stream, handlers={events_pb2.ChoreCreated: flaky}, claim_idle_ms=0)
    await worker.ensure_groups()
    await publish(db, redis_client, stream, 1)
    await worker.poll_once()
    assert await handled_count(db, 1) == 0
    assert await pending(redis_client, stream) == 1
    await worker.poll_once()  # reclaimed and retried
    assert len(attempts) == 2
    assert await handled_count(db, 1) == 1
    assert await pending(redis_client, stream) == 0


async def test_poison_event_goes_to_the_dead_letter_stream(db: Db, redis_client: aioredis.Redis) -> None:
    stream = new_stream()

    async def poison(session: AsyncSession, event: Event[events_pb2.ChoreCreated]) -> None:
        raise ValueError("cannot handle this")

    worker = consumer(
        db, redis_client, stream, handlers={events_pb2.ChoreCreated: poison}, claim_idle_ms=0, max_attempts=3
    )
    await worker.ensure_groups()
    envelope = await publish(db, redis_client, stream, 1)
    for _ in range(5):
        await worker.poll_once()
    assert await pending(redis_client, stream) == 0
    [(_, dead)] = await redis_client.xrange(dead_letter_stream(stream))
    assert events_pb2.Envelope.FromString(dead[b"envelope"]).event_id == envelope.event_id
    assert b"3 attempts" in dead[b"error"]


async def test_undecodable_entry_is_dead_lettered_not_retried(db: Db, redis_client: aioredis.Redis) -> None:
    stream = new_stream()
    worker = consumer(db, redis_client, stream)
    await worker.ensure_groups()
    await redis_client.xadd(stream, {"envelope": b"\xff\xffnot a protobuf", "type": "chore.created"})
    await worker.poll_once()
    assert await pending(redis_client, stream) == 0
    assert await redis_client.xlen(dead_letter_stream(stream)) == 1


async def test_events_without_a_handler_are_acknowledged_and_skipped(db: Db, redis_client: aioredis.Redis) -> None:
    stream = new_stream()
    worker = consumer(db, redis_client, stream, handlers={})
    await worker.ensure_groups()
    await publish(db, redis_client, stream, 1)
    await worker.poll_once()
    assert await pending(redis_client, stream) == 0
    assert await handled_count(db, 1) == 0


async def test_consumer_span_continues_the_producers_trace(db: Db, redis_client: aioredis.Redis) -> None:
    stream = new_stream()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    worker = consumer(db, redis_client, stream, tracer=tracer)
    await worker.ensure_groups()
    with tracer.start_as_current_span("request") as request_span:
        await publish(db, redis_client, stream, 1)
    await worker.poll_once()
    [span] = [s for s in exporter.get_finished_spans() if s.kind == trace.SpanKind.CONSUMER]
    assert span.name == "process chore.created"
    assert span.context.trace_id == request_span.get_span_context().trace_id
    assert span.parent is not None
    assert span.parent.span_id == request_span.get_span_context().span_id
    assert span.attributes["messaging.destination.name"] == stream


async def test_the_run_loop_survives_any_exception(
    db: Db, redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    stream = new_stream()
    crashes = []

    async def crash_once(envelope: events_pb2.Envelope) -> None:
        # Escapes poll_once (after the commit, before XACK) with an error that is not Redis's or the database's.
        if not crashes:
            crashes.append(envelope.event_id)
            raise Crash("unexpected")

    worker = EventConsumer(
        sessions=db.sessions,
        redis=redis_client,
        streams=[stream],
        group="kit",
        consumer="c1",
        handlers={events_pb2.ChoreCreated: handle_created},
        after_commit=crash_once,
        claim_idle_ms=0,
        block_ms=50,
    )
    await worker.ensure_groups()
    await publish(db, redis_client, stream, 1)
    with caplog.at_level(logging.ERROR, logger="hearth.events"):
        task = asyncio.create_task(worker.run())
        try:

            async def acknowledged() -> bool:
                assert not task.done(), task
                return bool(crashes) and await pending(redis_client, stream) == 0

            await eventually(acknowledged)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert await handled_count(db, 1) == 1
    logged = [r for r in caplog.records if r.name == "hearth.events" and r.exc_info]
    assert [type(r.exc_info[1]) for r in logged if r.exc_info] == [Crash]


async def test_combine_runs_every_handler_of_a_payload_in_the_order_given() -> None:
    ran: list[str] = []

    def recorder(name: str) -> Handler:
        async def handle(session: Any, event: Event[Any]) -> None:
            ran.append(name)

        return handle

    combined = combine(
        {events_pb2.MemberLeft: recorder("read model"), events_pb2.ChoreCompleted: recorder("stats")},
        {events_pb2.MemberLeft: recorder("cache")},
    )
    assert set(combined) == {events_pb2.MemberLeft, events_pb2.ChoreCompleted}
    left = Event(events_pb2.MemberLeft(), events_pb2.Envelope(type="member.left"))
    await combined[events_pb2.MemberLeft](None, left)
    await combined[events_pb2.ChoreCompleted](None, Event(events_pb2.ChoreCompleted(), events_pb2.Envelope()))
    assert ran == ["read model", "cache", "stats"]


def test_a_handler_for_a_message_that_is_not_an_event_is_refused_at_start(db: Db, redis_client: aioredis.Redis) -> None:
    async def handle(session: Any, event: Event[Any]) -> None:
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="not an event payload"):
        consumer(db, redis_client, "t.events.task", handlers={events_pb2.Envelope: handle})


def test_a_handler_for_events_none_of_its_streams_carries_is_refused_at_start(
    db: Db, redis_client: aioredis.Redis
) -> None:
    with pytest.raises(ValueError, match=r"member\.joined"):
        consumer(db, redis_client, "t.events.task", handlers={events_pb2.MemberJoined: handle_created})


def refused_count(stream: str, reason: str) -> float:
    return EVENTS_REFUSED.labels(stream, "kit", reason)._value.get()


async def test_an_event_type_the_catalogue_does_not_know_is_counted_and_dead_lettered(
    db: Db, redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    stream = new_stream()
    worker = consumer(db, redis_client, stream)
    await worker.ensure_groups()
    typo = events_pb2.Envelope(event_id=str(new_id()), type="chore.complete", household_id="h")
    typo.payload.Pack(events_pb2.ChoreCompleted(chore_id="1"))
    with caplog.at_level(logging.WARNING, logger="hearth.events"):
        await redis_client.xadd(stream, stream_fields(typo.SerializeToString(), typo.type, typo.event_id))
        assert await worker.poll_once() == 1
    assert refused_count(stream, "unknown_type") == 1
    assert await pending(redis_client, stream) == 0
    [(_, dead)] = await redis_client.xrange(dead_letter_stream(stream))
    assert events_pb2.Envelope.FromString(dead[b"envelope"]).event_id == typo.event_id
    assert b"unknown event type" in dead[b"error"]
    assert [r.levelname for r in caplog.records if "chore.complete" in r.getMessage()] == ["ERROR"]


async def test_garbage_types_do_not_become_metric_labels(db: Db, redis_client: aioredis.Redis) -> None:
    stream = new_stream()
    worker = consumer(db, redis_client, stream)
    await worker.ensure_groups()
    for garbage in ("x" * 10_000, "a.b", "c.d"):
        forged = events_pb2.Envelope(event_id=str(new_id()), type=garbage)
        await redis_client.xadd(stream, stream_fields(forged.SerializeToString(), "x", forged.event_id))
    await worker.poll_once()
    assert refused_count(stream, "unknown_type") == 3
    label_sets = {tuple(s.labels.values()) for m in EVENTS_REFUSED.collect() for s in m.samples}
    assert not any(garbage in labels for labels in label_sets for garbage in ("a.b", "c.d"))
    assert await redis_client.xlen(dead_letter_stream(stream)) == 3


class FormattedLines(logging.Handler):
    """Formats each record as it is emitted (the JSON formatter reads the correlation id from the context then)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_an_event_on_a_stream_that_is_not_its_producers_is_refused(db: Db, redis_client: aioredis.Redis) -> None:
    """What a service that may write only its own stream could still try: speak for another service there
    (task's credentials appending member.joined, role owner, to task's stream)."""
    stream = new_stream()
    joined: list[Event[Any]] = []

    async def record(session: AsyncSession, event: Event[events_pb2.ChoreCreated]) -> None:
        joined.append(event)

    worker = consumer(db, redis_client, stream, handlers={events_pb2.ChoreCreated: record})
    await worker.ensure_groups()
    forged = events_pb2.Envelope(event_id=str(new_id()), type="member.joined", household_id="h", correlation_id="c-9")
    forged.payload.Pack(events_pb2.MemberJoined(household_id="h", user_id="mallory", role="owner"))
    lines = FormattedLines()
    logging.getLogger("hearth.events").addHandler(lines)
    try:
        await redis_client.xadd(stream, stream_fields(forged.SerializeToString(), forged.type, forged.event_id))
        await worker.poll_once()
    finally:
        logging.getLogger("hearth.events").removeHandler(lines)
    assert joined == []
    assert refused_count(stream, "foreign_stream") == 1
    [(_, dead)] = await redis_client.xrange(dead_letter_stream(stream))
    assert b"published by user" in dead[b"error"]
    assert await pending(redis_client, stream) == 0
    # The consumer's log line about it carries the correlation id the envelope came with.
    [line] = [entry for entry in lines.lines if "refused" in entry["message"]]  # one line, not two
    assert "published by user" in line["message"]
    assert line["correlation_id"] == "c-9"


async def test_a_payload_that_is_not_the_message_its_type_names_is_dead_lettered(
    db: Db, redis_client: aioredis.Redis
) -> None:
    stream = new_stream()
    worker = consumer(db, redis_client, stream)
    await worker.ensure_groups()
    mismatched = events_pb2.Envelope(event_id=str(new_id()), type="chore.created")
    mismatched.payload.Pack(events_pb2.MemberLeft(user_id="u"))
    await redis_client.xadd(stream, stream_fields(mismatched.SerializeToString(), "chore.created", mismatched.event_id))
    await worker.poll_once()
    assert await pending(redis_client, stream) == 0
    [(_, dead)] = await redis_client.xrange(dead_letter_stream(stream))
    assert b"undecodable payload" in dead[b"error"]


async def test_the_handler_runs_with_the_correlation_id_of_the_request_that_caused_the_event(
    db: Db, redis_client: aioredis.Redis
) -> None:
    stream = new_stream()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    seen: list[str] = []

    async def record(session: AsyncSession, event: Event[events_pb2.ChoreCreated]) -> None:
        seen.append(context.correlation_id.get())

    worker = consumer(
        db, redis_client, stream, handlers={events_pb2.ChoreCreated: record}, tracer=provider.get_tracer("test")
    )
    await worker.ensure_groups()
    token = context.correlation_id.set("req-42")
    try:
        envelope = await publish(db, redis_client, stream, 1)
    finally:
        context.correlation_id.reset(token)
    assert envelope.correlation_id == "req-42"
    await worker.poll_once()
    assert seen == ["req-42"]
    assert context.correlation_id.get() == ""  # not leaked past the handler
    [span] = [s for s in exporter.get_finished_spans() if s.kind == trace.SpanKind.CONSUMER]
    assert span.attributes["hearth.correlation_id"] == "req-42"
