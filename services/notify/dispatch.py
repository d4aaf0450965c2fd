"""Notify's own mails: a notification by email (services.notify.consumers.notify), the weekly summary
(services.notify.summary) — rendered in the recipient's language, each with its category's unsubscribe link, and
queued as a `notify:send_email` job (services.notify.delivery) in the transaction of the event that caused it.

One mail per `dedupe_key` (the event and the recipient; the summary's household, person and week): a replayed event
or a summary job run twice inserts nothing and queues nothing. A mail held for quiet hours is a delivery row whose
job is scheduled at `not_before` (procrastinate's scheduled_at): held, not digested — each held mail goes out on its
own when the quiet hours end. Mails go only to a person whose address notify has heard (user.registered/updated).

The settings these need (the secret, the public URL, the Message-ID domain) are set once per process by `configure`
(the server and the worker do, from services.notify.config).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.ids import new_id
from kit.jobs import defer_in
from services.notify import rendering, unsubscribe
from services.notify.config import Settings
from services.notify.delivery import SEND_EMAIL, delivery_lock
from services.notify.emails import redacted_address
from services.notify.models import PENDING, EmailDelivery, NotificationPreference
from services.notify.preferences import Preferences, from_row

log = logging.getLogger("hearth.notify.dispatch")

# The mail template of each event type that has its own; any other type is mailed as its in-app texts
# ("notification").
TEMPLATES: Mapping[str, str] = {
    "chore.due_soon": "chore_due_soon",
    "chore.overdue": "chore_overdue",
    "chore.assigned": "chore_assigned",
    "chore.created": "chore_assigned",
    "completion.approved": "completion_approved",
    "completion.rejected": "completion_rejected",
}
GENERIC_TEMPLATE = "notification"


@dataclass(frozen=True)
class Mailer:
    secret: bytes
    token_days: int
    public_api_url: str
    message_id_domain: str

    @classmethod
    def of(cls, settings: Settings) -> Mailer:
        return cls(
            secret=settings.unsubscribe_secret.get_secret_value().encode(),
            token_days=settings.unsubscribe_token_days,
            public_api_url=settings.public_api_url,
            message_id_domain=parseaddr(settings.smtp_from)[1].rpartition("@")[2],
        )

    def unsubscribe_url(self, user_id: uuid.UUID, category: str, *, now: datetime) -> str:
        token = unsubscribe.make_token(self.secret, user_id, category, now=now, days=self.token_days)
        return unsubscribe.link(self.public_api_url, token)


_mailer: Mailer | None = None


def configure(settings: Settings) -> Mailer:
    """Set this process's mail settings (the server's create_server and the worker's jobs call it)."""
    global _mailer
    if "unsubscribe_secret" not in settings.model_fields_set:
        log.warning(
            "NOTIFY_UNSUBSCRIBE_SECRET is not set: this process signs unsubscribe links with a key of its own, which"
            " no other process (the server, the worker, after a restart) accepts"
        )
    _mailer = Mailer.of(settings)
    return _mailer


def mailer() -> Mailer:
    return _mailer if _mailer is not None else configure(Settings())


async def preferences_of(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Preferences]:
    """Each user's preferences in one query (the defaults for whoever never set any)."""
    found: dict[uuid.UUID, Preferences] = {}
    if user_ids:
        connection = await session.connection()
        rows = await connection.execute(_PREFERENCES, {"ids": list(user_ids)})
        found = {row.user_id: from_row(row) for row in rows}
    return {user_id: found.get(user_id, Preferences()) for user_id in user_ids}


_choices = cast(sa.Table, NotificationPreference.__table__)
# Plain rows, built once (the consumer asks for every reminder and chore event).
_PREFERENCES = sa.select(_choices).where(_choices.c.user_id.in_(sa.bindparam("ids", expanding=True)))
_INSERT = (
    insert(cast(sa.Table, EmailDelivery.__table__))
    .on_conflict_do_nothing(constraint="uq_email_deliveries_dedupe_key")
    .returning(EmailDelivery.__table__.c.id)
)


async def queue_mail(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    address: str,
    locale: str | None,
    template: str,
    context: Mapping[str, Any],
    category: str,
    dedupe_key: str,
    now: datetime,
    not_before: datetime | None = None,
) -> uuid.UUID | None:
    """Render and queue one of notify's mails (see the module docstring); its delivery id, None when a mail with
    this `dedupe_key` was queued before."""
    settings = mailer()
    url = settings.unsubscribe_url(user_id, category, now=now)
    mail = rendering.render_own(template, locale, {**context, "unsubscribe_url": url})
    delivery_id = new_id()
    connection = await session.connection()
    inserted = await connection.execute(
        _INSERT,
        {
            "id": delivery_id,
            "caller": f"notify:{category}",
            "template": template,
            "language": mail.language,
            "recipient": address,
            "recipient_redacted": redacted_address(address),
            "subject": mail.subject,
            "text_body": mail.text,
            "html_body": mail.html,
            "message_id": f"<{delivery_id}@{settings.message_id_domain}>",
            "status": PENDING,
            "attempts": 0,
            "create_time": now,
            "user_id": user_id,
            "dedupe_key": dedupe_key,
            "unsubscribe_url": url,
            "not_before": not_before,
        },
    )
    if inserted.scalar_one_or_none() is None:
        return None
    job_id = await defer_in(
        session, SEND_EMAIL, lock=delivery_lock(delivery_id), scheduled_at=not_before, delivery_id=str(delivery_id)
    )
    await connection.execute(sa.update(EmailDelivery).where(EmailDelivery.id == delivery_id).values(job_id=job_id))
    log.info(
        "notification mail queued",
        extra={
            "delivery_id": str(delivery_id),
            "template": template,
            "recipient": redacted_address(address),
            "held_until": not_before.isoformat() if not_before else None,
        },
    )
    return delivery_id


__all__ = ["GENERIC_TEMPLATE", "TEMPLATES", "Mailer", "configure", "mailer", "preferences_of", "queue_mail"]
