"""The consumer's batches: the entries one read returns are handled in one transaction (one inbox insert), and
acknowledged together; a batch that does not commit is handled again one event at a time."""

from __future__ import annotations

import logging

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncSession

from kit import context
from kit.events import EVENTS_REFUSED, Event, dead_letter_stream
from kit.ids import new_id
from kit.outbox import stream_fields
from kit.tests.conftest import Db, inbox
from kit.tests.test_events import Crash, consumer, handle_created, handled_count, new_stream, pending, publish
from tests.support.wait import eventually

# Each handler appends to it, so the committed rows, by seq, are the order the events were handled in.
HANDLED_ORDER = sa.table("handled_order", sa.column("seq", sa.BigInteger), sa.column("thing_id", sa.Integer))


@pytest.fixture
async def order_table(db: Db) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE handled_order (seq bigserial PRIMARY KEY, thing_id int NOT NULL)"))


async def handled_order(db: Db) -> list[int]:
    async with db.sessions() as session:
        return list(await session.scalars(sa.select(HANDLED_ORDER.c.thing_id).order_by(HANDLED_ORDER.c.seq)))


def tracer_and_spans() -> tuple[trace.Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def consumer_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind == trace.SpanKind.CONSUMER]


async def test_a_batch_is_one_transaction_with_one_inbox_row_per_event(db: Db, redis_client: aioredis.Redis) -> None:
    stream = new_stream()
    transactions: list[int] = []

    async def record(session: AsyncSession, event: Event[events_pb2.ChoreCreated]) -> None:
        await handle_created(session, event)
        transactions.append(int(await session.scalar(sa.text("SELECT txid_current()")) or 0))

    worker = consumer(db, redis_client, stream, handlers={events_pb2.ChoreCreated: record})
    await worker.ensure_groups()
    envelopes = [await publish(db, redis_client, stream, n) for n in range(1, 6)]
    assert await worker.poll_once() == 5
    assert len(transactions) == 5
    assert len(set(transactions)) == 1  # every handler ran in the same transaction
    async with db.sessions() as session:
        rows = (await session.execute(sa.select(inbox.c.event_id, sa.text("xmin::text")).select_from(inbox))).all()
    assert sorted(str(event_id) for event_id, _ in rows) == sorted(e.event_id for e in envelopes)
    assert {xmin for _, xmin in rows} == {str(transactions[0])}  # the inbox rows were written by that transaction
    assert [await handled_count(db, n) for n in range(1, 6)] == [1] * 5
    assert await pending(redis_client, stream) == 0


async def test_a_redelivered_batch_is_handled_once(db: Db, redis_client: aioredis.Redis) -> None:
    stream = new_stream()

    async def die(_: events_pb2.Envelope) -> None:
        raise Crash

    doomed = consumer(db, redis_client, stream, "doomed", after_commit=die)
    await doomed.ensure_groups()
    for n in range(1, 5):
        await publish(db, redis_client, stream, n)
    with pytest.raises(Crash):
        await doomed.poll_once()
    assert [await handled_count(db, n) for n in range(1, 5)] == [1] * 4  # committed, never acknowledged
    assert await pending(redis_client, stream) == 4
    survivor = consumer(db, redis_client, stream, "survivor", claim_idle_ms=0)
    assert await survivor.poll_once() == 4  # reclaimed as one batch, found in the inbox, acknowledged
    assert [await handled_count(db, n) for n in range(1, 5)] == [1] * 4
    assert await pending(redis_client, stream) == 0


async def test_a_poison_event_mid_batch_holds_back_nothing_and_is_dead_lettered_after_its_retries(
    db: Db, redis_client: aioredis.Redis, order_table: None
) -> None:
    stream = new_stream()

    async def handle(session: AsyncSession, event: Event[events_pb2.ChoreCreated]) -> None:
        await handle_created(session, event)
        await session.execute(sa.insert(HANDLED_ORDER).values(thing_id=int(event.payload.chore_id)))
        if event.payload.chore_id == "3":
            raise ValueError("cannot handle this one")

    worker = consumer(
        db, redis_client, stream, handlers={events_pb2.ChoreCreated: handle}, claim_idle_ms=0, max_attempts=3
    )
    await worker.ensure_groups()
    envelopes = {n: await publish(db, redis_client, stream, n) for n in range(1, 6)}
    assert await worker.poll_once() == 5
    # The others, before and after it, committed in stream order and were acknowledged; the poison one is pending.
    assert await handled_order(db) == [1, 2, 4, 5]
    assert [await handled_count(db, n) for n in range(1, 6)] == [1, 1, 0, 1, 1]
    assert await pending(redis_client, stream) == 1
    for _ in range(3):  # retried (reclaimed) until it has been delivered max_attempts times, then dead-lettered
        await worker.poll_once()
    assert await pending(redis_client, stream) == 0
    [(_, dead)] = await redis_client.xrange(dead_letter_stream(stream))
    assert events_pb2.Envelope.FromString(dead[b"envelope"]).event_id == envelopes[3].event_id
    assert b"gave up after 3 attempts" in dead[b"error"]
    assert await handled_order(db) == [1, 2, 4, 5]
    assert [await handled_count(db, n) for n in range(1, 6)] == [1, 1, 0, 1, 1]


