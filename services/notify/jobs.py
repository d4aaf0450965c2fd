"""notify's worker jobs (`python -m services.notify worker`): sending mail (services.notify.delivery), pushing to
browsers (services.notify.push), delivering webhooks and pruning their log (services.notify.webhook_delivery), the
reminders at each person's own lead (services.notify.reminders) and the weekly
household summary (services.notify.summary)."""

from __future__ import annotations

import procrastinate

from services.notify import dispatch
from services.notify.config import Settings
from services.notify.delivery import Sender, email_jobs
from services.notify.push import Pusher, push_jobs
from services.notify.reminders import reminder_jobs
from services.notify.summary import summary_jobs
from services.notify.webhook_delivery import webhook_jobs


def notify_jobs(
    settings: Settings, *, sender: Sender | None = None, pusher: Pusher | None = None
) -> list[procrastinate.Blueprint]:
    """Every job of notify's worker; the worker's mails are signed with `settings`' secret."""
    dispatch.configure(settings)
    blueprint = email_jobs(settings, sender=sender)
    reminder_jobs(blueprint)
    summary_jobs(blueprint, settings.weekly_summary_cron)
    return [blueprint, push_jobs(settings, pusher=pusher), webhook_jobs(settings)]


__all__ = ["notify_jobs"]
