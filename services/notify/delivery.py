"""Delivering the mails SendEmail queued: the `notify:send_email` job, on notify's job queue (kit.jobs).

One job per delivery (models.EmailDelivery), enqueued in the transaction that records the delivery
(services.notify.emails). A run of the job:

1. in a short transaction, locks the delivery row: a delivery already `sent` or `failed` is done — the run does
   nothing (a job run twice sends once); otherwise it records the attempt (`sending`, `attempts` + 1) and commits;
2. sends the mail with aiosmtplib to NOTIFY_SMTP_HOST:NOTIFY_SMTP_PORT (services.notify.config), within
   NOTIFY_SMTP_TIMEOUT_SECONDS;
3. records the outcome: `sent` (the address and the rendered mail are cleared: a reset mail holds a secret link),
   or, when the server did not take it, `pending` with the reason (`last_error`) and the job raises, so
   procrastinate runs it again after a jittered exponential backoff (`DeliveryRetry`, kit.jobs.BackoffUnlessPermanent:
   NOTIFY_SMTP_RETRY_BASE_SECONDS, NOTIFY_SMTP_RETRY_CAP_SECONDS), up to NOTIFY_SMTP_MAX_ATTEMPTS runs in all;
   after the last, or at once when the server refuses the recipient or the message for good (a 5xx answer to
   RCPT or DATA), the delivery is `failed` (cleared too) and the job ends failed, visible in the queue.

At-least-once, and where: the mail is sent before step 3 commits. A worker that dies (or loses the database) after
the SMTP server took the mail and before `sent` is recorded leaves the delivery `sending`; procrastinate's stalled-
job recovery (kit.jobs) runs the job again and it sends the mail again — a warning says so. The window is the
time between the server's "250 OK" and one UPDATE; both copies carry the same Message-ID header, so a receiving
system can drop the second. Nothing can close it entirely: SMTP has no way to ask whether a mail arrived.

No log line holds a mail's body or its full address (the reset link in the body is a secret); they name the
delivery and the redacted address (`a***@example.com`). The server's own words in an error are masked the same
way (kit.logging.redact) before they are logged or stored.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Protocol

import aiosmtplib
import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.db import utcnow
from kit.jobs import SESSIONS, BackoffUnlessPermanent, Permanent
from kit.logging import redact
from services.notify.config import Settings
from services.notify.models import FAILED, PENDING, SENDING, SENT, EmailDelivery

log = logging.getLogger("hearth.notify.delivery")

# The job's name on the queue: the blueprint's task, under the service's namespace (kit.jobs.create_app).
TASK = "send_email"
SEND_EMAIL = f"notify:{TASK}"
ERROR_MAX_LENGTH = 500


def delivery_lock(delivery_id: uuid.UUID) -> str:
    """The job's procrastinate lock: two jobs for one delivery never run at the same time."""
    return f"notify:email:{delivery_id}"


class Undeliverable(Permanent):
    """The SMTP server refused the mail for good: trying again cannot help (no retry)."""


# kit's jittered exponential backoff, except for a mail the server refused for good.
DeliveryRetry = BackoffUnlessPermanent


class Sender(Protocol):
    async def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None: ...


class SmtpSender:
    """Sends through the configured SMTP server, one connection per mail (a worker sends a mail at a time)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None:
        settings = self._settings
        await aiosmtplib.send(
            message,
            sender=sender,
            recipients=[recipient],
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            # Exactly what is configured: never a silent downgrade, and no STARTTLS the operator did not ask for.
            start_tls=settings.smtp_starttls,
            use_tls=settings.smtp_implicit_tls,
            timeout=settings.smtp_timeout_seconds,
        )


def envelope_sender(from_header: str) -> str:
    """The address of a From header such as `Hearth <no-reply@hearth.example>`."""
    return parseaddr(from_header)[1]


def build_message(delivery: EmailDelivery, *, from_header: str) -> EmailMessage:
    """The delivery's mail: text and HTML alternatives, in UTF-8, with its fixed Message-ID."""
    assert delivery.recipient is not None, "a delivery that is over has nothing to send"
    message = EmailMessage()
    message["From"] = from_header
    message["To"] = delivery.recipient
    message["Subject"] = delivery.subject or ""
    message["Date"] = format_datetime(delivery.create_time)
    message["Message-ID"] = delivery.message_id
    # RFC 3834: a machine wrote this; vacation responders and the like do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    if delivery.unsubscribe_url:
        # RFC 2369 / RFC 8058: a mail client's own unsubscribe button POSTs "List-Unsubscribe=One-Click" here.
        message["List-Unsubscribe"] = f"<{delivery.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(delivery.text_body or "")
    message.add_alternative(delivery.html_body or "", subtype="html")
    message["Content-Language"] = delivery.language  # after the content: setting it drops Content-* headers
    return message


