"""kit.jobs: the retention jobs delete exactly what they should, on their schedule; failures retry with jittered
backoff; a job enqueued in a transaction lives and dies with it; a worker killed mid-job loses no job and the
job's effect happens once.

Every test runs against a fresh database migrated with the notify service's migrations (it has the outbox,
the inbox and, through its job-queue migration, the queue), and real procrastinate workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import procrastinate
import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kit import idempotency, jobs
from kit.db import asyncpg_dsn, create_engine, session_factory
from kit.migrations import upgrade
from services.notify.config import Settings
from tests.support.infra import ROOT
from tests.support.jobs import NEVER, running_worker
from tests.support.wait import eventually

DAY = dt.timedelta(days=1)


@dataclass
class QueueDb:
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"database_url": self.url, "prune_cron": NEVER, "jobs_recovery_cron": NEVER}
        return Settings(**(values | overrides))

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.sessions() as session:
            return await session.scalar(sa.text(sql), params)

    async def job(self, job_id: int) -> tuple[str, int]:
        async with self.sessions() as session:
            row = (
                await session.execute(
                    sa.text("SELECT status::text, attempts FROM procrastinate.procrastinate_jobs WHERE id = :id"),
                    {"id": job_id},
                )
            ).one()
        return row[0], row[1]

    async def outbox_ids(self) -> set[int]:
        async with self.sessions() as session:
            return set((await session.scalars(sa.text("SELECT id FROM outbox"))).all())

    async def inbox_types(self) -> set[str]:
        async with self.sessions() as session:
            return set((await session.scalars(sa.text("SELECT event_type FROM inbox"))).all())


@pytest.fixture
async def queue_db(fresh_database) -> AsyncIterator[QueueDb]:
    url = await fresh_database("jobs")
    await asyncio.to_thread(upgrade, ROOT / "services" / "notify", url)
    engine = create_engine(url, pool_size=4)
    yield QueueDb(url, engine, session_factory(engine))
    await engine.dispose()


async def add_outbox_row(db: QueueDb, *, published_at: dt.datetime | None, label: str = "x") -> int:
    async with db.sessions() as session, session.begin():
        row_id = await session.scalar(
            sa.text(
                "INSERT INTO outbox (event_id, event_type, envelope, created_at, published_at) "
                "VALUES (:event_id, :label, '\\x00', :created_at, :published_at) RETURNING id"
            ),
            {
                "event_id": uuid.uuid4(),
                "label": label,
                "created_at": (published_at or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=1),
                "published_at": published_at,
            },
        )
    return int(row_id)


async def add_inbox_row(db: QueueDb, *, handled_at: dt.datetime, label: str) -> None:
    async with db.sessions() as session, session.begin():
        await session.execute(
            sa.text("INSERT INTO inbox (event_id, event_type, handled_at) VALUES (:id, :label, :at)"),
            {"id": uuid.uuid4(), "label": label, "at": handled_at},
        )


# --- the retention jobs -------------------------------------------------------------------------------------


async def test_prune_outbox_deletes_published_rows_older_than_the_retention_and_nothing_else(queue_db: QueueDb) -> None:
    now = dt.datetime.now(dt.UTC)
    old_published = [await add_outbox_row(queue_db, published_at=now - 10 * DAY) for _ in range(5)]
    recent = await add_outbox_row(queue_db, published_at=now - 6 * DAY)
    unpublished = await add_outbox_row(queue_db, published_at=None)  # never pruned, however old: still owed
    async with queue_db.sessions() as session, session.begin():
        await session.execute(
            sa.text("UPDATE outbox SET created_at = :t WHERE id = :id"), {"t": now - 90 * DAY, "id": unpublished}
        )
    assert len(old_published) == 5

    settings = queue_db.settings()
    async with queue_db.sessions() as session, session.begin():
        job_id = await jobs.defer_in(
            session, jobs.PRUNE_OUTBOX, timestamp=int(now.timestamp()), retention_days=7, batch_size=2
        )
    await jobs.run_worker(settings, install_signal_handlers=False, wait=False)

    assert await queue_db.outbox_ids() == {recent, unpublished}
    assert await queue_db.job(job_id) == ("succeeded", 1)


async def test_prune_inbox_deletes_rows_handled_before_the_retention(queue_db: QueueDb) -> None:
    now = dt.datetime.now(dt.UTC)
    for n in range(3):
        await add_inbox_row(queue_db, handled_at=now - 31 * DAY, label=f"old {n}")
    await add_inbox_row(queue_db, handled_at=now - 29 * DAY, label="recent")
    async with queue_db.sessions() as session, session.begin():
        job_id = await jobs.defer_in(session, jobs.PRUNE_INBOX, timestamp=int(now.timestamp()), retention_days=30)
    await jobs.run_worker(queue_db.settings(), install_signal_handlers=False, wait=False)

    assert await queue_db.inbox_types() == {"recent"}
    assert await queue_db.job(job_id) == ("succeeded", 1)


async def test_a_rerun_of_a_prune_job_deletes_nothing_more(queue_db: QueueDb) -> None:
    """The cutoff comes from the scheduled time, not the clock: the same job run twice has one effect."""
    scheduled = dt.datetime.now(dt.UTC) - 2 * DAY
    # Older than 7 days at the scheduled time, or only now: a rerun must not take the second.
    due = await add_outbox_row(queue_db, published_at=scheduled - 8 * DAY)
    only_now = await add_outbox_row(queue_db, published_at=scheduled - 6 * DAY)
    for _ in range(2):
        async with queue_db.sessions() as session, session.begin():
            await jobs.defer_in(session, jobs.PRUNE_OUTBOX, timestamp=int(scheduled.timestamp()), retention_days=7)
        await jobs.run_worker(queue_db.settings(), install_signal_handlers=False, wait=False)
        assert await queue_db.outbox_ids() == {only_now}
    assert due not in await queue_db.outbox_ids()


async def test_prune_request_ids_deletes_expired_ones_only_and_nothing_where_there_are_none(
    queue_db: QueueDb, fresh_database
) -> None:
    # notify keeps no request ids: the job succeeds and does nothing.
    async with queue_db.sessions() as session, session.begin():
        idle = await jobs.defer_in(session, jobs.PRUNE_REQUEST_IDS, timestamp=int(time.time()))
    await jobs.run_worker(queue_db.settings(), install_signal_handlers=False, wait=False)
    assert await queue_db.job(idle) == ("succeeded", 1)

    url = await fresh_database("jobs_task")
    await asyncio.to_thread(upgrade, ROOT / "services" / "task", url)
    from services.task.config import Settings as TaskSettings

    engine = create_engine(url, pool_size=2)
    sessions = session_factory(engine)
    scheduled = dt.datetime.now(dt.UTC)
    try:
        async with sessions() as session, session.begin():
            for request_id, age in (
                ("expired", idempotency.TTL + dt.timedelta(minutes=1)),
                ("live", dt.timedelta(hours=1)),
            ):
                await idempotency.claim(
                    session,
                    scope="Test",
                    caller=uuid.uuid4(),
                    request_id=request_id,
                    fingerprint="f",
                    resource_id=uuid.uuid4(),
                    now=scheduled - age,
                )
            await jobs.defer_in(session, jobs.PRUNE_REQUEST_IDS, timestamp=int(scheduled.timestamp()))
        settings = TaskSettings(database_url=url, prune_cron=NEVER, jobs_recovery_cron=NEVER)
        await jobs.run_worker(settings, install_signal_handlers=False, wait=False)
        async with sessions() as session:
            left = (await session.scalars(sa.text("SELECT request_id FROM idempotency_keys"))).all()
        assert left == ["live"]
    finally:
        await engine.dispose()


async def test_a_service_without_an_inbox_prunes_nothing_and_succeeds(fresh_database) -> None:
    url = await fresh_database("jobs_user")
    await asyncio.to_thread(upgrade, ROOT / "services" / "user", url)
    from services.user.config import Settings as UserSettings

    settings = UserSettings(database_url=url, prune_cron=NEVER, jobs_recovery_cron=NEVER)
    engine = create_engine(url, pool_size=2)
    try:
        async with session_factory(engine)() as session, session.begin():
            job_id = await jobs.defer_in(session, jobs.PRUNE_INBOX, timestamp=int(time.time()), retention_days=1)
        await jobs.run_worker(settings, install_signal_handlers=False, wait=False)
        async with session_factory(engine)() as session:
            status = await session.scalar(
                sa.text("SELECT status::text FROM procrastinate.procrastinate_jobs WHERE id = :id"), {"id": job_id}
            )
    finally:
        await engine.dispose()
    assert status == "succeeded"


# --- schedules ------------------------------------------------------------------------------------------------


def test_retention_and_recovery_are_registered_on_the_configured_crons(queue_db: QueueDb) -> None:
    settings = queue_db.settings(
        prune_cron="*/5 * * * *", jobs_recovery_cron="*/2 * * * *", outbox_retention_days=3, inbox_retention_days=45
    )
    app = jobs.create_app(settings)
    periodic = {task.name: p for (task, _), p in _by_task(app).items()}
    assert periodic[jobs.PRUNE_OUTBOX].cron == "*/5 * * * *"
    assert periodic[jobs.PRUNE_OUTBOX].configure_kwargs["task_kwargs"]["retention_days"] == 3
    assert periodic[jobs.PRUNE_INBOX].cron == "*/5 * * * *"
    assert periodic[jobs.PRUNE_INBOX].configure_kwargs["task_kwargs"]["retention_days"] == 45
    assert periodic[jobs.PRUNE_REQUEST_IDS].cron == "*/5 * * * *"
    assert periodic[jobs.RETRY_STALLED_JOBS].cron == "*/2 * * * *"
    assert periodic[jobs.REMOVE_OLD_JOBS].configure_kwargs["task_kwargs"] == {"max_hours": jobs.JOB_HISTORY_DAYS * 24}


def _by_task(app: procrastinate.App) -> dict[tuple[Any, str], Any]:
    return {(p.task, p.periodic_id): p for p in app.periodic_registry.periodic_tasks.values()}


@pytest.mark.parametrize("field", ["prune_cron", "jobs_recovery_cron"])
def test_a_malformed_cron_is_refused_when_the_settings_load(field: str) -> None:
    with pytest.raises(ValidationError, match="not a cron expression"):
        Settings(**{field: "every day at noon"})


@pytest.mark.parametrize("field", ["outbox_retention_days", "inbox_retention_days", "jobs_heartbeat_seconds"])
def test_a_retention_or_heartbeat_of_zero_is_refused(field: str) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: 0})


async def test_the_worker_prunes_on_its_schedule_without_anyone_deferring(queue_db: QueueDb) -> None:
    now = dt.datetime.now(dt.UTC)
    old = await add_outbox_row(queue_db, published_at=now - 30 * DAY)
    kept = await add_outbox_row(queue_db, published_at=now - DAY)
    await add_inbox_row(queue_db, handled_at=now - 60 * DAY, label="old")
    await add_inbox_row(queue_db, handled_at=now - DAY, label="kept")

    async with running_worker(queue_db.settings(prune_cron="* * * * * *")):  # every second

        async def pruned() -> bool:
            return old not in await queue_db.outbox_ids() and await queue_db.inbox_types() == {"kept"}

        await eventually(pruned, timeout=15)
    assert await queue_db.outbox_ids() == {kept}
    periodic = await queue_db.scalar(
        "SELECT count(*) FROM procrastinate.procrastinate_periodic_defers WHERE task_name = :t", t=jobs.PRUNE_OUTBOX
    )
    assert periodic >= 1  # deferred by the schedule, not by the test


# --- retries --------------------------------------------------------------------------------------------------


def test_jittered_backoff_grows_exponentially_within_its_jitter_and_gives_up() -> None:
    strategy = jobs.JitteredBackoff(max_attempts=4, base=1.0, cap=5.0)
    for attempts, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 5.0), (10, 5.0)]:
        delays = {strategy.delay(attempts) for _ in range(200)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays), attempts
        assert len(delays) > 1  # jittered, not one fixed delay
    job = procrastinate.jobs.Job(id=1, queue="default", lock=None, queueing_lock=None, task_name="t", attempts=2)
    decision = strategy.get_retry_decision(exception=RuntimeError(), job=job)
    assert decision is not None
    assert decision.retry_at is not None
    wait = (decision.retry_at - dt.datetime.now(dt.UTC)).total_seconds()
    assert 1.9 <= wait <= 4.0
    assert strategy.get_retry_decision(exception=RuntimeError(), job=job.evolve(attempts=3)) is None  # 4th run failed
    with pytest.raises(ValueError, match="at least 1"):
        jobs.JitteredBackoff(max_attempts=0)


def test_a_permanent_failure_is_not_retried_and_any_other_is() -> None:
    strategy = jobs.BackoffUnlessPermanent(max_attempts=5, base=1.0, cap=5.0)
    job = procrastinate.jobs.Job(id=1, queue="default", lock=None, queueing_lock=None, task_name="t", attempts=0)

    class Refused(jobs.Permanent):
        pass

    assert strategy.get_retry_decision(exception=Refused("550 no such user"), job=job) is None
    assert strategy.get_retry_decision(exception=RuntimeError("451 try later"), job=job) is not None
    assert strategy.get_retry_decision(exception=RuntimeError(), job=job.evolve(attempts=4)) is None  # the last run


async def test_a_failing_job_is_retried_after_a_backoff_then_succeeds(queue_db: QueueDb) -> None:
    settings = queue_db.settings()
    app = jobs.create_app(settings)
    runs: list[float] = []

    @app.task(name="test.flaky", retry=jobs.JitteredBackoff(max_attempts=3, base=0.4, cap=1.0))
    async def flaky() -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            raise RuntimeError("the first run fails")

    async with queue_db.sessions() as session, session.begin():
        job_id = await jobs.defer_in(session, "test.flaky")
    async with running_worker(settings, app):

        async def done() -> bool:
            return (await queue_db.job(job_id))[0] == "succeeded"

        await eventually(done, timeout=15)
    assert len(runs) == 2
    assert runs[1] - runs[0] >= 0.2  # backoff_delay(0, base=0.4) is at least 0.4 x 0.5
    assert await queue_db.job(job_id) == ("succeeded", 2)


async def test_a_job_that_keeps_failing_ends_failed_and_visible(queue_db: QueueDb) -> None:
    settings = queue_db.settings()
    app = jobs.create_app(settings)

    @app.task(name="test.broken", retry=jobs.JitteredBackoff(max_attempts=2, base=0.05, cap=0.1))
    async def broken() -> None:
        raise RuntimeError("always")

    async with queue_db.sessions() as session, session.begin():
        job_id = await jobs.defer_in(session, "test.broken")
    async with running_worker(settings, app):

        async def failed() -> bool:
            return (await queue_db.job(job_id))[0] == "failed"

        await eventually(failed, timeout=15)
    assert await queue_db.job(job_id) == ("failed", 2)
    async with queue_db.sessions() as session:
        assert (await jobs.queue_counts(session))[("test.broken", "failed")] == 1


# --- transactional enqueue --------------------------------------------------------------------------------------


async def test_a_job_deferred_in_a_transaction_exists_only_if_it_commits(queue_db: QueueDb) -> None:
    settings = queue_db.settings()
    app = jobs.create_app(settings)
    seen: list[str] = []

    @app.task(name="test.record")
    async def record(word: str) -> None:
        seen.append(word)

    async def failing_change() -> None:
        async with queue_db.sessions() as session, session.begin():
            await jobs.defer_in(session, "test.record", word="rolled back")
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with queue_db.sessions() as session, session.begin():
        job_id = await jobs.defer_in(session, "test.record", word="committed")

    await jobs.run_worker(settings, app=app, install_signal_handlers=False, wait=False)
    assert seen == ["committed"]
    assert await queue_db.job(job_id) == ("succeeded", 1)
    assert (
        await queue_db.scalar("SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE task_name = 'test.record'")
        == 1
    )


# --- a worker killed mid-job --------------------------------------------------------------------------------------


@contextlib.contextmanager
def worker_process(url: str) -> Iterator[subprocess.Popen[bytes]]:
    env = os.environ | {
        "NOTIFY_DATABASE_URL": url,
        "NOTIFY_PRUNE_CRON": NEVER,
        "NOTIFY_JOBS_RECOVERY_CRON": "* * * * * *",
        "NOTIFY_JOBS_HEARTBEAT_SECONDS": "0.5",
        "HEARTH_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.notify", "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def test_a_worker_killed_mid_job_loses_nothing_and_the_job_has_its_effect_once(queue_db: QueueDb) -> None:
    now = dt.datetime.now(dt.UTC)
    old = [await add_outbox_row(queue_db, published_at=now - 10 * DAY) for _ in range(6)]
    kept = {await add_outbox_row(queue_db, published_at=None), await add_outbox_row(queue_db, published_at=now)}
    blocker = await asyncpg.connect(asyncpg_dsn(queue_db.url))
    try:
        # Hold a lock on the 4th old row: the job deletes batch 1 (rows 1-2), commits, then blocks in batch 2.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT 1 FROM outbox WHERE id = $1 FOR UPDATE", old[3])
        async with queue_db.sessions() as session, session.begin():
            job_id = await jobs.defer_in(
                session, jobs.PRUNE_OUTBOX, timestamp=int(now.timestamp()), retention_days=7, batch_size=2
            )

        with worker_process(queue_db.url) as first:

            async def blocked_mid_job() -> bool:
                waiting = await queue_db.scalar(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                return bool(waiting) and old[0] not in await queue_db.outbox_ids()

            await eventually(blocked_mid_job, timeout=20)
            assert await queue_db.job(job_id) == ("doing", 0)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        await transaction.rollback()
    finally:
        await blocker.close()
    assert await queue_db.job(job_id) == ("doing", 0)  # nobody finished it: the worker died mid-job

    with worker_process(queue_db.url):

        async def finished() -> bool:
            return (await queue_db.job(job_id))[0] == "succeeded"

        await eventually(finished, timeout=30, interval=0.1)

    assert await queue_db.outbox_ids() == kept  # exactly the old published rows went, each once
    status, attempts = await queue_db.job(job_id)
    assert (status, attempts) == ("succeeded", 2)  # picked up again after the kill, not run a third time
    jobs_for_task = await queue_db.scalar(
        "SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE task_name = :t", t=jobs.PRUNE_OUTBOX
    )
    assert jobs_for_task == 1


def test_routine_job_lines_are_dropped_but_retries_and_failures_are_kept() -> None:
    keep = jobs.RoutineJobLogs()

    def record(name: str, level: int, action: str) -> logging.LogRecord:
        made = logging.LogRecord(name, level, __file__, 1, "msg", None, None)
        made.action = action
        return made

    assert not keep.filter(record("procrastinate.worker.task-worker", logging.INFO, "job_success"))
    assert not keep.filter(record("procrastinate.periodic", logging.INFO, "periodic_task_deferred"))
    assert keep.filter(record("procrastinate.worker", logging.INFO, "job_error_retry"))  # a retry is INFO
    assert keep.filter(record("procrastinate.worker", logging.ERROR, "job_error"))
    assert keep.filter(record("hearth.jobs", logging.INFO, "job_success"))  # ours are never dropped
