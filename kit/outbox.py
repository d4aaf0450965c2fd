"""Transactional outbox: an event is a row written in the same transaction as the change it describes.

`add_event` inserts a serialized `hearth.events.v1.Envelope` into the service's `outbox` table and
`pg_notify`s the relay (the notification is delivered only if the transaction commits), in one statement; a hot
path that writes its change in one statement folds the event into that statement instead (`with_event`, with
`new_envelope` and `event_row`). `OutboxRelay` publishes unsent rows to the service's Redis Stream and marks them
sent:

- it wakes on PostgreSQL `LISTEN hearth_outbox`; polling every `poll_interval` is only the fallback
  for a lost notification or a dropped listener connection;
- it claims rows with `FOR UPDATE SKIP LOCKED` and marks them sent in the same statement (`UPDATE ...
  RETURNING`, committed only after the `XADD` pipeline succeeded), so any number of relay replicas run
  side by side and a row is published by exactly one of them (a relay that crashes between `XADD` and
  `COMMIT` can publish a row twice — consumers deduplicate on `event_id`, which is the at-least-once contract);
- when Redis is down the rows simply stay unsent (the transaction rolls back) and the relay retries
  with exponential backoff and jitter; nothing is lost.

Ordering: one relay publishes in commit order of row ids; with several replicas, events of different
batches may interleave. Consumers must not rely on cross-event order (they upsert).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import sqlalchemy as sa
from google.protobuf.message import Message
from hearth.events.v1 import events_pb2
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter, Gauge
from redis.typing import EncodableT, FieldT
from sqlalchemy.dialects.postgresql import BYTEA, UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context
from kit.backoff import retry_forever
from kit.catalogue import producer_of, type_of
from kit.db import utcnow
from kit.ids import new_id

log = logging.getLogger("hearth.outbox")

NOTIFY_CHANNEL = "hearth_outbox"
TABLE = "outbox"
# Streams keep roughly this many entries (XADD MAXLEN ~); far more than any consumer lags behind.
STREAM_MAXLEN = 1_000_000

OUTBOX_PENDING = Gauge("hearth_outbox_pending", "Outbox rows not yet published", ["stream"])
OUTBOX_LAG = Gauge(
    "hearth_outbox_lag_seconds", "Age of the oldest outbox row not yet published (0: none waiting)", ["stream"]
)
# The unpublished rows and the oldest one's age, in one statement by the outbox's partial index (the relay's
# gauges, kit.status's answer).
BACKLOG = sa.text(
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM outbox WHERE published_at IS NULL"
)
OUTBOX_PUBLISHED = Counter("hearth_outbox_published_total", "Events published from the outbox", ["stream"])

_propagator = TraceContextTextMapPropagator()


def _columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("envelope", BYTEA, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    ]


def _unpublished_index() -> dict[str, Any]:
    # The relay only ever scans unsent rows: a partial index keeps that scan tiny however big the table grows.
    return {"postgresql_where": sa.text("published_at IS NULL")}


def _published_index() -> dict[str, Any]:
    # The retention job (kit.jobs.prune_outbox) deletes by publication time: without this index every run
    # would end in a scan of the whole table to learn that nothing more is old enough.
    return {"postgresql_where": sa.text("published_at IS NOT NULL")}


PUBLISHED_INDEX = "ix_outbox_published_at"


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    """Declare the `outbox` table on a service's metadata (so Alembic and the models agree)."""
    table = sa.Table(TABLE, metadata, *_columns())
    sa.Index("ix_outbox_unpublished", table.c.id, **_unpublished_index())
    sa.Index(PUBLISHED_INDEX, table.c.published_at, **_published_index())
    return table


def create_outbox_table(op: Any) -> None:
    """For a service's initial migration (schema version 1 of the outbox)."""
    op.create_table(TABLE, *_columns())
    op.create_index("ix_outbox_unpublished", TABLE, ["id"], **_unpublished_index())


def drop_outbox_table(op: Any) -> None:
    op.drop_index("ix_outbox_unpublished", table_name=TABLE)
    op.drop_table(TABLE)


def create_outbox_published_index(op: Any) -> None:
    """Schema version 2 of the outbox: the index the retention job deletes by."""
    op.create_index(PUBLISHED_INDEX, TABLE, ["published_at"], **_published_index())


def drop_outbox_published_index(op: Any) -> None:
    op.drop_index(PUBLISHED_INDEX, table_name=TABLE)


