"""Job workers in tests, run as `python -m services.<name> worker` runs them, in this process, against a stack:
a worker for the duration of a block (`running_worker`), notify's sending mail to a local SMTP server, the user
service's (password-reset mail, exports), the task service's (photos); and a real worker process
(`worker_process`) for what only a process can show (being killed mid-job)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import procrastinate
from pydantic import AliasChoices, SecretStr

from kit import jobs
from kit.settings import ServiceSettings
from services.notify.jobs import notify_jobs
from services.task.photos import photo_jobs
from services.user.exports import GatherParts, export_jobs
from services.user.password_reset import password_reset_jobs
from tests.support.infra import ROOT
from tests.support.stack import Stack

NEVER = "0 0 1 1 *"  # once a year: the worker's periodic jobs stay out of the way of any test run


@contextlib.asynccontextmanager
async def running_worker(settings: ServiceSettings, app: procrastinate.App | None = None) -> AsyncIterator[None]:
    """A real worker, in this process, for the duration of the block."""
    task = asyncio.create_task(
        jobs.run_worker(settings, app=app, install_signal_handlers=False, poll_seconds=0.1), name="worker"
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def notify_worker_settings(stack: Stack, port: int, **settings: Any) -> Any:
    """The stack's notify settings for a worker sending to the SMTP server on 127.0.0.1:`port`."""
    return stack.servers["notify"].runtime.settings.model_copy(
        update={
            "prune_cron": NEVER,
            "jobs_recovery_cron": NEVER,
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_timeout_seconds": 5,
            "smtp_retry_base_seconds": 0.2,
            "smtp_retry_cap_seconds": 0.5,
            "weekly_summary_cron": NEVER,
            **settings,
        }
    )


@contextlib.asynccontextmanager
async def notify_worker(stack: Stack, port: int, **settings: Any) -> AsyncIterator[None]:
    """notify's job worker sending to the SMTP server on 127.0.0.1:`port`."""
    config = notify_worker_settings(stack, port, **settings)
    async with running_worker(config, jobs.create_app(config, *notify_jobs(config))):
        yield


@contextlib.asynccontextmanager
async def push_worker(stack: Stack, **settings: Any) -> AsyncIterator[None]:
    """notify's job worker pushing (services.notify.push) with the stack's VAPID key; short retries."""
    config = stack.servers["notify"].runtime.settings.model_copy(
        update={
            "prune_cron": NEVER,
            "jobs_recovery_cron": NEVER,
            "push_timeout_seconds": 5,
            "push_retry_base_seconds": 0.2,
            "push_retry_cap_seconds": 0.5,
            **settings,
        }
    )
    async with running_worker(config, jobs.create_app(config, *notify_jobs(config))):
        yield


async def run_notify_jobs(stack: Stack, port: int, **settings: Any) -> None:
    """Run notify's worker until no job is due (a job scheduled for later — a mail held for quiet hours, a retry
    after its backoff — stays queued)."""
    config = notify_worker_settings(stack, port, **settings)
    await jobs.run_worker(
        config,
        app=jobs.create_app(config, *notify_jobs(config)),
        install_signal_handlers=False,
        wait=False,
        poll_seconds=0.05,
    )


def photo_worker(stack: Stack, **settings: Any) -> contextlib.AbstractAsyncContextManager[None]:
    """The task service's worker (photo thumbnails, a deleted household's photo bytes) on the stack's task settings,
    its photo store included; `settings` override them."""
    config = stack.servers["task"].runtime.settings.model_copy(
        update={"prune_cron": NEVER, "jobs_recovery_cron": NEVER, "photo_prune_cron": NEVER, **settings}
    )
    return running_worker(config, jobs.create_app(config, photo_jobs(config)))


def mailing_user_worker(stack: Stack, reset_url: str) -> contextlib.AbstractAsyncContextManager[None]:
    """The user service's worker mailing password-reset links through the stack's notify, `reset_url` the link."""
    config = stack.servers["user"].runtime.settings.model_copy(
        update={
            "prune_cron": NEVER,
            "jobs_recovery_cron": NEVER,
            "notify_addr": stack.addr("notify"),
            "password_reset_url": reset_url,
        }
    )
    return running_worker(config, jobs.create_app(config, password_reset_jobs(config)))


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


def environment(settings: ServiceSettings, **overrides: Any) -> dict[str, str]:
    """The variables from which `python -m services.<name>` reads `settings` (with `overrides`, by field name), over
    this process's environment without any Hearth variable of its own."""
    config = settings.model_copy(update=overrides)
    prefix = f"{config.service.upper()}_"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEARTH_", prefix, "REDIS_URL", "OTEL_"))}
    for name, field in type(config).model_fields.items():
        value = getattr(config, name)
        if value is None:
            continue
        alias = field.validation_alias
        variable = str(alias.choices[0]) if isinstance(alias, AliasChoices) else f"{prefix}{name.upper()}"
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[variable] = json.dumps(value) if isinstance(value, list | dict | tuple | bool) else str(value)
    return env | {"PYTHONUNBUFFERED": "1"}


@contextlib.contextmanager
def worker_process(settings: ServiceSettings, log: Path, **overrides: Any) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m services.<name> worker` as a process of its own, with `settings` (and `overrides`), its output in
    `log`; killed at the end of the block if it is still running."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{settings.service}", "worker"],
            cwd=ROOT,
            env=environment(settings, **overrides),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


__all__ = [
    "NEVER",
    "environment",
    "mailing_user_worker",
    "notify_worker",
    "notify_worker_settings",
    "photo_worker",
    "run_notify_jobs",
    "run_user_jobs",
    "running_worker",
    "user_worker_settings",
    "worker_process",
]
