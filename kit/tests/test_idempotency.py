"""kit.idempotency against real PostgreSQL: a retry is answered with the first resource, a reused id with a
different request is refused, concurrent retries make one resource, ids expire after 24 hours."""

from __future__ import annotations

import asyncio
import enum
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from google.protobuf import timestamp_pb2
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kit import idempotency
from kit.db import NAMING_CONVENTION, create_engine, session_factory
from kit.errors import InvalidArgument
from kit.ids import new_id

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ALICE = uuid.UUID("0190f0a2-7c1e-7000-8000-00000000a11c")
BOB = uuid.UUID("0190f0a2-7c1e-7000-8000-000000000b0b")


@dataclass
class Db:
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
async def db(fresh_database: Any) -> AsyncIterator[Db]:
    url = await fresh_database("kit_idempotency")
    engine = create_engine(url, pool_size=12)
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    idempotency.idempotency_table(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield Db(url, engine, session_factory(engine))
    await engine.dispose()


async def claim(
    session: AsyncSession,
    *,
    request_id: str = "req-1",
    fingerprint: str = "f1",
    resource_id: uuid.UUID | None = None,
    caller: str | uuid.UUID = ALICE,
    scope: str = "CreateChore",
    now: datetime = NOW,
) -> uuid.UUID | None:
    return await idempotency.claim(
        session,
        scope=scope,
        caller=caller,
        request_id=request_id,
        fingerprint=fingerprint,
        resource_id=resource_id or new_id(),
        now=now,
    )


async def committed_claim(db: Db, **kwargs: Any) -> uuid.UUID | None:
    async with db.sessions() as session, session.begin():
        return await claim(session, **kwargs)


async def rows(db: Db) -> list[Any]:
    async with db.engine.connect() as conn:
        result = await conn.execute(sa.text("SELECT * FROM idempotency_keys ORDER BY scope, caller, request_id"))
        return list(result.all())


# --- fingerprints --------------------------------------------------------------------------------------


class Colour(enum.Enum):
    RED = "red"


@dataclass(frozen=True)
class Recurrence:
    kind: str
    every: int
    months: tuple[int, ...] = ()


@dataclass(frozen=True)
class ChoreInput:
    title: str
    points: int
    recurrence: Recurrence | None
    due: datetime | None = None


def test_a_fingerprint_is_the_sha256_of_canonical_json() -> None:
    # Stable across processes and releases: retries may reach another replica, after a deploy.
    assert idempotency.fingerprint("households/h1", 7, None) == hashlib.sha256(b'["households/h1",7,null]').hexdigest()


def test_the_same_request_has_the_same_fingerprint() -> None:
    first = ChoreInput("Vacuum", 20, Recurrence("interval", 1, (4, 5)))
    again = ChoreInput("Vacuum", 20, Recurrence("interval", 1, (4, 5)))
    assert idempotency.fingerprint(ALICE, first) == idempotency.fingerprint(ALICE, again)


@pytest.mark.parametrize(
    "other",
    [
        ChoreInput("Vacuum!", 20, Recurrence("interval", 1)),
        ChoreInput("Vacuum", 21, Recurrence("interval", 1)),
        ChoreInput("Vacuum", 20, Recurrence("interval", 2)),
        ChoreInput("Vacuum", 20, None),
        ChoreInput("Vacuum", 20, Recurrence("interval", 1), due=NOW),
    ],
)
def test_any_meaningful_difference_changes_the_fingerprint(other: ChoreInput) -> None:
    base = ChoreInput("Vacuum", 20, Recurrence("interval", 1))
    assert idempotency.fingerprint(base) != idempotency.fingerprint(other)


def test_the_parent_is_part_of_the_request() -> None:
    data = ChoreInput("Vacuum", 20, None)
    assert idempotency.fingerprint("households/h1", data) != idempotency.fingerprint("households/h2", data)


def test_one_instant_in_any_offset_is_one_fingerprint() -> None:
    berlin = NOW.astimezone(timezone(timedelta(hours=1)))
    assert idempotency.fingerprint(NOW) == idempotency.fingerprint(berlin)
    assert idempotency.fingerprint(NOW) != idempotency.fingerprint(NOW + timedelta(microseconds=1))


def test_a_time_is_not_the_text_of_it() -> None:
    assert idempotency.fingerprint(NOW) != idempotency.fingerprint(NOW.isoformat())


def test_mapping_key_order_and_set_order_do_not_matter() -> None:
    assert idempotency.fingerprint({"a": 1, "b": 2}) == idempotency.fingerprint({"b": 2, "a": 1})
    assert idempotency.fingerprint({"x", "y", "z"}) == idempotency.fingerprint(frozenset({"z", "y", "x"}))


def test_sequence_order_matters() -> None:
    assert idempotency.fingerprint(["a", "b"]) != idempotency.fingerprint(["b", "a"])


def test_uuids_enums_bytes_and_durations_are_fingerprinted() -> None:
    one = idempotency.fingerprint(ALICE, Colour.RED, b"\x00\x01", timedelta(minutes=5))
    assert one == idempotency.fingerprint(ALICE, Colour.RED, b"\x00\x01", timedelta(seconds=300))
    assert one != idempotency.fingerprint(BOB, Colour.RED, b"\x00\x01", timedelta(minutes=5))


def test_a_protobuf_message_unset_and_default_are_the_same_request() -> None:
    unset = timestamp_pb2.Timestamp(seconds=5)
    explicit = timestamp_pb2.Timestamp(seconds=5, nanos=0)
    assert idempotency.fingerprint(unset) == idempotency.fingerprint(explicit)
    assert idempotency.fingerprint(unset) != idempotency.fingerprint(timestamp_pb2.Timestamp(seconds=6))


def test_an_object_without_a_stable_form_is_refused() -> None:
    with pytest.raises(TypeError, match="object"):
        idempotency.fingerprint(object())


def test_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON"):
        idempotency.fingerprint(float("nan"))


# --- the table and its migration helpers ---------------------------------------------------------------


def _diff(conn: Connection, metadata: sa.MetaData) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


@pytest.mark.parametrize("convention", [NAMING_CONVENTION, None], ids=["service-metadata", "plain-metadata"])
async def test_the_migration_helpers_build_what_the_metadata_declares(
    fresh_database: Any, convention: dict[str, str] | None
) -> None:
    engine = create_engine(await fresh_database("kit_idempotency_migration"), pool_size=1)
    metadata = sa.MetaData(naming_convention=convention) if convention else sa.MetaData()
    idempotency.idempotency_table(metadata)

    def upgrade(conn: Connection) -> None:
        idempotency.create_idempotency_table(Operations(MigrationContext.configure(conn)))

    def downgrade(conn: Connection) -> None:
        idempotency.drop_idempotency_table(Operations(MigrationContext.configure(conn)))

    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade)
            assert await conn.run_sync(_diff, metadata) == []
            names = (
                await conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'idempotency_keys'"))
            ).scalars()
            assert set(names) == {"pk_idempotency_keys", "ix_idempotency_keys_created_at"}
            await conn.run_sync(downgrade)
            assert not await conn.run_sync(lambda c: sa.inspect(c).has_table("idempotency_keys"))
            await conn.run_sync(upgrade)  # upgrade → downgrade → upgrade
            assert await conn.run_sync(_diff, metadata) == []
    finally:
        await engine.dispose()


