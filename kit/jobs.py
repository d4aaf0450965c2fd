"""Background jobs: one queue library for every service — procrastinate, on the service's own PostgreSQL.

Why procrastinate (and not arq, saq or taskiq on Redis, which DESIGN.md first sketched): a job is a row in
the service's own database, so it can be enqueued in the same transaction as the change that needs it
(`defer_in`: either both commit or neither does — the outbox's guarantee, for jobs), "one database per
service" holds without a second store to back up, and queued / failed jobs are plain rows you can query.
It is asyncio-native, has cron-style periodic tasks, retry strategies, worker heartbeats (so jobs of a
killed worker can be found and retried) and is actively maintained.

Layout in each service's database: the queue lives in its own PostgreSQL schema, `procrastinate`, created by
an Alembic migration of that service (`create_queue_schema`), so it never mixes with the service's tables or
its Alembic model comparison. The worker connects with `search_path=procrastinate,public`; every queue
function is pinned to that schema too, so a service's SQLAlchemy session (search_path `public`) can call
them inside its own transaction.

What every service's worker runs (`python -m services.<name> worker`, one per service under `make run`):

- `hearth.prune_outbox`: delete outbox rows published more than `<NAME>_OUTBOX_RETENTION_DAYS` ago (never an
  unpublished row: the relay still owes it to Redis);
- `hearth.prune_inbox`: delete inbox rows handled more than `<NAME>_INBOX_RETENTION_DAYS` ago (the inbox is
  what makes a redelivered event a no-op, so keep it longer than any event can be redelivered);
- `hearth.prune_request_ids`: delete `request_id` records older than their 24 h life (kit.idempotency; nothing
  in a service without that table);
- all three on `<NAME>_PRUNE_CRON`; `hearth.retry_stalled_jobs` on `<NAME>_JOBS_RECOVERY_CRON` puts the jobs of a
  worker that died mid-job (no heartbeat for 3 x `<NAME>_JOBS_HEARTBEAT_SECONDS`) back in the queue;
- `hearth.remove_old_jobs` daily, so finished jobs do not grow without bound either (failed ones
  stay visible for `JOB_HISTORY_DAYS`).

A job may run more than once (a worker killed between the effect and marking the job done, a retry after a
failure), so every job here is written to have its effect once however often it runs: the prune jobs delete
by a cutoff computed from their *scheduled* time, so a second run deletes nothing the first did not mean to.
Failures retry with exponential backoff and jitter, each wait 50 to 100 % of its step (`JitteredBackoff`;
procrastinate's own `RetryStrategy` has no jitter).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import procrastinate
import sqlalchemy as sa
from procrastinate.exceptions import ConnectorException
from procrastinate.schema import SchemaManager
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import idempotency
from kit.backoff import backoff_delay
from kit.db import asyncpg_dsn, create_engine, session_factory
from kit.settings import ServiceSettings

log = logging.getLogger("hearth.jobs")

# The PostgreSQL schema holding the queue in each service's database.
QUEUE_SCHEMA = "procrastinate"
# The migrations create the schema of exactly this release; see `create_queue_schema`.
QUEUE_SCHEMA_VERSION = "3.10.0"
JOB_HISTORY_DAYS = 7
PRUNE_BATCH_SIZE = 1000
# A worker that has not updated its heartbeat for this many intervals is presumed dead.
STALLED_AFTER_HEARTBEATS = 3

PRUNE_OUTBOX = "hearth.prune_outbox"
PRUNE_INBOX = "hearth.prune_inbox"
PRUNE_REQUEST_IDS = "hearth.prune_request_ids"
RETRY_STALLED_JOBS = "hearth.retry_stalled_jobs"
REMOVE_OLD_JOBS = "hearth.remove_old_jobs"
# What a job of this module finds in `context.additional_context`.
SESSIONS = "sessions"

# The kit tables the retention jobs prune, by name (kit.outbox and kit.events declare them).
_outbox = sa.table("outbox", sa.column("id", sa.BigInteger), sa.column("published_at", sa.DateTime(timezone=True)))
_inbox = sa.table("inbox", sa.column("event_id"), sa.column("handled_at", sa.DateTime(timezone=True)))


class JitteredBackoff(procrastinate.BaseRetryStrategy):
    """Retry a failed job after `kit.backoff.backoff_delay(attempts)` seconds — base·2^attempts, capped, times
    a random factor in [0.5, 1) — so jobs that failed together (a database failover) do not all retry at once.
    Gives up after `max_attempts` runs in all; the job then stays `failed` in the queue for someone to see."""

    def __init__(self, *, max_attempts: int = 8, base: float = 2.0, cap: float = 600.0) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.base = base
        self.cap = cap

    def delay(self, attempts: int) -> float:
        """Seconds before the next run of a job that has failed `attempts + 1` times."""
        return backoff_delay(attempts, base=self.base, cap=self.cap)

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> procrastinate.RetryDecision | None:
        if job.attempts + 1 >= self.max_attempts:
            return None
        retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.delay(job.attempts))
        return procrastinate.RetryDecision(retry_at=retry_at)


DEFAULT_RETRY = JitteredBackoff()


class Permanent(Exception):
    """A job failed in a way another run cannot mend (a server that refused for good, nothing to send it with): with
    `BackoffUnlessPermanent` the job ends failed at once instead of retrying."""


class BackoffUnlessPermanent(JitteredBackoff):
    """`JitteredBackoff`, except that a job that raised `Permanent` is not run again."""

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> procrastinate.RetryDecision | None:
        if isinstance(exception, Permanent):
            return None
        return super().get_retry_decision(exception=exception, job=job)


def _sessions(context: procrastinate.JobContext) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = context.additional_context[SESSIONS]
    return sessions


def _cutoff(timestamp: int, retention_days: float) -> dt.datetime:
    # From the time the job was scheduled for, not the time it runs: a re-run deletes exactly the same rows.
    return dt.datetime.fromtimestamp(timestamp, dt.UTC) - dt.timedelta(days=retention_days)


async def _has_table(sessions: async_sessionmaker[AsyncSession], name: str) -> bool:
    """Whether the service's database has table `name` (a job every service runs may find nothing to prune)."""
    async with sessions() as session:
        return await session.scalar(sa.select(sa.func.to_regclass(name))) is not None


