"""Erasing a person from the events a service has already written (GDPR): its outbox.

A service's outbox keeps every event it wrote — unpublished ones until the relay has sent them, published ones for
`<NAME>_OUTBOX_RETENTION_DAYS` — and events name people (an actor, a completer, a member). When an account is
deleted (user.deleted), each service that holds such events rewrites them with `anonymise_outbox`: every string
of the envelope and of its payload that holds the person's id has it replaced by `DELETED_USER`, so nothing the
service publishes from then on, and nothing it keeps, names them. A payload may carry more about the person than
their id (the user service's `member.joined` has their display name): the caller's `scrub` clears that first.

`DELETED_USER` is the nil UUID: one marker for every deleted person, so that no table keeps a per-person pseudonym
that would still tie their doings together. Rewriting is idempotent: a second run finds nothing that names them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hearth.events.v1 import events_pb2
from sqlalchemy.dialects.postgresql import BYTEA
from sqlalchemy.ext.asyncio import AsyncSession

from kit.catalogue import payload_class
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


__all__ = ["DELETED_USER", "Scrub", "anonymise_outbox", "anonymised_envelope", "replace_in"]
