"""Request ids (AIP-155), one design for every service: a retry does the work once and gets the first answer;
a request id reused for a different request is refused the same way everywhere.

A service adds the `idempotency_keys` table to its metadata (`idempotency_table(Base.metadata)`) and to a
migration (`create_idempotency_table(op)` / `drop_idempotency_table(op)`). Each row records that the caller's
`request_id`, within a scope (the method: "CreateChore"), made one resource, and a fingerprint of the request
(a stable hash of its meaningful fields, `fingerprint(...)`). A create claims the id *first*, in the
transaction that makes the resource, with the id the resource will get:

    async with self._sessions() as session, session.begin():
        chore_id = new_id()
        earlier = await idempotency.claim(
            session, scope="CreateChore", caller=creator_id, request_id=request_id,
            fingerprint=idempotency.fingerprint(household_id, data), resource_id=chore_id,
        )
        if earlier is not None:      # a retry: read back what the first call made
            return await ChoreRepository(session).get(household_id, earlier)
        ...                          # make the resource with id chore_id

- no request id: `claim` does nothing and returns None (no idempotency asked);
- the first call: the row is inserted (and commits or rolls back with the resource) and None is returned;
- a concurrent retry: INSERT … ON CONFLICT waits for the first call's transaction; once it commits the retry
  sees its row (a replay), once it rolls back the retry claims the id itself — never two resources;
- a retry with the same fingerprint: the stored resource id (the service re-reads and returns the resource);
- a different fingerprint: InvalidArgument on `request_id` ("request_id was already used for a different
  request"), which the gateway answers with 422 like a reused Idempotency-Key with a different body;
- an id older than `ttl` (24 h, as the gateway keeps Idempotency-Keys) is forgotten: a call with it is new.

Run `claim` under READ COMMITTED (PostgreSQL's default, and every service's): the statement after a conflict
must see the row the other transaction committed. Expired rows are only ever overwritten by a new claim;
`prune()` deletes them in bulk for a periodic job (scheduling that job is not this module's business).
Fingerprints must not hold secrets (a password): they are stored as unsalted hashes. Check such a field on
replay instead, against what was stored with the resource.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from google.protobuf import json_format
from google.protobuf.message import Message
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import utcnow
from kit.errors import FieldViolation, InvalidArgument

TABLE = "idempotency_keys"
TTL = timedelta(hours=24)
FIELD = "request_id"
REUSED_MESSAGE = "request_id was already used for a different request"
_PK = sa.schema.conv(f"pk_{TABLE}")
_CREATED_INDEX = sa.schema.conv(f"ix_{TABLE}_created_at")


def _columns() -> list[sa.Column[Any]]:
    return [
        # the method (or whatever the service scopes its ids by): one id may serve different methods
        sa.Column("scope", sa.Text, nullable=False),
        # whose id it is: the caller's user id, or what identifies an anonymous caller (a registration's email)
        sa.Column("caller", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("resource_id", UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def idempotency_table(metadata: sa.MetaData) -> sa.Table:
    """Declare the `idempotency_keys` table on a service's metadata (so Alembic and the models agree)."""
    table = sa.Table(TABLE, metadata, *_columns(), sa.PrimaryKeyConstraint("scope", "caller", "request_id", name=_PK))
    sa.Index(_CREATED_INDEX, table.c.created_at)  # for prune()
    return table


def create_idempotency_table(op: Any) -> None:
    """For the migration that adopts request ids (schema version 1 of the table)."""
    op.create_table(TABLE, *_columns(), sa.PrimaryKeyConstraint("scope", "caller", "request_id", name=_PK))
    op.create_index(_CREATED_INDEX, TABLE, ["created_at"])


def drop_idempotency_table(op: Any) -> None:
    op.drop_index(_CREATED_INDEX, table_name=TABLE)
    op.drop_table(TABLE)


