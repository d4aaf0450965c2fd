"""Events in tests: envelopes built and XADDed to the streams the way the outbox relay does, waiting until a
consumer group has handled them, and the events a service wrote to its outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
import sqlalchemy as sa
from google.protobuf.message import Message
from hearth.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import create_async_engine

from kit.catalogue import payload_class
from kit.events import Event
from kit.ids import new_id
from kit.outbox import STREAM_MAXLEN, stream_fields
from tests.support.people import Person
from tests.support.stack import Stack
from tests.support.wait import eventually


def envelope(
    type: str,
    payload: Message,
    *,
    household_id: str,
    actor_id: str = "",
    source: str = "test",
    occurred_at: datetime | None = None,
    correlation_id: str = "",
) -> events_pb2.Envelope:
    """An envelope exactly as `kit.outbox.add_event` builds one (the type is explicit, so a test can forge one)."""
    built = events_pb2.Envelope(
        event_id=str(new_id()),
        type=type,
        household_id=household_id,
        actor_id=actor_id,
        source=source,
        correlation_id=correlation_id,
    )
    built.occurred_at.FromDatetime(occurred_at or datetime.now(UTC))
    built.payload.Pack(payload)
    return built


def member_joined(household_id: str, person: Person, role: str, *, at: datetime | None = None) -> events_pb2.Envelope:
    """`member.joined` for `person`, as the user service publishes it."""
    payload = events_pb2.MemberJoined(
        household_id=household_id, user_id=person.user_id, display_name=person.display_name, role=role
    )
    payload.joined_at.FromDatetime(at or datetime.now(UTC))
    return envelope("member.joined", payload, household_id=household_id, actor_id=person.user_id, occurred_at=at)


async def publish(redis: aioredis.Redis, stream: str, event: events_pb2.Envelope) -> str:
    """XADD the envelope the way `kit.outbox.OutboxRelay` does; returns the entry id."""
    entry_id = await redis.xadd(
        stream,
        stream_fields(event.SerializeToString(), event.type, event.event_id),
        maxlen=STREAM_MAXLEN,
        approximate=True,
    )
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def _entry(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def consumed(redis: aioredis.Redis, stream: str, group: str, entry_id: str) -> None:
    """Wait until `group` has read `stream` up to `entry_id` and has nothing pending (handled and acknowledged)."""

    async def done() -> bool:
        for info in await redis.xinfo_groups(stream):
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            if name != group:
                continue
            last = info["last-delivered-id"]
            last = last.decode() if isinstance(last, bytes) else str(last)
            return _entry(last) >= _entry(entry_id) and int(info["pending"]) == 0
        return False

    await eventually(done)


async def outbox_events(stack: Stack, service: str, event_type: str) -> list[events_pb2.Envelope]:
    """Every event of `event_type` in `service`'s outbox (published or not), oldest first."""
    engine = create_async_engine(stack.databases[service])
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT envelope FROM outbox WHERE event_type = :type ORDER BY id"), {"type": event_type}
            )
            return [events_pb2.Envelope.FromString(row.envelope) for row in rows]
    finally:
        await engine.dispose()


async def household_events(stack: Stack, service: str, event_type: str, household_id: str) -> list[events_pb2.Envelope]:
    """The events of `event_type` about one household in `service`'s outbox, oldest first."""
    return [e for e in await outbox_events(stack, service, event_type) if e.household_id == household_id]


def delivered(envelope: events_pb2.Envelope) -> Event[Any]:
    """The envelope as a consumer's handler receives it: its payload decoded into the catalogue's class."""
    cls = payload_class(envelope.type)
    assert cls is not None, f"{envelope.type} is not in the event catalogue"
    return Event(payload(envelope, cls), envelope)


def payload(envelope: events_pb2.Envelope, cls: type[Message]) -> Any:
    """The envelope's payload, which must be a `cls`."""
    message = cls()
    assert envelope.payload.Unpack(message), f"{envelope.type} does not carry a {cls.__name__}"
    return message


async def stream_entries_naming(stack: Stack, redis: aioredis.Redis, needle: str) -> dict[str, set[bytes]]:
    """Per service stream, the ids of the entries whose envelope holds `needle` (someone's id)."""
    found: dict[str, set[bytes]] = {}
    for service in stack.databases:
        stream = f"{stack.namespace}.events.{service}"
        entries = await redis.xrange(stream)
        naming = {entry_id for entry_id, fields in entries if needle.encode() in fields.get(b"envelope", b"")}
        if naming:
            found[service] = naming
    return found


async def settled(stack: Stack, redis: aioredis.Redis) -> None:
    """Wait until every event is where it is going: no service's outbox holds an unpublished row, and every
    consumer group of every service's stream has read to its end and acknowledged all (what a change's whole
    cascade of events has run through, e.g. user.deleted and the chore.updated task writes on it)."""
    engines = [create_async_engine(url) for url in stack.databases.values()]

    async def busy() -> list[str]:
        """What is still on its way: outboxes with unpublished rows, consumer groups behind or with pending entries."""
        found = []
        for service, engine in zip(stack.databases, engines, strict=True):
            async with engine.connect() as conn:
                if unsent := await conn.scalar(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL")):
                    found.append(f"{service}'s outbox: {unsent} unpublished")
        for service in stack.databases:
            stream = f"{stack.namespace}.events.{service}"
            if not await redis.exists(stream):
                continue
            last = await redis.xrevrange(stream, count=1)
            end = last[0][0].decode() if last else "0-0"
            for info in await redis.xinfo_groups(stream):
                delivered = info["last-delivered-id"]
                delivered = delivered.decode() if isinstance(delivered, bytes) else str(delivered)
                if _entry(delivered) < _entry(end) or int(info["pending"]):
                    name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
                    found.append(f"{stream} group {name}: at {delivered} of {end}, {info['pending']} pending")
        return found

    async def quiet() -> bool:
        return not await busy()

    try:
        await eventually(quiet, timeout=30)
    except TimeoutError:
        raise AssertionError(f"events not settled after 30 s: {'; '.join(await busy())}") from None
    finally:
        for engine in engines:
            await engine.dispose()