# --- claims --------------------------------------------------------------------------------------------


async def test_no_request_id_asks_for_no_idempotency(db: Db) -> None:
    assert await committed_claim(db, request_id="") is None
    assert await committed_claim(db, request_id="") is None
    assert await rows(db) == []


async def test_the_first_call_claims_the_id_for_its_resource(db: Db) -> None:
    made = new_id()
    assert await committed_claim(db, resource_id=made, fingerprint="f1") is None
    [row] = await rows(db)
    assert (row.scope, row.caller, row.request_id) == ("CreateChore", str(ALICE), "req-1")
    assert (row.fingerprint, row.resource_id, row.created_at) == ("f1", made, NOW)


async def test_a_retry_of_the_same_request_gets_the_first_resource(db: Db) -> None:
    made = new_id()
    await committed_claim(db, resource_id=made)
    assert await committed_claim(db, resource_id=new_id()) == made
    assert await committed_claim(db, resource_id=new_id(), now=NOW + timedelta(hours=23)) == made
    assert len(await rows(db)) == 1


async def test_a_reused_id_with_a_different_request_is_refused(db: Db) -> None:
    await committed_claim(db, fingerprint="f1")
    with pytest.raises(InvalidArgument) as raised:
        await committed_claim(db, fingerprint="f2")
    error = raised.value
    assert error.reason == "VALIDATION_FAILED"
    assert error.grpc_code.name == "INVALID_ARGUMENT"
    assert error.http_status == 422
    assert [(v.field, v.message) for v in error.violations] == [
        ("request_id", "request_id was already used for a different request")
    ]
    [row] = await rows(db)
    assert row.fingerprint == "f1"  # the first request keeps its id


