"""Consuming events from Redis Streams: consumer groups, an inbox for idempotency, reclaim, dead letters.

`EventConsumer` reads each stream in batches (`XREADGROUP COUNT batch_size`) and, for every batch:
1. opens a span per event (kind CONSUMER) whose parent is the envelope's `traceparent`, so the trace of the
   request that caused the event continues into this service;
2. in ONE database transaction inserts all the batch's event ids into the `inbox` table (one statement) and
   runs, in stream order, the handler of each event whose row is new, with the same session — the handlers'
   effects and "these events were handled" commit together, so a redelivery after a crash is recognised and
   skipped;
3. `XACK`s the whole batch (one call) after the commit. A consumer that dies between commit and XACK leaves
   the entries pending; another (or the same, restarted) consumer reclaims them with `XAUTOCLAIM` once idle
   for `claim_idle_ms` (it looks every `claim_idle_ms / 4`, not at every poll), finds them in the inbox and
   just acknowledges them.

When a batch's transaction does not commit (a handler raised, or the commit itself failed), it is rolled back
and its events are handled again one by one, each in a transaction of its own — so one bad event neither holds
back nor rolls back the others; the batch's spans are ended marked `hearth.event.rolled_back`, and each event
gets a span of its own attempt. A batch is what was already waiting: under light load it is one event.

A handler that raises leaves the entry pending, to be retried when reclaimed. After `max_attempts`
deliveries it is moved to the dead-letter stream `<stream>.dead` (with the error) and acknowledged.

Handlers are registered by payload message class (`{events_pb2.ChoreCompleted: on_chore_completed}`) and
receive an `Event[ChoreCompleted]`: the decoded payload beside its envelope. The type on the wire is looked up
in the catalogue (`kit.catalogue`): a known type this service has no handler for is acknowledged (not its
business); a type the catalogue does not know — a typo, or a producer newer than this consumer — and a type
on a stream that is not its producer's are logged, counted in `hearth_events_refused_total` and
dead-lettered, never dropped in silence; so is a payload that is not the message its type names. A stream's
name ends in the service that publishes it (`{namespace}.events.{service}`): with each service allowed to
write only its own stream (kit.redis_acl), no service can speak for another. From the moment an envelope is
decoded, the correlation id of the request that caused the event is the current one (the consumer's log
lines and the span carry it).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import redis.asyncio as aioredis
import sqlalchemy as sa
from google.protobuf.message import DecodeError, Message
from hearth.events.v1 import events_pb2
from opentelemetry import trace
from prometheus_client import Counter
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context
from kit.backoff import retry_forever
from kit.catalogue import payload_class, producer_of, type_of
from kit.db import utcnow
from kit.outbox import traced_context

log = logging.getLogger("hearth.events")

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Event(Generic[M]):
    """One delivered event: its typed payload and the envelope it came in."""

    payload: M
    envelope: events_pb2.Envelope

    @property
    def event_id(self) -> uuid.UUID:
        return uuid.UUID(self.envelope.event_id)

    @property
    def type(self) -> str:
        return self.envelope.type

    @property
    def occurred_at(self) -> datetime:
        """When the change happened (the envelope's time; now, for an envelope without one)."""
        if self.envelope.HasField("occurred_at"):
            return self.envelope.occurred_at.ToDatetime(tzinfo=UTC)
        return utcnow()

    @property
    def household_id(self) -> str:
        return self.envelope.household_id

    @property
    def actor_id(self) -> str:
        return self.envelope.actor_id


# A handler receives Event[<its payload class>]; the map keys name that class.
Handler = Callable[[AsyncSession, Event[Any]], Awaitable[None]]
Handlers = Mapping[type[Message], Handler]
# Test seam: runs after the handler's transaction committed and before XACK (fault injection).
AfterCommit = Callable[[events_pb2.Envelope], Awaitable[None]]

TABLE = "inbox"

EVENTS_HANDLED = Counter("hearth_events_handled_total", "Stream entries handled", ["stream", "group", "outcome"])
EVENTS_REFUSED = Counter(
    "hearth_events_refused_total",
    "Stream entries refused and dead-lettered: a type the catalogue does not know, or one its stream may not carry",
    # reason: unknown_type | foreign_stream. Never the type itself: it comes from the wire, and a label per
    # garbage value would grow the metric without bound (the type is in the log line and the dead letter).
    ["stream", "group", "reason"],
)
# How much of a type or correlation id from the wire goes into a log line or a span.
_MAX_LOGGED = 128
# Roughly how many entries a dead-letter stream keeps (the newest); far more than an incident produces.
DEAD_LETTER_MAXLEN = 100_000


def unpack(envelope: events_pb2.Envelope, cls: type[M]) -> M:
    message = cls()
    if not envelope.payload.Unpack(message):
        raise ValueError(f"{envelope.type} payload is {envelope.payload.type_url}, not {cls.DESCRIPTOR.full_name}")
    return message


def required_id(*candidates: str) -> uuid.UUID:
    """The first non-empty candidate as a UUID — for ids a payload or its envelope may carry (the payload's
    household id, else the envelope's). None given, or a malformed one, raises ValueError: the handler fails,
    the event is retried, then dead-lettered."""
    for value in candidates:
        if value:
            return uuid.UUID(value)
    raise ValueError("event lacks a required id")


def combine(*handler_maps: Handlers) -> dict[type[Message], Handler]:
    """One handler map from several: where two maps handle the same payload, both run, in the order given,
    inside the same transaction (e.g. a read model's update, then a cache invalidation)."""
    by_class: dict[type[Message], list[Handler]] = {}
    for handlers in handler_maps:
        for cls, handler in handlers.items():
            by_class.setdefault(cls, []).append(handler)

    def chain(handlers: list[Handler]) -> Handler:
        if len(handlers) == 1:
            return handlers[0]

        async def run_all(session: AsyncSession, event: Event[Any]) -> None:
            for handler in handlers:
                await handler(session, event)

        return run_all

    return {cls: chain(handlers) for cls, handlers in by_class.items()}


def _columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


# The retention job (kit.jobs.prune_inbox) deletes by handling time.
HANDLED_INDEX = "ix_inbox_handled_at"


def inbox_table(metadata: sa.MetaData) -> sa.Table:
    table = sa.Table(TABLE, metadata, *_columns())
    sa.Index(HANDLED_INDEX, table.c.handled_at)
    return table


def create_inbox_table(op: Any) -> None:
    """For a service's initial migration (schema version 1 of the inbox)."""
    op.create_table(TABLE, *_columns())


def drop_inbox_table(op: Any) -> None:
    op.drop_table(TABLE)


def create_inbox_handled_index(op: Any) -> None:
    """Schema version 2 of the inbox: the index the retention job deletes by."""
    op.create_index(HANDLED_INDEX, TABLE, ["handled_at"])


def drop_inbox_handled_index(op: Any) -> None:
    op.drop_index(HANDLED_INDEX, table_name=TABLE)


def stream_domain(stream: str) -> str:
    """The service whose events a stream carries: `hearth.events.task` → "task"."""
    return stream.rsplit(".", 1)[-1]


def dead_letter_stream(stream: str) -> str:
    return f"{stream}.dead"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class _Delivery:
    """A stream entry the consumer has a handler for, decoded and ready to handle."""

    entry_id: Any
    fields: Mapping[Any, Any]
    event: Event[Any]
    handler: Handler
    delivery: int

    @property
    def envelope(self) -> events_pb2.Envelope:
        return self.event.envelope


@dataclass
class _Entries:
    """What one batch of entries of a stream comes to once decoded: what to handle, and what to XACK after it."""

    handle: list[_Delivery] = field(default_factory=list)
    ack: list[Any] = field(default_factory=list)


# Records a batch's event ids in the inbox in one statement, whatever the batch's size (one prepared statement,
# not one per size); RETURNING names the ids that were not there yet, the only ones to handle.
_CLAIM_INBOX = sa.text(
    "INSERT INTO inbox (event_id, event_type) SELECT * FROM unnest(:event_ids, :event_types) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
).bindparams(
    sa.bindparam("event_ids", type_=ARRAY(UUID(as_uuid=True))),
    sa.bindparam("event_types", type_=ARRAY(sa.Text)),
)


class EventConsumer:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        redis: aioredis.Redis,
        streams: Sequence[str],
        group: str,
        consumer: str,
        handlers: Handlers,
        tracer: trace.Tracer | None = None,
        max_attempts: int = 5,
        claim_idle_ms: int = 30_000,
        block_ms: int = 1000,
        batch_size: int = 50,
        after_commit: AfterCommit | None = None,
        max_backoff: float = 30.0,
    ) -> None:
        if block_ms < 1:
            # run() waits for new entries inside XREADGROUP; without a block it would spin the event loop.
            raise ValueError("block_ms must be at least 1 (poll_once(block_ms=0) reads without waiting)")
        self._sessions = sessions
        self._redis = redis
        self._streams = list(streams)
        self._group = group
        self._consumer = consumer
        # By wire type; type_of refuses a class that is not an event payload (a bug caught at start-up).
        self._handlers = {type_of(cls): handler for cls, handler in handlers.items()}
        domains = {stream_domain(stream) for stream in self._streams}
        for event_type in self._handlers:
            if producer_of(event_type) not in domains:  # a handler that could never run is a wiring mistake
                raise ValueError(f"a handler for {event_type}, which none of {self._streams} carries")
        self._tracer = tracer or trace.get_tracer("hearth.events")
        self._max_attempts = max_attempts
        self._claim_idle_ms = claim_idle_ms
        # An entry can only be reclaimed once idle for claim_idle_ms: looking a quarter of that apart (instead
        # of at every poll, two Redis calls per stream) reclaims it within 1.25 times claim_idle_ms.
        self._reclaim_every = claim_idle_ms / 4000
        self._reclaimed_at = -math.inf
        self._block_ms = block_ms
        self._batch_size = batch_size
        self._after_commit = after_commit
        self._max_backoff = max_backoff
        self._groups_ready = False

    async def ensure_groups(self) -> None:
        """Create the consumer group on each stream (from the start: a new service catches up on history)."""
        for stream in self._streams:
            try:
                await self._redis.xgroup_create(stream, self._group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups_ready = True

    async def run(self) -> None:
        """Poll forever; any failure is logged and retried with backoff (only cancellation stops it)."""

        async def forget_groups() -> None:
            self._groups_ready = False  # a Redis that lost its data needs the groups made again

        await retry_forever(
            self.poll_once,
            name=f"event consumer {self._group}",
            log=log,
            cap=self._max_backoff,
            on_failure=forget_groups,
        )

    async def poll_once(self, *, block_ms: int | None = None) -> int:
        """Reclaim stale entries (when due), then read new ones (blocking up to `block_ms`) and handle each
        stream's batch; returns entries processed."""
        if not self._groups_ready:
            await self.ensure_groups()
        processed = 0
        if time.monotonic() - self._reclaimed_at >= self._reclaim_every:
            for stream in self._streams:
                processed += await self._reclaim(stream)
            self._reclaimed_at = time.monotonic()
        block = self._block_ms if block_ms is None else block_ms
        response = await self._redis.xreadgroup(
            self._group,
            self._consumer,
            dict.fromkeys(self._streams, ">"),
            count=self._batch_size,
            block=block or None,
        )
        for stream, entries in _stream_entries(response):
            await self._process(stream, [(entry_id, fields, 1) for entry_id, fields in entries])
            processed += len(entries)
        return processed

    async def _reclaim(self, stream: str) -> int:
        processed = 0
        start = "0-0"
        while True:
            result = await self._redis.xautoclaim(
                stream, self._group, self._consumer, self._claim_idle_ms, start_id=start, count=self._batch_size
            )
            start, entries = _text(result[0]), result[1]
            # Trimmed from the stream while pending (fields None): nothing left to handle, only to acknowledge.
            if trimmed := [entry_id for entry_id, fields in entries if fields is None]:
                await self._redis.xack(stream, self._group, *trimmed)
            claimed = [(entry_id, fields) for entry_id, fields in entries if fields is not None]
            if claimed:
                deliveries = await self._deliveries(stream, [entry_id for entry_id, _ in claimed])
                await self._process(
                    stream, [(entry_id, fields, n) for (entry_id, fields), n in zip(claimed, deliveries, strict=True)]
                )
                processed += len(claimed)
            if start == "0-0" or not entries:
                return processed

    async def _deliveries(self, stream: str, entry_ids: Sequence[Any]) -> list[int]:
        """How many times each entry has been delivered (XAUTOCLAIM counts the claim), in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for entry_id in entry_ids:
            pipe.xpending_range(stream, self._group, min=entry_id, max=entry_id, count=1)
        return [int(pending[0]["times_delivered"]) if pending else 1 for pending in await pipe.execute()]

    async def _process(self, stream: str, entries: Sequence[tuple[Any, Mapping[Any, Any], int]]) -> None:
        """Handle a batch of one stream's entries, in stream order, then XACK them all at once."""
        batch = _Entries()
        for entry_id, fields, delivery in entries:
            await self._sort(stream, entry_id, fields, delivery, batch)
        if batch.handle:
            batch.ack += await self._handle(stream, batch.handle)
        if batch.ack:
            await self._redis.xack(stream, self._group, *batch.ack)

    async def _sort(
        self, stream: str, entry_id: Any, fields: Mapping[Any, Any], delivery: int, batch: _Entries
    ) -> None:
        """Decode one entry into `batch`: to handle, to acknowledge only, or (refused, poison) dead-lettered now."""
        raw = fields.get(b"envelope", fields.get("envelope"))
        try:
            envelope = events_pb2.Envelope.FromString(raw if isinstance(raw, bytes) else b"")
            uuid.UUID(envelope.event_id)
        except (DecodeError, ValueError) as exc:
            await self._dead_letter(stream, entry_id, fields, f"undecodable envelope: {exc}")
            return
        with _correlated(envelope):
            event_type = envelope.type[:_MAX_LOGGED]
            cls = payload_class(envelope.type)
            if cls is None:
                await self._refuse(stream, entry_id, fields, "unknown_type", f"unknown event type {event_type!r}")
                return
            producer = producer_of(envelope.type)
            if stream_domain(stream) != producer:
                why = f"{event_type} is published by {producer}, not on {stream}"
                await self._refuse(stream, entry_id, fields, "foreign_stream", why)
                return
            handler = self._handlers.get(envelope.type)
            if handler is None:  # an event this service does not care about
                batch.ack.append(entry_id)
                return
            if delivery > self._max_attempts:
                await self._dead_letter(stream, entry_id, fields, f"gave up after {delivery - 1} attempts")
                return
            try:
                event: Event[Any] = Event(unpack(envelope, cls), envelope)
            except (DecodeError, ValueError) as exc:  # a payload that is not the message its type names: poison
                await self._dead_letter(stream, entry_id, fields, f"undecodable payload: {exc}")
                return
        batch.handle.append(_Delivery(entry_id, fields, event, handler, delivery))

    async def _refuse(self, stream: str, entry_id: Any, fields: Mapping[Any, Any], reason: str, why: str) -> None:
        EVENTS_REFUSED.labels(stream, self._group, reason).inc()
        await self._dead_letter(stream, entry_id, fields, f"refused: {why}")

    async def _handle(self, stream: str, deliveries: list[_Delivery]) -> list[Any]:
        """Handle the deliveries; returns the entry ids whose effects are committed (to XACK).

        All in one transaction when it commits; when it does not (a handler raised, or the commit failed), each
        in a transaction of its own, so one poison event holds back and rolls back nothing but itself."""
        if len(deliveries) > 1:
            try:
                fresh = await self._handle_together(stream, deliveries)
            except Exception as exc:
                log.warning(
                    "a batch of %d events from %s rolled back (%s: %s); handling them one at a time",
                    len(deliveries),
                    stream,
                    type(exc).__name__,
                    str(exc)[:_MAX_LOGGED],
                )
            else:
                for delivery, handled in zip(deliveries, fresh, strict=True):
                    await self._committed(stream, delivery, handled)
                return [delivery.entry_id for delivery in deliveries]
        done = []
        for delivery in deliveries:
            outcome = await self._handle_alone(stream, delivery)
            if outcome is not None:
                await self._committed(stream, delivery, outcome)
                done.append(delivery.entry_id)
        return done

    async def _committed(self, stream: str, delivery: _Delivery, handled: bool) -> None:
        EVENTS_HANDLED.labels(stream, self._group, "handled" if handled else "duplicate").inc()
        if self._after_commit is not None:
            await self._after_commit(delivery.envelope)

    def _start_span(self, stream: str, envelope: events_pb2.Envelope) -> trace.Span:
        """The span of one event's handling: a CONSUMER span continuing the trace of the change that caused it."""
        return self._tracer.start_span(
            f"process {envelope.type}",
            context=traced_context(envelope),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "redis",
                "messaging.destination.name": stream,
                "messaging.consumer.group.name": self._group,
                "messaging.message.id": envelope.event_id,
                "hearth.event.type": envelope.type,
                "hearth.household_id": envelope.household_id,
                "hearth.correlation_id": envelope.correlation_id[:_MAX_LOGGED],
            },
        )

    async def _handle_together(self, stream: str, deliveries: list[_Delivery]) -> list[bool]:
        """Every delivery in ONE transaction: one inbox insert for all, then each new event's handler in stream
        order. Returns, per delivery, whether it was handled (False: a duplicate). Raises if anything fails."""
        spans = [self._start_span(stream, delivery.envelope) for delivery in deliveries]
        committed = False
        try:
            async with self._sessions() as session, session.begin():
                new = await _claim_inbox(session, [delivery.event for delivery in deliveries])
                fresh = []
                for delivery, span in zip(deliveries, spans, strict=True):
                    # The first of two entries of one event handles it; the second is the duplicate it is.
                    handled = delivery.event.event_id in new
                    new.discard(delivery.event.event_id)
                    fresh.append(handled)
                    span.set_attribute("hearth.event.duplicate", not handled)
                    if not handled:
                        continue
                    with trace.use_span(span, record_exception=False), _correlated(delivery.envelope):
                        try:
                            await delivery.handler(session, delivery.event)
                        except Exception as exc:
                            span.record_exception(exc)
                            raise
            committed = True
            return fresh
        finally:
            for span in spans:
                if not committed:  # the event is handled again alone, in a span of its own
                    span.set_attribute("hearth.event.rolled_back", True)
                    span.set_status(trace.StatusCode.ERROR, "the batch's transaction rolled back")
                span.end()

    async def _handle_alone(self, stream: str, delivery: _Delivery) -> bool | None:
        """One delivery in its own transaction: whether it was handled (False: a duplicate); None when it failed,
        which leaves it pending, for XAUTOCLAIM to redeliver after claim_idle_ms, up to max_attempts."""
        envelope = delivery.envelope
        with _correlated(envelope), trace.use_span(self._start_span(stream, envelope), end_on_exit=True) as span:
            try:
                async with self._sessions() as session, session.begin():
                    handled = bool(await _claim_inbox(session, [delivery.event]))
                    if handled:
                        await delivery.handler(session, delivery.event)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(trace.StatusCode.ERROR)
                EVENTS_HANDLED.labels(stream, self._group, "error").inc()
                log.exception("handler for %s failed (attempt %d)", envelope.type, delivery.delivery)
                return None
            span.set_attribute("hearth.event.duplicate", not handled)
        return handled

    async def _dead_letter(self, stream: str, entry_id: Any, fields: Mapping[Any, Any], reason: str) -> None:
        log.error("dead-lettering %s %s: %s", stream, _text(entry_id), reason)
        dead: dict[FieldT, EncodableT] = {
            **{_text(k): v for k, v in fields.items()},
            "error": reason,
            "original_id": _text(entry_id),
        }
        # Capped: a flood of forged or poison entries must not grow the dead-letter stream without bound.
        await self._redis.xadd(dead_letter_stream(stream), dead, maxlen=DEAD_LETTER_MAXLEN, approximate=True)
        await self._redis.xack(stream, self._group, entry_id)
        EVENTS_HANDLED.labels(stream, self._group, "dead").inc()


async def _claim_inbox(session: AsyncSession, events: Sequence[Event[Any]]) -> set[uuid.UUID]:
    """Record the events in the inbox (in `session`'s transaction); returns the ids that are new."""
    result = await session.execute(
        _CLAIM_INBOX,
        {"event_ids": [event.event_id for event in events], "event_types": [event.type for event in events]},
    )
    return set(result.scalars())


@contextlib.contextmanager
def _correlated(envelope: events_pb2.Envelope) -> Iterator[None]:
    """The correlation id of the request that caused the event is the current one (log lines, spans)."""
    token = context.correlation_id.set(envelope.correlation_id[:_MAX_LOGGED])
    try:
        yield
    finally:
        context.correlation_id.reset(token)


def _stream_entries(response: Any) -> list[tuple[str, list[tuple[Any, Any]]]]:
    """XREADGROUP's RESP2 reply: [[stream, [(id, fields), ...]], ...] (None when the block timed out)."""
    return [(_text(stream), list(entries)) for stream, entries in response or []]