# A lightweight handle for the statements, independent of any one service's metadata.
_keys = sa.table(
    TABLE,
    sa.column("scope", sa.Text),
    sa.column("caller", sa.Text),
    sa.column("request_id", sa.Text),
    sa.column("fingerprint", sa.Text),
    sa.column("resource_id", UUID(as_uuid=True)),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


# --- fingerprints ------------------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    """`value` as plain JSON data that is the same for the same request, whatever the process or run."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return {"$time": aware.astimezone(UTC).isoformat()}  # the same instant in any offset
    if isinstance(value, timedelta):
        return {"$seconds": value.total_seconds()}
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, Message):
        # Field names as declared, defaults included: an unset field and its default are the same request.
        return {
            "$message": value.DESCRIPTOR.full_name,
            "fields": json_format.MessageToDict(
                value, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            ),
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _canonical(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    # str() of an arbitrary object may hold its address: a fingerprint that changes on every retry.
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")


def fingerprint(*parts: Any) -> str:
    """A stable hash (SHA-256, hex) of a request's meaningful fields: the parent, the input (dataclasses,
    protobuf messages, mappings, sequences, sets, datetimes, UUIDs, enums, scalars). Leave out what a retry
    may change without being a different request (the request id itself, an etag, the client's clock)."""
    data = json.dumps([_canonical(part) for part in parts], sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(data.encode()).hexdigest()


# --- claims ------------------------------------------------------------------------------------------


def reused() -> InvalidArgument:
    """The one error for a request id reused with a different request."""
    return InvalidArgument(REUSED_MESSAGE, [FieldViolation(FIELD, REUSED_MESSAGE)])


async def claim(
    session: AsyncSession,
    *,
    scope: str,
    caller: str | uuid.UUID,
    request_id: str,
    fingerprint: str,
    resource_id: uuid.UUID,
    now: datetime | None = None,
    ttl: timedelta = TTL,
) -> uuid.UUID | None:
    """Claim `request_id` for a request that makes `resource_id`, in `session`'s transaction.

    None: go ahead and make `resource_id` (or no `request_id` was given). A UUID: an earlier request with this
    id and the same fingerprint made that resource; return it instead. InvalidArgument on `request_id` when the
    earlier request was a different one. See the module's notes on concurrency and expiry."""
    if not request_id:
        return None
    moment = now if now is not None else utcnow()
    key = {"scope": scope, "caller": str(caller), "request_id": request_id}
    while True:
        statement = insert(_keys).values(**key, fingerprint=fingerprint, resource_id=resource_id, created_at=moment)
        claimed = await session.scalar(
            statement.on_conflict_do_update(
                index_elements=["scope", "caller", "request_id"],
                # An expired id is taken over as if it were new; a live one is left alone (and locked).
                set_={
                    "fingerprint": statement.excluded.fingerprint,
                    "resource_id": statement.excluded.resource_id,
                    "created_at": statement.excluded.created_at,
                },
                where=_keys.c.created_at <= moment - ttl,
            ).returning(_keys.c.request_id)
        )
        if claimed is not None:
            return None
        # READ COMMITTED: this new statement sees the row the conflicting transaction committed.
        earlier = (
            await session.execute(
                sa.select(_keys.c.fingerprint, _keys.c.resource_id).where(
                    *(getattr(_keys.c, column) == value for column, value in key.items())
                )
            )
        ).first()
        if earlier is None:  # deleted in between (pruned): claim it afresh
            continue
        if earlier.fingerprint != fingerprint:
            raise reused()
        resource: uuid.UUID = earlier.resource_id
        return resource


def expired(*, now: datetime | None = None, ttl: timedelta = TTL, limit: int | None = None) -> sa.Delete:
    """The DELETE of ids that have expired (older than `ttl`), at most `limit` of them, oldest first (by the
    created_at index): what `prune` runs, and what a periodic job runs in short transactions (kit.jobs)."""
    cutoff = (now if now is not None else utcnow()) - ttl
    old = sa.select(_keys.c.scope, _keys.c.caller, _keys.c.request_id).where(_keys.c.created_at <= cutoff)
    if limit is not None:
        old = old.order_by(_keys.c.created_at).limit(limit)
    return sa.delete(_keys).where(sa.tuple_(_keys.c.scope, _keys.c.caller, _keys.c.request_id).in_(old))


async def prune(
    session: AsyncSession, *, now: datetime | None = None, ttl: timedelta = TTL, limit: int | None = None
) -> int:
    """Delete ids that have expired (`expired`) in `session`'s transaction; how many."""
    result = await session.execute(expired(now=now, ttl=ttl, limit=limit))
    return int(getattr(result, "rowcount", 0) or 0)


__all__ = [
    "FIELD",
    "REUSED_MESSAGE",
    "TABLE",
    "TTL",
    "claim",
    "create_idempotency_table",
    "drop_idempotency_table",
    "expired",
    "fingerprint",
    "idempotency_table",
    "prune",
    "reused",
]
