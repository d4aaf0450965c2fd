"""Data exports over gRPC (UserService.CreateExport, GetExport, DownloadExport), with the user service's real job
worker gathering every real service's part (PrivacyService.ExportUserData, with the user service's own service
token) into one zip.

- The archive: one JSON file per service, each holding what that service knows of the person (their email and
  sessions in user.json, their chores in task.json, their notifications in notify.json, their completions in
  analytics.json).
- Owner only: another person's export id, a name under another user, an id that is no id: NOT_FOUND (or
  INVALID_ARGUMENT for a malformed name); an API key cannot (test_privacy_rpc.py).
- All or nothing: a service that fails fails the run, which is retried, and after the last attempt the export is
  failed with the reason and no archive; the download refuses it.
- Expiry: from `expire_time` both answer GONE, and the prune job drops the archive.
- Floods: one pending export at a time (asking again answers it; one job), at most KEPT_PER_PERSON kept.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import sqlalchemy as sa
from hearth.task.v1 import task_pb2, task_pb2_grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.user.exports import (
    EXPORT_USER_DATA,
    KEPT_PER_PERSON,
    ExportFailed,
    RemoteParts,
    prune_exports,
    run_export,
)
from services.user.models import Export
from services.user.tests.helpers import until_past
from tests.support.events import settled
from tests.support.fixtures import redis_fixture, stack_fixture
from tests.support.infra import unique
from tests.support.jobs import run_user_jobs, user_worker_settings
from tests.support.people import PASSWORD, Person, household, register
from tests.support.rpc import refused
from tests.support.stack import FAST_PASSWORDS, Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task", "notify", "analytics"], settings_overrides={"user": FAST_PASSWORDS})
redis = redis_fixture()
CLOSED = "127.0.0.1:1"  # nothing listens there


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def users(stack: Stack) -> AsyncIterator[user_pb2_grpc.UserServiceStub]:
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        yield user_pb2_grpc.UserServiceStub(channel)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def db(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(stack.databases["user"])
    yield engine
    await engine.dispose()


async def create(users: user_pb2_grpc.UserServiceStub, person: Person, request_id: str = "") -> user_pb2.Export:
    return await users.CreateExport(user_pb2.CreateExportRequest(request_id=request_id), metadata=person.metadata)


async def get(users: user_pb2_grpc.UserServiceStub, person: Person, name: str) -> user_pb2.Export:
    return await users.GetExport(user_pb2.GetExportRequest(name=name), metadata=person.metadata)


async def download(users: user_pb2_grpc.UserServiceStub, person: Person, name: str) -> bytes:
    call = users.DownloadExport(user_pb2.DownloadExportRequest(name=name), metadata=person.metadata)
    return b"".join([chunk.data async for chunk in call])


def mine(export: user_pb2.Export) -> str:
    """The export's name as its owner says it (users/me/exports/{id})."""
    return f"users/me/exports/{export.name.rsplit('/', 1)[1]}"


async def jobs_of(db: AsyncEngine, export: user_pb2.Export) -> list[str]:
    async with db.connect() as conn:
        rows = await conn.scalars(
            sa.text(
                "SELECT status::text FROM procrastinate.procrastinate_jobs"
                " WHERE task_name = :task AND args ->> 'export_id' = :id ORDER BY id"
            ),
            {"task": EXPORT_USER_DATA, "id": export.name.rsplit("/", 1)[1]},
        )
        return list(rows)


def files(archive: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return {name: json.loads(opened.read(name)) for name in opened.namelist()}


async def with_a_chore(stack: Stack) -> tuple[Person, str]:
    """Someone who owns a household with a chore of theirs, completed (so every service holds something of them)."""
    home = await household(stack)
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        chores = task_pb2_grpc.ChoreServiceStub(channel)
        title = unique("Windows")
        chore = await chores.CreateChore(
            task_pb2.CreateChoreRequest(
                parent=home.name,
                chore=task_pb2.Chore(
                    title=title,
                    points=5,
                    recurrence=task_pb2.Recurrence(once=task_pb2.Recurrence.Once()),
                    assignment=task_pb2.Assignment(strategy=task_pb2.Assignment.FIXED, assignees=[home.owner.name]),
                ),
            ),
            metadata=home.owner.metadata,
        )
        await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=home.owner.metadata)
    return home.owner, title


