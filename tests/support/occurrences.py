"""Time passing for a chore's schedule in tests: its next occurrence opened without waiting a period."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.stack import Stack


async def reopen(stack: Stack, chore_name: str) -> None:
    """As if the clock had reached the moment the chore's open occurrence opens (services.task.scheduling
    `is_open`): its `open_time` cleared in the task database, so a test completes a recurring chore again without
    waiting a period. (Only tests about something else than the window use it.) `chore_name`: the resource name
    or the bare chore id."""
    engine = create_async_engine(stack.databases["task"])
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text("UPDATE chores SET open_time = NULL WHERE id = :id"),
                {"id": uuid.UUID(chore_name.rsplit("/", 1)[-1])},
            )
    finally:
        await engine.dispose()