async def _delete_in_batches(
    sessions: async_sessionmaker[AsyncSession], statement: Callable[[int], sa.Delete], batch_size: int
) -> int:
    """Run `statement(batch_size)` in short transactions until a batch deletes fewer rows, so a big backlog
    never holds locks (or bloats one transaction) for long. Returns the rows deleted."""
    deleted = 0
    while True:
        async with sessions() as session, session.begin():
            result = await session.execute(statement(batch_size))
        count = int(getattr(result, "rowcount", 0) or 0)
        deleted += count
        if count < batch_size:
            return deleted


async def prune_outbox(
    context: procrastinate.JobContext, timestamp: int, retention_days: float, batch_size: int = PRUNE_BATCH_SIZE
) -> int:
    """Delete outbox rows published before `timestamp - retention_days`. Unpublished rows are never touched."""
    cutoff = _cutoff(timestamp, retention_days)

    def batch(size: int) -> sa.Delete:
        ids = (
            sa.select(_outbox.c.id)
            .where(_outbox.c.published_at.is_not(None), _outbox.c.published_at < cutoff)
            .order_by(_outbox.c.published_at)  # ix_outbox_published_at
            .limit(size)
        )
        return sa.delete(_outbox).where(_outbox.c.id.in_(ids.scalar_subquery()))

    deleted = await _delete_in_batches(_sessions(context), batch, batch_size)
    log.info("pruned outbox", extra={"deleted": deleted, "cutoff": cutoff.isoformat()})
    return deleted


async def prune_inbox(
    context: procrastinate.JobContext, timestamp: int, retention_days: float, batch_size: int = PRUNE_BATCH_SIZE
) -> int:
    """Delete inbox rows handled before `timestamp - retention_days` (nothing in a service with no inbox)."""
    sessions = _sessions(context)
    if not await _has_table(sessions, _inbox.name):
        return 0  # the service consumes no events
    cutoff = _cutoff(timestamp, retention_days)

    def batch(size: int) -> sa.Delete:
        ids = (
            sa.select(_inbox.c.event_id)
            .where(_inbox.c.handled_at < cutoff)
            .order_by(_inbox.c.handled_at)  # ix_inbox_handled_at
            .limit(size)
        )
        return sa.delete(_inbox).where(_inbox.c.event_id.in_(ids.scalar_subquery()))

    deleted = await _delete_in_batches(sessions, batch, batch_size)
    log.info("pruned inbox", extra={"deleted": deleted, "cutoff": cutoff.isoformat()})
    return deleted