async def test_ids_are_per_caller(db: Db) -> None:
    alices = new_id()
    await committed_claim(db, caller=ALICE, resource_id=alices, fingerprint="f1")
    # Bob sending the same id (by chance or by copying it) makes his own request, neither refused nor replayed.
    assert await committed_claim(db, caller=BOB, fingerprint="f2") is None
    assert await committed_claim(db, caller=ALICE, fingerprint="f1") == alices


async def test_ids_are_per_scope(db: Db) -> None:
    await committed_claim(db, scope="CreateChore", fingerprint="f1")
    assert await committed_claim(db, scope="CompleteChore", fingerprint="f2") is None
    assert len(await rows(db)) == 2


async def test_a_text_caller_key_serves_anonymous_calls(db: Db) -> None:
    account = new_id()
    await committed_claim(db, scope="Register", caller="alice@example.com", resource_id=account)
    assert await committed_claim(db, scope="Register", caller="alice@example.com") == account
    assert await committed_claim(db, scope="Register", caller="bob@example.com") is None


async def test_a_claim_rolls_back_with_the_work_it_belonged_to(db: Db) -> None:
    async with db.sessions() as session, session.begin():
        assert await claim(session, fingerprint="f1") is None
        await session.rollback()  # the create failed (a validation error, a conflict): nothing was made
    assert await rows(db) == []
    # The retry is a first call again, even with a corrected request.
    made = new_id()
    assert await committed_claim(db, fingerprint="f2", resource_id=made) is None
    assert await committed_claim(db, fingerprint="f2") == made


async def test_an_id_older_than_a_day_is_forgotten(db: Db) -> None:
    await committed_claim(db, fingerprint="f1", now=NOW)
    later = NOW + idempotency.TTL + timedelta(seconds=1)
    made = new_id()
    # A new request, even a different one: the old id no longer means anything.
    assert await committed_claim(db, fingerprint="f2", resource_id=made, now=later) is None
    [row] = await rows(db)
    assert (row.fingerprint, row.resource_id, row.created_at) == ("f2", made, later)
    assert await committed_claim(db, fingerprint="f2", now=later + timedelta(hours=1)) == made


async def test_an_id_is_kept_for_exactly_the_ttl(db: Db) -> None:
    made = new_id()
    await committed_claim(db, resource_id=made, now=NOW)
    assert await committed_claim(db, now=NOW + idempotency.TTL - timedelta(microseconds=1)) == made
    assert await committed_claim(db, now=NOW + idempotency.TTL) is None


async def test_the_ttl_may_be_chosen(db: Db) -> None:
    async with db.sessions() as session, session.begin():
        await idempotency.claim(
            session, scope="s", caller=ALICE, request_id="r", fingerprint="f", resource_id=new_id(), now=NOW
        )
    async with db.sessions() as session, session.begin():
        again = await idempotency.claim(
            session,
            scope="s",
            caller=ALICE,
            request_id="r",
            fingerprint="f",
            resource_id=new_id(),
            now=NOW + timedelta(minutes=2),
            ttl=timedelta(minutes=1),
        )
    assert again is None