# A lightweight handle for inserts/updates that does not depend on any one service's metadata.
_outbox = sa.table(
    TABLE,
    sa.column("id", sa.BigInteger),
    sa.column("event_id", UUID(as_uuid=True)),
    sa.column("event_type", sa.Text),
    sa.column("envelope", BYTEA),
    sa.column("published_at", sa.DateTime(timezone=True)),
)


# Built once (the relay runs it on every NOTIFY): the oldest unsent rows no other replica holds, marked sent.
_unsent = (
    sa.select(_outbox.c.id)
    .where(_outbox.c.published_at.is_(None))
    .order_by(_outbox.c.id)
    .limit(sa.bindparam("limit"))
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_CLAIM = (
    sa.update(_outbox)
    .where(_outbox.c.id.in_(_unsent))
    .values(published_at=sa.bindparam("published_at"))
    .returning(_outbox.c.id, _outbox.c.event_id, _outbox.c.event_type, _outbox.c.envelope)
)


def current_traceparent() -> str:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent", "")


def _id_text(value: uuid.UUID | str | None) -> str:
    return "" if value is None else str(value)


def new_envelope(
    payload: Message,
    *,
    household_id: uuid.UUID | str | None = None,
    actor_id: uuid.UUID | str | None = None,
) -> events_pb2.Envelope:
    """The envelope of an event carrying `payload`, as `add_event` writes it (see there).

    For a use case that writes its event inside a statement of its own (`with_event`); the producer check is the
    same, so an event no service could publish is refused before anything is written."""
    event_type = type_of(payload)
    service = context.service_name.get()
    if service and producer_of(event_type) != service:
        # Consumers would dead-letter it (it is not this service's to say): refuse it here, where the bug is.
        raise ValueError(f"{event_type} is published by {producer_of(event_type)}, not {service}")
    caller = context.caller.get()
    envelope = events_pb2.Envelope(
        event_id=str(new_id()),
        type=event_type,
        household_id=_id_text(household_id),
        actor_id=_id_text(actor_id) or (caller.user_id if caller else ""),
        traceparent=current_traceparent(),
        source=service,
        correlation_id=context.correlation_id.get(),
    )
    envelope.occurred_at.FromDatetime(utcnow())
    envelope.payload.Pack(payload)
    return envelope


# The bind parameters of the outbox row in a `with_event` statement: prefixed, so that they never clash with the
# parameters of the writes beside it.
_EVENT_ID, _EVENT_TYPE, _ENVELOPE = "outbox_event_id", "outbox_event_type", "outbox_envelope"


def event_row(envelope: events_pb2.Envelope) -> dict[str, Any]:
    """The parameters of `envelope`'s outbox row, for a statement built by `with_event`."""
    return {
        _EVENT_ID: uuid.UUID(envelope.event_id),
        _EVENT_TYPE: envelope.type,
        _ENVELOPE: envelope.SerializeToString(),
    }


def with_event(*writes: sa.Insert | sa.Update | sa.Delete) -> sa.Select[Any]:
    """One statement that runs `writes`, inserts one event's outbox row and wakes the relay:

        WITH write_1 AS (...), ..., outbox_event AS (INSERT INTO outbox ...) SELECT pg_notify('hearth_outbox', '')

    so a change and its event cost one round trip. Build it once (at import: SQLAlchemy then compiles it once)
    and execute it with the writes' parameters and `event_row(envelope)`. PostgreSQL runs every data-modifying
    WITH part exactly once, on the same snapshot: the writes must not depend on each other's effects (a row that
    two of them change, or one that reads what another wrote). A foreign key from one write's row to another's is
    fine: PostgreSQL checks it at the end of the statement, when both rows are there (the task service's completion
    and its occurrence row). The notification is delivered only on commit."""
    outbox_row = sa.insert(_outbox).values(
        event_id=sa.bindparam(_EVENT_ID, type_=UUID(as_uuid=True)),
        event_type=sa.bindparam(_EVENT_TYPE, type_=sa.Text),
        envelope=sa.bindparam(_ENVELOPE, type_=BYTEA),
    )
    parts = [write.cte(f"write_{n}") for n, write in enumerate(writes, start=1)]
    return sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, "")).add_cte(*parts, outbox_row.cte("outbox_event"))


_ADD_EVENT = with_event()