async def test_an_export_gathers_every_service_into_one_zip(
    stack: Stack, users: user_pb2_grpc.UserServiceStub, db: AsyncEngine, redis: aioredis.Redis
) -> None:
    person, title = await with_a_chore(stack)
    made = await create(users, person)
    assert made.state == user_pb2.Export.PENDING
    assert (await get(users, person, mine(made))).state == user_pb2.Export.PENDING
    not_yet = await refused(download(users, person, mine(made)))
    assert not_yet.code == grpc.StatusCode.ABORTED

    await settled(stack, redis)  # notify and analytics have heard of the completion
    await run_user_jobs(stack)

    done = await get(users, person, mine(made))
    assert done.state == user_pb2.Export.DONE
    assert done.expire_time.ToDatetime(tzinfo=UTC) > datetime.now(UTC)
    archive = await download(users, person, mine(made))
    assert done.size_bytes == len(archive) > 0
    contents = files(archive)
    assert set(contents) == {"user.json", "task.json", "notify.json", "analytics.json"}
    assert {part["service"] for part in contents.values()} == {"user", "task", "notify", "analytics"}
    assert all(part["user"] == person.name for part in contents.values())
    profile = contents["user.json"]["profile"]
    assert profile["display_name"] == person.display_name
    assert "@" in profile["email"]
    assert contents["user.json"]["sessions"]
    assert contents["user.json"]["memberships"][0]["role"] == "owner"
    assert title in json.dumps(contents["task.json"], ensure_ascii=False)
    assert [c["completed_by"] for c in contents["task.json"]["completions"]] == [person.name]
    assert len(contents["analytics.json"]["completions"]) == 1
    assert isinstance(contents["notify.json"]["notifications"], list)
    secrets = json.dumps(contents["user.json"])
    assert "password" not in secrets.replace("password_change_time", "")
    assert "refresh" not in secrets
    # The same name with the owner's id works too; the job ran once.
    assert await download(users, person, made.name) == archive
    assert await jobs_of(db, made) == ["succeeded"]


async def test_only_the_owner_sees_or_downloads_an_export(stack: Stack, users: user_pb2_grpc.UserServiceStub) -> None:
    owner, other = await register(stack, "Owner"), await register(stack, "Nosy")
    made = await create(users, owner)
    await run_user_jobs(stack)
    export_id = made.name.rsplit("/", 1)[1]

    for name in (mine(made), made.name, f"users/{other.user_id}/exports/{export_id}"):
        for call in (get(users, other, name), download(users, other, name)):
            assert (await refused(call)).code == grpc.StatusCode.NOT_FOUND, name
    for name in (f"users/me/exports/{uuid.uuid4()}", "users/me/exports/not-an-id"):
        assert (await refused(get(users, owner, name))).code == grpc.StatusCode.NOT_FOUND
    assert (await refused(get(users, owner, "exports/x"))).code == grpc.StatusCode.INVALID_ARGUMENT
    anonymous = [
        users.GetExport(user_pb2.GetExportRequest(name=mine(made))),
        users.CreateExport(user_pb2.CreateExportRequest()),
        users.DeleteUser(user_pb2.DeleteUserRequest(name="users/me", password=PASSWORD)),
    ]
    for call in anonymous:
        assert (await refused(call)).code == grpc.StatusCode.UNAUTHENTICATED


# --- all or nothing ----------------------------------------------------------------------------------------


async def test_a_service_that_fails_fails_the_export_with_no_archive(
    stack: Stack, users: user_pb2_grpc.UserServiceStub, db: AsyncEngine
) -> None:
    person = await register(stack, "Unlucky")
    made = await create(users, person)

    await run_user_jobs(stack, task_addr=CLOSED, export_max_attempts=1, export_call_timeout_seconds=2)

    failed = await get(users, person, mine(made))
    assert failed.state == user_pb2.Export.FAILED
    assert "task" in failed.error
    assert "UNAVAILABLE" in failed.error
    assert failed.size_bytes == 0
    assert not failed.HasField("expire_time")
    assert (await refused(download(users, person, mine(made)))).code == grpc.StatusCode.ABORTED
    async with db.connect() as conn:
        assert (
            await conn.scalar(sa.select(Export.archive).where(Export.id == uuid.UUID(made.name.rsplit("/")[-1])))
            is None
        )
    # The failed one does not block a new one.
    again = await create(users, person)
    assert again.name != made.name
    assert again.state == user_pb2.Export.PENDING


async def test_a_failed_run_is_tried_again_before_the_export_fails(
    stack: Stack, users: user_pb2_grpc.UserServiceStub
) -> None:
    person = await register(stack, "Patient")
    made = await create(users, person)
    export_id = uuid.UUID(made.name.rsplit("/", 1)[1])
    sessions = stack.servers["user"].runtime.sessions
    runs: list[str] = []

    async def flaky(user_id: uuid.UUID) -> dict[str, dict[str, Any]]:
        runs.append(str(user_id))
        if len(runs) == 1:
            raise ExportFailed("the notify service did not give its part (UNAVAILABLE)")
        return {name: {"service": name, "user": f"users/{user_id}"} for name in ("task", "notify", "analytics")}

    with pytest.raises(ExportFailed):  # not the last attempt: raised, for the queue to run it again
        await run_export(sessions, export_id, gather=flaky, ttl=timedelta(hours=1), final_attempt=False)
    assert (await get(users, person, mine(made))).state == user_pb2.Export.PENDING
    assert await run_export(sessions, export_id, gather=flaky, ttl=timedelta(hours=1), final_attempt=False) == "done"
    assert set(files(await download(users, person, mine(made)))) == {
        "user.json",
        "task.json",
        "notify.json",
        "analytics.json",
    }
    # Run again (a job run twice): nothing happens.
    assert await run_export(sessions, export_id, gather=flaky, ttl=timedelta(hours=1), final_attempt=True) == "skipped"
    assert len(runs) == 2