# --- concurrency ---------------------------------------------------------------------------------------


async def wait_until_blocked(db: Db, *, count: int = 1) -> None:
    """Until `count` backends of the test database wait on a lock (bounded polling: the wait is in PostgreSQL)."""
    name = sa.engine.make_url(db.url).database
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :name AND wait_event_type = 'Lock'"
    ).bindparams(name=name)
    async with db.engine.connect() as conn:
        for _ in range(2000):  # up to 20 s: a loaded CI machine may be slow to start the other task
            waiting = await conn.scalar(query) or 0
            # pg_stat_activity is a snapshot taken once per transaction: end it, or every later poll reads the
            # first one (which made this test flaky when the first poll came before the claim blocked).
            await conn.rollback()
            if waiting >= count:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"{count} claim(s) never waited for the first transaction")


async def test_a_concurrent_retry_waits_for_the_first_and_replays_it(db: Db) -> None:
    made = new_id()
    async with db.sessions() as first:
        await first.begin()
        assert await claim(first, resource_id=made) is None
        retry = asyncio.create_task(committed_claim(db, resource_id=new_id()))
        await wait_until_blocked(db)
        assert not retry.done()
        await first.commit()
    assert await asyncio.wait_for(retry, 10) == made


async def test_a_concurrent_retry_after_the_first_failed_makes_the_resource_itself(db: Db) -> None:
    retried = new_id()
    async with db.sessions() as first:
        await first.begin()
        assert await claim(first) is None
        retry = asyncio.create_task(committed_claim(db, resource_id=retried))
        await wait_until_blocked(db)
        await first.rollback()
    assert await asyncio.wait_for(retry, 10) is None
    [row] = await rows(db)
    assert row.resource_id == retried


async def test_a_concurrent_different_request_is_refused_once_the_first_commits(db: Db) -> None:
    async with db.sessions() as first:
        await first.begin()
        await claim(first, fingerprint="f1")
        other = asyncio.create_task(committed_claim(db, fingerprint="f2"))
        await wait_until_blocked(db)
        await first.commit()
    with pytest.raises(InvalidArgument):
        await asyncio.wait_for(other, 10)


async def test_many_simultaneous_retries_make_one_resource(db: Db) -> None:
    proposed = [new_id() for _ in range(10)]
    results = await asyncio.gather(*(committed_claim(db, resource_id=made) for made in proposed))
    winners = [made for made, result in zip(proposed, results, strict=True) if result is None]
    assert len(winners) == 1
    assert all(result in (None, winners[0]) for result in results)
    [row] = await rows(db)
    assert row.resource_id == winners[0]


# --- pruning -------------------------------------------------------------------------------------------


async def test_prune_deletes_expired_ids_only(db: Db) -> None:
    await committed_claim(db, request_id="old", now=NOW - timedelta(hours=30))
    await committed_claim(db, request_id="edge", now=NOW - idempotency.TTL)
    await committed_claim(db, request_id="fresh", now=NOW - timedelta(hours=1))
    async with db.sessions() as session, session.begin():
        assert await idempotency.prune(session, now=NOW) == 2
    assert [row.request_id for row in await rows(db)] == ["fresh"]
    async with db.sessions() as session, session.begin():
        assert await idempotency.prune(session, now=NOW) == 0


async def test_prune_with_a_limit_takes_the_oldest_first_in_batches(db: Db) -> None:
    for hours, request_id in ((50, "oldest"), (40, "older"), (30, "old"), (1, "fresh")):
        await committed_claim(db, request_id=request_id, now=NOW - timedelta(hours=hours))
    async with db.sessions() as session, session.begin():
        assert await idempotency.prune(session, now=NOW, limit=2) == 2
    assert [row.request_id for row in await rows(db)] == ["fresh", "old"]
    async with db.sessions() as session, session.begin():
        assert await idempotency.prune(session, now=NOW, limit=2) == 1
    assert [row.request_id for row in await rows(db)] == ["fresh"]