async def add_event(
    session: AsyncSession,
    payload: Message,
    *,
    household_id: uuid.UUID | str | None = None,
    actor_id: uuid.UUID | str | None = None,
) -> events_pb2.Envelope:
    """Write `payload` as an event into the outbox, as part of `session`'s current transaction.

    The type is the payload's, from the catalogue (`kit.catalogue.type_of`); `actor_id` defaults to the
    authenticated caller, the source to the running service; the request's correlation id and trace context
    travel with it. The row and the relay's NOTIFY go in one statement (`with_event`).
    """
    envelope = new_envelope(payload, household_id=household_id, actor_id=actor_id)
    # Through the session (not its connection): it flushes pending changes first, as every statement did before.
    await session.execute(_ADD_EVENT, event_row(envelope))
    return envelope


def stream_fields(envelope_bytes: bytes, event_type: str, event_id: str) -> dict[FieldT, EncodableT]:
    """The wire format of one stream entry: the envelope, plus type and id for humans and XRANGE."""
    return {"envelope": envelope_bytes, "type": event_type, "event_id": event_id}


class OutboxRelay:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        redis: aioredis.Redis,
        stream: str,
        dsn: str,
        poll_interval: float = 5.0,
        batch_size: int = 200,
        max_backoff: float = 30.0,
    ) -> None:
        self._sessions = sessions
        self._redis = redis
        self._stream = stream
        self._dsn = dsn
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._counted_at = -math.inf

    async def publish_pending(self) -> int:
        """Publish one batch of unsent rows; returns how many were published."""
        async with self._sessions() as session, session.begin():
            # Claimed and marked sent in one statement; published before the commit, so if publishing or the
            # commit fails the rows stay unsent and go out again (at-least-once).
            connection = await session.connection()
            claimed = await connection.execute(_CLAIM, {"limit": self._batch_size, "published_at": utcnow()})
            rows = sorted(claimed.all(), key=lambda row: row.id)  # RETURNING keeps no order: publish by id
            if not rows:
                return 0
            pipe = self._redis.pipeline(transaction=False)
            for row in rows:
                pipe.xadd(
                    self._stream,
                    stream_fields(row.envelope, row.event_type, str(row.event_id)),
                    maxlen=STREAM_MAXLEN,
                    approximate=True,
                )
            await pipe.execute()
        OUTBOX_PUBLISHED.labels(self._stream).inc(len(rows))
        return len(rows)

    async def backlog(self) -> tuple[int, float]:
        """How many rows wait to be published, and the oldest one's age in seconds."""
        async with self._sessions() as session:
            count, age = (await session.execute(BACKLOG)).one()
        return int(count), float(age)

    async def drain(self) -> int:
        """Publish until nothing is left (or other replicas hold the rest)."""
        total = 0
        while True:
            published = await self.publish_pending()
            total += published
            if published < self._batch_size:
                return total

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = await asyncpg.connect(self._dsn)
        await self._listener.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())

    async def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None

    async def _round(self) -> None:
        await self._listen()
        # Clear before draining: a NOTIFY arriving mid-drain wakes the next round.
        self._wake.clear()
        await self.drain()
        # The gauges are for dashboards: counting at most once per poll interval, not after every NOTIFY, spares a
        # transaction per round under load.
        if time.monotonic() - self._counted_at >= self._poll_interval:
            pending, age = await self.backlog()
            OUTBOX_PENDING.labels(self._stream).set(pending)
            OUTBOX_LAG.labels(self._stream).set(age)
            self._counted_at = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    async def run(self) -> None:
        """Publish forever: on every NOTIFY, else every `poll_interval`. On any failure the rows stay unsent
        and the relay backs off (dropping its listener connection), then goes on."""
        try:
            await retry_forever(
                self._round, name="outbox relay", log=log, cap=self._max_backoff, on_failure=self._close_listener
            )
        finally:
            await self._close_listener()


def traced_context(envelope: events_pb2.Envelope) -> Any:
    """The OpenTelemetry context of the change that produced `envelope` (for the consumer's span)."""
    return _propagator.extract({"traceparent": envelope.traceparent} if envelope.traceparent else {})


__all__ = [
    "OutboxRelay",
    "add_event",
    "create_outbox_published_index",
    "create_outbox_table",
    "current_traceparent",
    "drop_outbox_published_index",
    "drop_outbox_table",
    "event_row",
    "new_envelope",
    "outbox_table",
    "stream_fields",
    "traced_context",
    "with_event",
]