async def prune_request_ids(context: procrastinate.JobContext, timestamp: int) -> int:
    """Delete request ids (kit.idempotency) that expired before the job's scheduled time; nothing in a service
    that keeps none. A second run finds nothing more: expiry is measured from the scheduled time."""
    sessions = _sessions(context)
    if not await _has_table(sessions, idempotency.TABLE):
        return 0
    now = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    deleted = await _delete_in_batches(
        sessions, lambda size: idempotency.expired(now=now, limit=size), PRUNE_BATCH_SIZE
    )
    log.info("pruned request ids", extra={"deleted": deleted})
    return deleted


async def retry_stalled_jobs(context: procrastinate.JobContext, timestamp: int, seconds_since_heartbeat: float) -> int:
    """Put the `doing` jobs of workers silent for `seconds_since_heartbeat` back in the queue (procrastinate's
    documented recovery for a worker killed mid-job). Returns how many were requeued."""
    manager = context.app.job_manager
    requeued = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat):
        try:
            await manager.retry_job(job)
        except ConnectorException:
            # Another worker's recovery requeued it first (it is no longer `doing`).
            log.info("stalled job already requeued", extra={"job_id": job.id})
            continue
        requeued += 1
        log.warning("requeued a job of a dead worker", extra={"job_id": job.id, "task": job.task_name})
    return requeued


async def remove_old_jobs(context: procrastinate.JobContext, timestamp: int, max_hours: int) -> None:
    """Delete jobs finished (succeeded, failed, cancelled, aborted) more than `max_hours` ago, with their events:
    the queue's own table must not grow without bound either."""
    await context.app.job_manager.delete_old_jobs(
        nb_hours=max_hours, include_failed=True, include_cancelled=True, include_aborted=True
    )


# procrastinate's INFO lines for what happens on every tick: with the minutely recovery job on every worker they
# are most of a quiet system's log. Everything else comes through — a retry ("job_error_retry" is INFO),
# a failure, an abort, a worker starting or stopping; HEARTH_LOG_LEVEL=DEBUG keeps these too.
ROUTINE_JOB_LOGS = frozenset(
    {"start_job", "loaded_job_info", "job_success", "finish_task", "periodic_task_deferred", "wait_next_tick"}
)


class RoutineJobLogs(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        routine = record.levelno <= logging.INFO and getattr(record, "action", None) in ROUTINE_JOB_LOGS
        return not (routine and record.name.startswith("procrastinate"))


def _quiet_routine_job_logs() -> None:
    # On the handlers, not the loggers: procrastinate logs through per-worker child loggers
    # ("procrastinate.worker.task-worker"), and a logger's filters do not see its children's records.
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RoutineJobLogs) for f in handler.filters):
            handler.addFilter(RoutineJobLogs())


def worker_dsn(settings: ServiceSettings) -> str:
    """The libpq URL of the service's own database (procrastinate speaks psycopg, the services asyncpg)."""
    return asyncpg_dsn(settings.sqlalchemy_url)


