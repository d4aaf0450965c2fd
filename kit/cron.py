"""Cron expressions in settings: checked when the settings load, so a typo stops the process at start-up
instead of silently never scheduling a job."""

from __future__ import annotations

from typing import Annotated

from croniter import croniter  # type: ignore[import-untyped]
from pydantic import AfterValidator


def valid_cron(expression: str) -> str:
    """`expression` unchanged if croniter (what procrastinate schedules with) accepts it: five fields, or six
    with seconds last."""
    if not croniter.is_valid(expression):
        raise ValueError(f"not a cron expression: {expression!r}")
    return expression


Cron = Annotated[str, AfterValidator(valid_cron)]