async def test_a_batch_whose_commit_fails_is_handled_again_one_event_at_a_time(
    db: Db, redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A real failure at COMMIT, not in a handler: a deferred foreign key, checked only when the transaction ends."""
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "CREATE TABLE receipts (thing_id int PRIMARY KEY REFERENCES things (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    stream = new_stream()
    tracer, exporter = tracer_and_spans()

    async def handle(session: AsyncSession, event: Event[events_pb2.ChoreCreated]) -> None:
        await handle_created(session, event)
        thing_id = int(event.payload.chore_id)
        # Thing 2's receipt names a thing that does not exist: fine until the commit.
        receipt = thing_id + 1000 if thing_id == 2 else thing_id
        await session.execute(sa.text("INSERT INTO receipts VALUES (:id)"), {"id": receipt})

    worker = consumer(db, redis_client, stream, handlers={events_pb2.ChoreCreated: handle}, tracer=tracer)
    await worker.ensure_groups()
    envelopes = [await publish(db, redis_client, stream, n) for n in range(1, 4)]
    with caplog.at_level(logging.WARNING, logger="hearth.events"):
        assert await worker.poll_once() == 3
    assert [r.getMessage() for r in caplog.records if "rolled back" in r.getMessage()] != []
    assert [await handled_count(db, n) for n in range(1, 4)] == [1, 0, 1]
    async with db.sessions() as session:
        assert list(await session.scalars(sa.text("SELECT thing_id FROM receipts ORDER BY thing_id"))) == [1, 3]
        handled_ids = {str(i) for i in await session.scalars(sa.select(inbox.c.event_id))}
    assert handled_ids == {envelopes[0].event_id, envelopes[2].event_id}
    assert await pending(redis_client, stream) == 1  # thing 2's entry: to be retried
    spans = consumer_spans(exporter)
    rolled_back = [s for s in spans if s.attributes.get("hearth.event.rolled_back")]
    alone = [s for s in spans if not s.attributes.get("hearth.event.rolled_back")]
    assert sorted(str(s.attributes["messaging.message.id"]) for s in rolled_back) == sorted(
        e.event_id for e in envelopes
    )
    # Then a span per event of its attempt alone: two that committed, one that failed.
    assert [s.attributes["messaging.message.id"] for s in alone] == [e.event_id for e in envelopes]
    assert [s.status.status_code for s in alone] == [
        trace.StatusCode.UNSET,
        trace.StatusCode.ERROR,
        trace.StatusCode.UNSET,
    ]


async def test_each_event_of_a_batch_continues_its_own_trace_with_its_own_correlation_id(
    db: Db, redis_client: aioredis.Redis
) -> None:
    stream = new_stream()
    tracer, exporter = tracer_and_spans()
    seen: list[tuple[str, int]] = []

    async def record(session: AsyncSession, event: Event[events_pb2.ChoreCreated]) -> None:
        seen.append((context.correlation_id.get(), trace.get_current_span().get_span_context().trace_id))

    worker = consumer(db, redis_client, stream, handlers={events_pb2.ChoreCreated: record}, tracer=tracer)
    await worker.ensure_groups()
    requests = []
    for n in (1, 2, 3):
        token = context.correlation_id.set(f"req-{n}")
        try:
            with tracer.start_as_current_span(f"request {n}") as request_span:
                await publish(db, redis_client, stream, n)
            requests.append(request_span.get_span_context())
        finally:
            context.correlation_id.reset(token)
    assert await worker.poll_once() == 3
    assert seen == [(f"req-{n}", requests[n - 1].trace_id) for n in (1, 2, 3)]
    spans = consumer_spans(exporter)
    assert [(s.context.trace_id, s.parent.span_id if s.parent else None) for s in spans] == [
        (r.trace_id, r.span_id) for r in requests
    ]
    assert [s.attributes["hearth.correlation_id"] for s in spans] == ["req-1", "req-2", "req-3"]
    assert context.correlation_id.get() == ""


async def test_refused_and_foreign_entries_in_a_batch_are_dead_lettered_and_the_rest_handled(
    db: Db, redis_client: aioredis.Redis
) -> None:
    stream = new_stream()
    worker = consumer(db, redis_client, stream)
    await worker.ensure_groups()
    await publish(db, redis_client, stream, 1)
    typo = events_pb2.Envelope(event_id=str(new_id()), type="chore.complete")
    await redis_client.xadd(stream, stream_fields(typo.SerializeToString(), typo.type, typo.event_id))
    await publish(db, redis_client, stream, 2)
    assert await worker.poll_once() == 3
    assert [await handled_count(db, n) for n in (1, 2)] == [1, 1]
    assert EVENTS_REFUSED.labels(stream, "kit", "unknown_type")._value.get() == 1
    [(_, dead)] = await redis_client.xrange(dead_letter_stream(stream))
    assert events_pb2.Envelope.FromString(dead[b"envelope"]).event_id == typo.event_id
    assert await pending(redis_client, stream) == 0


async def test_a_stale_entry_is_reclaimed_though_the_consumer_looks_only_now_and_then(
    db: Db, redis_client: aioredis.Redis
) -> None:
    stream = new_stream()

    async def die(_: events_pb2.Envelope) -> None:
        raise Crash

    doomed = consumer(db, redis_client, stream, "doomed", after_commit=die)
    await doomed.ensure_groups()
    await publish(db, redis_client, stream, 1)
    with pytest.raises(Crash):
        await doomed.poll_once()
    # Idle 100 ms before it may be claimed; the survivor looks every 25 ms.
    survivor = consumer(db, redis_client, stream, "survivor", claim_idle_ms=100)

    async def reclaimed() -> bool:
        await survivor.poll_once()
        return await pending(redis_client, stream) == 0

    await eventually(reclaimed)
    assert await handled_count(db, 1) == 1