def create_app(settings: ServiceSettings, *blueprints: procrastinate.Blueprint) -> procrastinate.App:
    """The job queue of one service: its own database, the shared retention jobs on their schedules, and the
    service's own tasks (`blueprints`, each added under the service's name as namespace).

    The App is not opened here: the worker (`run_worker`) opens it; code that defers with the App (rather
    than `defer_in`) opens it with `async with app.open_async()`."""
    connector = procrastinate.PsycopgConnector(
        conninfo=worker_dsn(settings),
        kwargs={
            "options": f"-c search_path={QUEUE_SCHEMA},public",
            "application_name": f"hearth-{settings.service}-jobs",
        },
        min_size=1,
        max_size=4,
    )
    app = procrastinate.App(connector=connector)
    heartbeat = settings.jobs_heartbeat_seconds

    outbox = app.task(name=PRUNE_OUTBOX, pass_context=True, retry=DEFAULT_RETRY, lock=PRUNE_OUTBOX)(prune_outbox)
    inbox = app.task(name=PRUNE_INBOX, pass_context=True, retry=DEFAULT_RETRY, lock=PRUNE_INBOX)(prune_inbox)
    request_ids = app.task(name=PRUNE_REQUEST_IDS, pass_context=True, retry=DEFAULT_RETRY, lock=PRUNE_REQUEST_IDS)(
        prune_request_ids
    )
    stalled = app.task(
        name=RETRY_STALLED_JOBS, pass_context=True, queueing_lock=RETRY_STALLED_JOBS, lock=RETRY_STALLED_JOBS
    )(retry_stalled_jobs)
    history = app.task(name=REMOVE_OLD_JOBS, pass_context=True, queueing_lock=REMOVE_OLD_JOBS)(remove_old_jobs)
    app.periodic(
        cron=settings.prune_cron,
        periodic_id="retention",
        queueing_lock=PRUNE_OUTBOX,
        task_kwargs={"retention_days": settings.outbox_retention_days},
    )(outbox)
    app.periodic(
        cron=settings.prune_cron,
        periodic_id="retention",
        queueing_lock=PRUNE_INBOX,
        task_kwargs={"retention_days": settings.inbox_retention_days},
    )(inbox)
    app.periodic(cron=settings.prune_cron, periodic_id="retention", queueing_lock=PRUNE_REQUEST_IDS)(request_ids)
    app.periodic(
        cron=settings.jobs_recovery_cron,
        periodic_id="recovery",
        task_kwargs={"seconds_since_heartbeat": heartbeat * STALLED_AFTER_HEARTBEATS},
    )(stalled)
    app.periodic(
        cron="41 4 * * *",
        periodic_id="history",
        task_kwargs={"max_hours": JOB_HISTORY_DAYS * 24},
    )(history)
    for blueprint in blueprints:
        app.add_tasks_from(blueprint, namespace=settings.service)
    return app


async def run_worker(
    settings: ServiceSettings,
    *blueprints: procrastinate.Blueprint,
    app: procrastinate.App | None = None,
    install_signal_handlers: bool = True,
    wait: bool = True,
    poll_seconds: float = 5.0,
) -> None:
    """Run the service's worker until SIGTERM/SIGINT (then finish the running job, within the grace period);
    with `wait=False`, only until the queue holds nothing due (tests, one-off runs).

    New jobs wake the worker at once (LISTEN/NOTIFY); `poll_seconds` bounds how late it notices a job that
    becomes due later (a retry after its backoff, a scheduled job). Jobs get the service's SQLAlchemy sessions
    as `context.additional_context["sessions"]`."""
    app = app or create_app(settings, *blueprints)
    if settings.log_level.upper() != "DEBUG":
        _quiet_routine_job_logs()
    engine = create_engine(settings.sqlalchemy_url, pool_size=2)
    heartbeat = settings.jobs_heartbeat_seconds
    try:
        async with app.open_async():
            log.info("worker started", extra={"tasks": sorted(app.tasks)})
            await app.run_worker_async(
                name=f"{settings.service}-worker",
                additional_context={SESSIONS: session_factory(engine)},
                update_heartbeat_interval=heartbeat,
                stalled_worker_timeout=heartbeat * STALLED_AFTER_HEARTBEATS,
                shutdown_graceful_timeout=settings.shutdown_grace_seconds,
                install_signal_handlers=install_signal_handlers,
                wait=wait,
                fetch_job_polling_interval=poll_seconds,
            )
    finally:
        await engine.dispose()


async def defer_in(
    session: AsyncSession,
    task_name: str,
    *,
    queue: str = "default",
    priority: int = 0,
    lock: str | None = None,
    queueing_lock: str | None = None,
    scheduled_at: dt.datetime | None = None,
    **task_kwargs: Any,
) -> int:
    """Enqueue a job in `session`'s transaction: it exists if and only if the transaction commits (the outbox
    guarantee, for jobs). Returns the job id. `task_kwargs` must be JSON-serialisable."""
    job_id = await session.scalar(
        sa.text(
            f"SELECT unnest({QUEUE_SCHEMA}.procrastinate_defer_jobs_v1(ARRAY[ROW("
            ":queue, :task, :priority, :lock, :queueing_lock, CAST(:args AS jsonb), :scheduled_at"
            f")]::{QUEUE_SCHEMA}.procrastinate_job_to_defer_v1[]))"
        ),
        {
            "queue": queue,
            "task": task_name,
            "priority": priority,
            "lock": lock,
            "queueing_lock": queueing_lock,
            "args": json.dumps(task_kwargs),
            "scheduled_at": scheduled_at,
        },
    )
    assert job_id is not None
    return int(job_id)