async def test_the_queue_retries_a_run_that_failed(stack: Stack, users: user_pb2_grpc.UserServiceStub) -> None:
    person = await register(stack, "Queued")
    made = await create(users, person)
    failures = []

    async def once_broken(user_id: uuid.UUID) -> dict[str, dict[str, Any]]:
        if not failures:
            failures.append(user_id)
            raise ExportFailed("the analytics service did not give its part (DEADLINE_EXCEEDED)")
        return await RemoteParts(user_worker_settings(stack))(user_id)

    async def finished() -> bool:
        await run_user_jobs(stack, gather=once_broken, export_max_attempts=3)
        return (await get(users, person, mine(made))).state == user_pb2.Export.DONE

    await eventually(finished, interval=0.05)  # the retry is due after its (test-sized) backoff
    assert failures


# --- expiry ------------------------------------------------------------------------------------------------


async def test_an_expired_export_is_gone_and_its_archive_dropped(
    stack: Stack, users: user_pb2_grpc.UserServiceStub, db: AsyncEngine
) -> None:
    person = await register(stack, "Late")
    made = await create(users, person)
    await run_user_jobs(stack, export_ttl_hours=0.5 / 3600)  # half a second
    done = await get(users, person, mine(made))
    expires = done.expire_time.ToDatetime(tzinfo=UTC)
    await until_past(expires)

    for call in (get(users, person, mine(made)), download(users, person, mine(made))):
        refusal = await refused(call)
        assert (refusal.code, refusal.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "GONE")
    export_id = uuid.UUID(made.name.rsplit("/", 1)[1])
    sessions = stack.servers["user"].runtime.sessions
    after = int(expires.timestamp()) + 1  # the job's scheduled time, in whole seconds
    assert await prune_exports(sessions, after) == 1
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(Export.archive).where(Export.id == export_id)) is None
    assert await prune_exports(sessions, after) == 0  # nothing more


# --- floods ------------------------------------------------------------------------------------------------


async def test_a_flood_of_requests_makes_one_export_and_one_job(
    stack: Stack, users: user_pb2_grpc.UserServiceStub, db: AsyncEngine
) -> None:
    person = await register(stack, "Flooder")
    made = await asyncio.gather(*(create(users, person) for _ in range(20)))
    assert len({m.name for m in made}) == 1
    assert await jobs_of(db, made[0]) == ["todo"]
    # A request id replayed after the export is done answers that export, not a new one.
    key = unique("retry")
    await run_user_jobs(stack)
    first = await create(users, person, request_id=key)
    assert first.state == user_pb2.Export.PENDING
    assert first.name != made[0].name
    await run_user_jobs(stack)
    replayed = await create(users, person, request_id=key)
    assert (replayed.name, replayed.state) == (first.name, user_pb2.Export.DONE)


async def test_only_the_newest_exports_are_kept(stack: Stack, users: user_pb2_grpc.UserServiceStub) -> None:
    person = await register(stack, "Hoarder")
    made = []
    for _ in range(KEPT_PER_PERSON + 2):
        made.append(await create(users, person))
        await run_user_jobs(stack)
    for old in made[:2]:
        assert (await refused(get(users, person, mine(old)))).code == grpc.StatusCode.NOT_FOUND
    for kept in made[2:]:
        assert (await get(users, person, mine(kept))).state == user_pb2.Export.DONE


async def test_a_deleted_account_takes_its_exports_with_it(
    stack: Stack, users: user_pb2_grpc.UserServiceStub, db: AsyncEngine
) -> None:
    person = await register(stack, "Vanishing")
    done = await create(users, person)
    await run_user_jobs(stack)
    pending = await create(users, person)
    await users.DeleteUser(user_pb2.DeleteUserRequest(name="users/me", password=PASSWORD), metadata=person.metadata)

    await run_user_jobs(stack)  # the pending export's job finds nothing to do
    async with db.connect() as conn:
        left = await conn.scalar(
            sa.select(sa.func.count()).select_from(Export).where(Export.user_id == uuid.UUID(person.user_id))
        )
    assert left == 0
    assert await jobs_of(db, pending) == ["succeeded"]
    assert done.name != pending.name
