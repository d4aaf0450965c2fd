"""The user service's job worker in tests: run as `python -m services.user worker` runs it, against a stack."""

from __future__ import annotations

from typing import Any

from kit import jobs
from services.user.exports import GatherParts, export_jobs
from tests.support.stack import Stack

NEVER = "0 0 1 1 *"  # the worker's periodic jobs stay out of the way


def user_worker_settings(stack: Stack, **overrides: Any) -> Any:
    """The stack's user service settings, with the other services' addresses (the export job asks them)."""
    addresses = {f"{name}_addr": stack.addr(name) for name in ("task", "notify", "analytics") if name in stack.servers}
    return stack.servers["user"].runtime.settings.model_copy(
        update={
            "prune_cron": NEVER,
            "jobs_recovery_cron": NEVER,
            "export_prune_cron": NEVER,
            "export_retry_base_seconds": 0.01,
            "export_retry_cap_seconds": 0.05,
            **addresses,
            **overrides,
        }
    )


async def run_user_jobs(stack: Stack, *, gather: GatherParts | None = None, **overrides: Any) -> None:
    """Run the user service's worker until no job is due (a retry scheduled for later waits for the next run)."""
    settings = user_worker_settings(stack, **overrides)
    await jobs.run_worker(
        settings, export_jobs(settings, gather=gather), install_signal_handlers=False, wait=False, poll_seconds=0.05
    )


__all__ = ["NEVER", "run_user_jobs", "user_worker_settings"]