async def defer_many_in(
    session: AsyncSession,
    task_name: str,
    jobs: Sequence[tuple[str | None, Mapping[str, Any]]],
    *,
    queue: str = "default",
    priority: int = 0,
    scheduled_at: dt.datetime | None = None,
) -> list[int]:
    """`defer_in` for many jobs of one task in one round trip: each job is its (lock, task kwargs). Returns the job
    ids in the order given."""
    if not jobs:
        return []
    rows = ", ".join(
        f"ROW(:queue, :task, :priority, :lock_{i}, NULL, CAST(:args_{i} AS jsonb), :scheduled_at)"
        for i in range(len(jobs))
    )
    params: dict[str, Any] = {"queue": queue, "task": task_name, "priority": priority, "scheduled_at": scheduled_at}
    for i, (lock, kwargs) in enumerate(jobs):
        params[f"lock_{i}"] = lock
        params[f"args_{i}"] = json.dumps(dict(kwargs))
    result = await session.scalars(
        sa.text(
            f"SELECT unnest({QUEUE_SCHEMA}.procrastinate_defer_jobs_v1(ARRAY[{rows}]"
            f"::{QUEUE_SCHEMA}.procrastinate_job_to_defer_v1[]))"
        ),
        params,
    )
    return [int(job_id) for job_id in result]


async def queue_counts(session: AsyncSession) -> Mapping[tuple[str, str], int]:
    """How many jobs of each task are in each status (`todo`, `doing`, `failed`, ...): what `make run`'s
    operator or a metrics endpoint looks at."""
    rows = await session.execute(
        sa.text(f"SELECT task_name, status::text, count(*) FROM {QUEUE_SCHEMA}.procrastinate_jobs GROUP BY 1, 2")  # noqa: S608 (constants)
    )
    return {(task, status): int(count) for task, status, count in rows.all()}


def create_queue_schema(op: Any) -> None:
    """In a service's Alembic migration: create the `procrastinate` schema with the queue of release
    `QUEUE_SCHEMA_VERSION`, and pin every queue function's search_path to it.

    The SQL comes from the installed package, so it is checked to be the release this migration was written
    for: upgrading procrastinate means a new migration per service applying the release's delta scripts
    (`procrastinate schema --migrations-path`) and, before that, freezing this one's SQL in place."""
    installed = importlib.metadata.version("procrastinate")
    if installed != QUEUE_SCHEMA_VERSION:
        raise RuntimeError(
            f"procrastinate {installed} is installed but the queue migration creates the {QUEUE_SCHEMA_VERSION} "
            "schema: pin it back, or freeze that schema's SQL into the migration first (see kit/jobs.py)"
        )
    schema_sql = SchemaManager.get_schema()
    pin_functions = f"""
        DO $$
        DECLARE f regprocedure;
        BEGIN
            FOR f IN SELECT p.oid::regprocedure FROM pg_proc p WHERE p.pronamespace = '{QUEUE_SCHEMA}'::regnamespace
            LOOP
                EXECUTE format('ALTER FUNCTION %s SET search_path = {QUEUE_SCHEMA}, pg_catalog', f);
            END LOOP;
        END $$;
    """  # noqa: S608 (constants)
    script = (
        f"CREATE SCHEMA {QUEUE_SCHEMA};\n"
        "SELECT set_config('hearth.search_path', current_setting('search_path'), true);\n"
        f"SELECT set_config('search_path', '{QUEUE_SCHEMA}', true);\n"
        f"{schema_sql}\n"
        "SELECT set_config('search_path', current_setting('hearth.search_path'), true);\n"
        f"{pin_functions}"
    )
    # The schema is many statements with $$-quoted bodies: send it as one simple-protocol script, which
    # asyncpg's execute() does when given no parameters (SQLAlchemy would prepare it, which allows one).
    dbapi_connection = op.get_bind().connection.dbapi_connection
    dbapi_connection.run_async(lambda connection: connection.execute(script))


def drop_queue_schema(op: Any) -> None:
    """The downgrade of `create_queue_schema`: the queue and every job in it go."""
    op.execute(sa.text(f"DROP SCHEMA IF EXISTS {QUEUE_SCHEMA} CASCADE"))