def is_permanent(exc: BaseException) -> bool:
    """Whether the server refused the recipient or the message itself with a 5xx: no retry will change its mind.

    Everything else — no connection, a timeout, a 4xx, a refused login or sender (settings an operator can fix) —
    is worth retrying."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(refused.code >= 500 for refused in exc.recipients)
    if isinstance(exc, (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError)):
        return exc.code >= 500
    return False


def describe_failure(exc: BaseException) -> str:
    """What went wrong, for the delivery row and the log: the error's class, the SMTP code, the server's words —
    with addresses masked (a refusal quotes the recipient)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        detail = "; ".join(f"{refused.code} {refused.message}" for refused in exc.recipients)
    elif isinstance(exc, aiosmtplib.SMTPResponseException):
        detail = f"{exc.code} {exc.message}"
    else:
        detail = str(exc)
    return redact(f"{type(exc).__name__}: {detail}")[:ERROR_MAX_LENGTH]


@dataclass(frozen=True)
class Attempt:
    message: EmailMessage
    recipient: str
    redacted: str
    number: int


def _clear(delivery: EmailDelivery) -> None:
    """The delivery is over: drop what only sending needed (the full address, the mail and its secret link)."""
    delivery.recipient = None
    delivery.subject = delivery.text_body = delivery.html_body = delivery.unsubscribe_url = None


async def _start_attempt(
    sessions: async_sessionmaker[AsyncSession], delivery_id: uuid.UUID, *, from_header: str, now: datetime
) -> Attempt | None:
    async with sessions() as session, session.begin():
        delivery = await session.get(EmailDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            log.warning("no such delivery; nothing to send", extra={"delivery_id": str(delivery_id)})
            return None
        if delivery.status in (SENT, FAILED):
            log.info(
                "delivery already over; not sending again",
                extra={"delivery_id": str(delivery_id), "status": delivery.status},
            )
            return None
        if delivery.status == SENDING:
            log.warning(
                "an earlier attempt was cut off after it started and may have sent the mail; sending it again",
                extra={"delivery_id": str(delivery_id), "attempts": delivery.attempts},
            )
        delivery.status = SENDING
        delivery.attempts += 1
        delivery.attempt_time = now
        assert delivery.recipient is not None
        return Attempt(
            build_message(delivery, from_header=from_header),
            delivery.recipient,
            delivery.recipient_redacted,
            delivery.attempts,
        )


async def _finish(
    sessions: async_sessionmaker[AsyncSession], delivery_id: uuid.UUID, *, status: str, error: str | None, now: datetime
) -> None:
    async with sessions() as session, session.begin():
        delivery = await session.get(EmailDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            return
        delivery.status = status
        delivery.last_error = error
        if status == SENT:
            delivery.sent_time = now
        if status in (SENT, FAILED):
            _clear(delivery)


async def deliver(
    sessions: async_sessionmaker[AsyncSession],
    sender: Sender,
    delivery_id: uuid.UUID,
    *,
    from_header: str,
    final_attempt: bool,
    clock: Callable[[], datetime] = utcnow,
) -> str | None:
    """One run of the delivery job (see the module docstring): the delivery's status afterwards, None when there
    was nothing to do. Raises when the mail must be tried again (or has failed for good: `Undeliverable`)."""
    attempt = await _start_attempt(sessions, delivery_id, from_header=from_header, now=clock())
    if attempt is None:
        return None
    where = {"delivery_id": str(delivery_id), "recipient": attempt.redacted, "attempt": attempt.number}
    try:
        await sender.send(attempt.message, sender=envelope_sender(from_header), recipient=attempt.recipient)
    except Exception as exc:
        error = describe_failure(exc)
        permanent = is_permanent(exc)
        status = FAILED if permanent or final_attempt else PENDING
        await _finish(sessions, delivery_id, status=status, error=error, now=clock())
        if status == FAILED:
            log.error("mail not delivered; giving up", extra={**where, "error": error, "permanent": permanent})
        else:
            log.warning("mail not delivered yet; will retry", extra={**where, "error": error})
        if permanent:
            raise Undeliverable(error) from exc
        raise
    await _finish(sessions, delivery_id, status=SENT, error=None, now=clock())
    log.info("mail sent", extra=where)
    return SENT


def email_jobs(settings: Settings, *, sender: Sender | None = None) -> procrastinate.Blueprint:
    """notify's own jobs for its worker (`python -m services.notify worker`): `notify:send_email`."""
    blueprint = procrastinate.Blueprint()
    retry = DeliveryRetry(
        max_attempts=settings.smtp_max_attempts,
        base=settings.smtp_retry_base_seconds,
        cap=settings.smtp_retry_cap_seconds,
    )
    smtp = sender or SmtpSender(settings)

    @blueprint.task(name=TASK, pass_context=True, retry=retry)
    async def send_email(context: procrastinate.JobContext, delivery_id: str) -> str | None:
        sessions: async_sessionmaker[AsyncSession] = context.additional_context[SESSIONS]
        return await deliver(
            sessions,
            smtp,
            uuid.UUID(delivery_id),
            from_header=settings.smtp_from,
            final_attempt=context.job.attempts + 1 >= retry.max_attempts,
        )

    return blueprint


__all__ = [
    "SEND_EMAIL",
    "DeliveryRetry",
    "SmtpSender",
    "Undeliverable",
    "build_message",
    "deliver",
    "delivery_lock",
    "describe_failure",
    "email_jobs",
    "is_permanent",
]
