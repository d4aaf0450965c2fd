"""Erasing a person from the events a service has already written (GDPR): its outbox, and its stream.

A service's outbox keeps every event it wrote — unpublished ones until the relay has sent them, published ones for
`<NAME>_OUTBOX_RETENTION_DAYS` — and events name people (an actor, a completer, a member). When an account is
deleted (user.deleted), each service that holds such events rewrites them with `anonymise_outbox`: every string
of the envelope and of its payload that holds the person's id has it replaced by `DELETED_USER`, so nothing the
service publishes from then on, and nothing it keeps, names them. A payload may carry more about the person than
their id (the user service's `member.joined` has their display name): the caller's `scrub` clears that first.

The service's stream (`{namespace}.events.{service}`, kept to about kit.outbox.STREAM_MAXLEN entries) holds the
same events as published: `erase_from_stream` deletes (XDEL) those naming the person — but only entries every
consumer group has already read and acknowledged, so no consumer misses an event it has yet to handle (the
user.deleted entry itself, typically). Naming entries past that point are counted and left to age out with the
stream's length; consumers are near real time, so they are few.

`DELETED_USER` is the nil UUID: one marker for every deleted person, so that no table keeps a per-person pseudonym
that would still tie their doings together. Rewriting is idempotent: a second run finds nothing that names them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
import sqlalchemy as sa
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hearth.events.v1 import events_pb2
from redis.exceptions import ResponseError
from sqlalchemy.dialects.postgresql import BYTEA
from sqlalchemy.ext.asyncio import AsyncSession

from kit.catalogue import payload_class
from kit.events import Event, Handlers, required_id
from kit.outbox import TABLE

log = logging.getLogger("hearth.erasure")

DELETED_USER = uuid.UUID(int=0)
# Clears what a payload holds about the person beyond their id (their id is replaced afterwards, everywhere).
Scrub = Callable[[Message, str], None]

_outbox = sa.table(TABLE, sa.column("id", sa.BigInteger), sa.column("envelope", BYTEA))
# Envelopes whose bytes hold the text of an id (a payload's ids are strings, so they appear as they are).
_NAMING = sa.text(
    f"SELECT id, envelope FROM {TABLE} WHERE position(:needle IN envelope) > 0 ORDER BY id FOR UPDATE"  # noqa: S608 (a constant)
).bindparams(sa.bindparam("needle", type_=BYTEA))


def replace_in(message: Message, old: str, new: str) -> None:
    """Every string field of `message` and of the messages inside it, with `old` replaced by `new`."""
    for descriptor, value in message.ListFields():
        repeated = descriptor.is_repeated
        if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            for item in value if repeated else [value]:
                replace_in(item, old, new)
        elif descriptor.type == FieldDescriptor.TYPE_STRING:
            if repeated:
                value[:] = [text.replace(old, new) for text in value]
            elif old in value:
                setattr(message, descriptor.name, value.replace(old, new))


def anonymised_envelope(data: bytes, user_id: uuid.UUID, *, scrub: Scrub | None = None) -> bytes:
    """The envelope `data` with `user_id` replaced by `DELETED_USER` wherever it names them (the actor, any id in
    the payload), after `scrub(payload, str(user_id))`; the same bytes when the payload's type is not in the
    catalogue (never one a service wrote)."""
    envelope = events_pb2.Envelope.FromString(data)
    cls = payload_class(envelope.type)
    if cls is None:
        return data
    payload = cls()
    if not envelope.payload.Unpack(payload):
        return data
    old, new = str(user_id), str(DELETED_USER)
    if scrub is not None:
        scrub(payload, old)
    replace_in(payload, old, new)
    envelope.payload.Pack(payload)
    replace_in(envelope, old, new)  # the actor; inside the Any only its type URL is text
    return envelope.SerializeToString()


async def anonymise_outbox(session: AsyncSession, user_id: uuid.UUID, *, scrub: Scrub | None = None) -> int:
    """Rewrite every outbox row that names `user_id` (`anonymised_envelope`), in `session`'s transaction; the rows
    changed. A row the rewrite cannot clear (a shape it does not reach) is deleted: neither published nor kept."""
    needle = str(user_id).encode()
    rows = (await session.execute(_NAMING, {"needle": needle})).all()
    for row_id, data in rows:
        anonymised = anonymised_envelope(data, user_id, scrub=scrub)
        if needle in anonymised:
            log.warning("an outbox event still names a deleted user after anonymising it; deleting it")
            await session.execute(sa.delete(_outbox).where(_outbox.c.id == row_id))
        else:
            await session.execute(sa.update(_outbox).where(_outbox.c.id == row_id).values(envelope=anonymised))
    return len(rows)


STREAM_BATCH = 1000


def _entry_id(value: Any) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else str(value)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


async def _read_by_all(redis: aioredis.Redis, stream: str) -> tuple[int, int] | None:
    """The newest entry id every group of `stream` has read and acknowledged up to (None: no groups, so no reader
    who could still miss one; the whole stream is past)."""
    groups: Any = await redis.xinfo_groups(stream)
    if not groups:
        return None
    safe = min(_entry_id(group["last-delivered-id"]) for group in groups)
    for group in groups:
        if int(group.get("pending", 0)):
            summary: Any = await redis.xpending(stream, group["name"])
            oldest = _entry_id(summary["min"])
            safe = min(safe, (oldest[0], oldest[1] - 1) if oldest[1] else (oldest[0] - 1, 2**63))
    return safe


async def erase_from_stream(redis: aioredis.Redis, stream: str, user_id: uuid.UUID) -> tuple[int, int]:
    """XDEL the entries of `stream` (the service's own) whose envelope names `user_id`, among those every group has
    read and acknowledged; (deleted, left): the naming entries past that point are left to age out."""
    needle = str(user_id).encode()
    try:
        safe = await _read_by_all(redis, stream)
    except ResponseError as exc:
        if "no such key" in str(exc).lower():
            return 0, 0  # the service has published nothing yet
        raise
    deleted = left = 0
    start = "-"
    while True:
        entries: Any = await redis.xrange(stream, min=start, max="+", count=STREAM_BATCH)
        naming = [entry_id for entry_id, fields in entries if needle in fields.get(b"envelope", b"")]
        doomed = [entry_id for entry_id in naming if safe is None or _entry_id(entry_id) <= safe]
        left += len(naming) - len(doomed)
        if doomed:
            deleted += int(await redis.xdel(stream, *doomed))
        if len(entries) < STREAM_BATCH:
            break
        last = entries[-1][0]
        start = "(" + (last.decode() if isinstance(last, bytes) else str(last))
    if left:
        log.info(
            "stream entries naming a deleted user are not yet read by every group; they age out",
            extra={"stream": stream, "left": left},
        )
    return deleted, left


def stream_erasure(redis: aioredis.Redis, stream: str) -> Handlers:
    """user.deleted → `erase_from_stream` on the service's own `stream` (kit.runtime adds it to every service that
    consumes the user stream). Raises while Redis cannot answer, so the event is retried until it can."""

    async def on_user_deleted(session: AsyncSession, event: Event[events_pb2.UserDeleted]) -> None:
        await erase_from_stream(redis, stream, required_id(event.payload.user_id))

    return {events_pb2.UserDeleted: on_user_deleted}


__all__ = [
    "DELETED_USER",
    "Scrub",
    "anonymise_outbox",
    "anonymised_envelope",
    "erase_from_stream",
    "replace_in",
    "stream_erasure",
]
