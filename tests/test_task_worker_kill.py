"""A task worker killed mid-job: `python -m services.task worker` as a real process against the stack's database and
user service, stopped by SIGKILL while its miss scan holds an uncommitted batch (it waits for a PostgreSQL advisory
lock the test holds: TASK_MISS_SCAN_PAUSE_LOCK), then a second worker finds the job of the dead one
(hearth.retry_stalled_jobs, heartbeats made short), runs it again, and the effect is there exactly once: one missed
occurrence, one penalty, one chore.overdue."""

from __future__ import annotations

import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hearth.task.v1 import task_pb2, task_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.jobs import QUEUE_SCHEMA, defer_in
from services.task.jobs import SCAN_MISSED
from services.task.models import OUTCOME_MISSED, PENALTY, Occurrence, PointEntry
from tests.support.events import household_events
from tests.support.fixtures import database_fixture, stack_fixture, stub_fixture
from tests.support.jobs import NEVER, worker_process
from tests.support.people import household
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"])
task_db = database_fixture("task")
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)

PAUSE_LOCK = 4_216_016
# A worker silent for 3 heartbeats (0.6 s) is presumed dead; the recovery job looks every second.
WORKER: dict[str, Any] = {
    "miss_scan_cron": NEVER,
    "reminder_scan_cron": NEVER,
    "rotation_scan_cron": NEVER,
    "prune_cron": NEVER,
    "jobs_recovery_cron": "* * * * * *",
    "jobs_heartbeat_seconds": 0.2,
    "miss_scan_pause_lock": PAUSE_LOCK,
    "log_level": "INFO",
}


async def scalar(engine: AsyncEngine, query: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(sa.text(query), params)).scalar()


async def job_status(engine: AsyncEngine, job_id: int) -> str:
    status = await scalar(
        engine, f"SELECT status::text FROM {QUEUE_SCHEMA}.procrastinate_jobs WHERE id = :id", id=job_id
    )
    return str(status)


async def test_a_job_of_a_killed_worker_is_run_again_and_has_its_effect_once(
    stack: Stack, task_db: AsyncEngine, chores: task_pb2_grpc.ChoreServiceStub, tmp_path: Path
) -> None:
    home = await household(stack, member="member")
    member = home["member"]
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    chore = task_pb2.Chore(
        title="Bins",
        points=5,
        recurrence=task_pb2.Recurrence(
            interval=task_pb2.Recurrence.Interval(every=1, unit=task_pb2.Recurrence.Interval.DAYS)
        ),
        assignment=task_pb2.Assignment(
            strategy=task_pb2.Assignment.ROUND_ROBIN,
            assignees=[member.name, home.owner.name],
            on_miss=task_pb2.Assignment.ADVANCE,
            miss_penalty_points=4,
        ),
    )
    chore.next_due_time.FromDatetime(due)
    made = await chores.CreateChore(
        task_pb2.CreateChoreRequest(parent=home.name, chore=chore), metadata=home.owner.metadata
    )
    chore_id = uuid.UUID(made.name.rsplit("/", 1)[-1])

    async def missed() -> list[Occurrence]:
        async with AsyncSession(task_db) as session:
            query = sa.select(Occurrence).where(Occurrence.chore_id == chore_id, Occurrence.outcome == OUTCOME_MISSED)
            return list(await session.scalars(query))

    async def penalties() -> list[PointEntry]:
        async with AsyncSession(task_db) as session:
            query = sa.select(PointEntry).where(
                PointEntry.household_id == uuid.UUID(home.id), PointEntry.reason == PENALTY
            )
            return list(await session.scalars(query))

    settings = stack.servers["task"].runtime.settings
    log = tmp_path / "workers.log"
    async with task_db.connect() as holder:
        # Held by the test: the first worker's scan stops right before it commits its batch.
        await holder.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": PAUSE_LOCK})
        await holder.commit()
        async with AsyncSession(task_db) as session, session.begin():
            job_id = await defer_in(session, SCAN_MISSED, timestamp=int(datetime.now(UTC).timestamp()))

        with worker_process(settings, log, **WORKER) as first:

            async def waiting_backend() -> int | None:
                # The first worker's connection, mid-transaction, waiting for the lock: the known point mid-job.
                pid = await scalar(
                    task_db,
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :key",
                    key=PAUSE_LOCK,
                )
                return int(pid) if pid is not None else None

            backend = await eventually(waiting_backend, timeout=30)
            assert await job_status(task_db, job_id) == "doing"
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        # Its backend gets the lock once the test lets go, finds its client gone and rolls the batch back.
        await holder.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": PAUSE_LOCK})
        await holder.commit()

    async def backend_gone() -> bool:
        return await scalar(task_db, "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid", pid=backend) == 0

    await eventually(backend_gone, timeout=30)
    assert await missed() == []  # nothing of the killed run was committed
    assert await job_status(task_db, job_id) == "doing"  # and the queue still believes it runs

    with worker_process(settings, log, **WORKER):

        async def succeeded() -> bool:
            return await job_status(task_db, job_id) == "succeeded"

        await eventually(succeeded, timeout=60)
        # Run once more, for good measure: a second run of the scan finds nothing left to do.
        async with AsyncSession(task_db) as session, session.begin():
            again = await defer_in(session, SCAN_MISSED, timestamp=int(datetime.now(UTC).timestamp()))

        async def second_done() -> bool:
            return await job_status(task_db, again) == "succeeded"

        await eventually(second_done, timeout=60)

    [row] = await missed()
    assert (row.due_time, row.assignee_id) == (due, uuid.UUID(member.user_id))
    [entry] = await penalties()
    assert (entry.user_id, entry.delta, entry.occurrence_id) == (uuid.UUID(member.user_id), -4, row.id)
    [overdue] = await household_events(stack, "task", "chore.overdue", home.id)
    assert overdue.source == "task"
    assert len(await household_events(stack, "task", "points.changed", home.id)) == 1
    assert len(await household_events(stack, "task", "chore.assigned", home.id)) == 1
    after = await chores.GetChore(task_pb2.GetChoreRequest(name=made.name), metadata=home.owner.metadata)
    assert after.assignee == home.owner.name
    assert after.next_due_time.ToDatetime(tzinfo=UTC) > due
