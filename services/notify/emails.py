"""EmailService's use case: a mail another service asks notify to send (SendEmail), checked, rendered and queued.

SendEmail is internal (a service token only; kit.interceptors refuses user tokens). The request is checked as a
whole — the address (email-validator, no deliverability look-up), a template of the catalogue, its values
(services.notify.rendering), the locale and the request id, which is required — and every bad field is reported
at once. The mail is rendered at once in the recipient's language, and in ONE transaction notify records the
delivery (models.EmailDelivery), claims the request id (kit.idempotency: scope "SendEmail", the calling service)
and enqueues the delivery job (kit.jobs.defer_in, services.notify.delivery): the three commit together or not at
all. A second SendEmail with the same request id (and the same request) answers the first delivery and queues
nothing: one request id, one mail. The same id with a different request is INVALID_ARGUMENT.

The request id's fingerprint hashes the values with the rest of the request (kit.idempotency.fingerprint: SHA-256),
a reset link among them: the secret in it is a random token of the user service's (not a password someone
chose), so its unsalted hash gives nothing away; the row lives 24 h.

Logs name the delivery, the template and the language, and the address only redacted (`a***@example.com`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context, idempotency
from kit.db import utcnow
from kit.errors import PermissionDenied
from kit.ids import new_id
from kit.jobs import defer_in
from kit.validation import REQUIRED_MESSAGE, Violations
from services.notify import rendering
from services.notify.delivery import SEND_EMAIL, delivery_lock
from services.notify.models import PENDING, EmailDelivery

log = logging.getLogger("hearth.notify.email")

SCOPE = "SendEmail"
_VALUE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
# RFC 5321's limit on a forward path (a mailbox of 254 characters between its angle brackets).
ADDRESS_MAX_LENGTH = 254


@dataclass(frozen=True)
class MailRequest:
    to: str
    template: str
    locale: str
    values: Mapping[str, str]
    request_id: str


def redacted_address(address: str) -> str:
    """`alice@example.com` → `a***@example.com`: enough to tell mails apart in a log, not to write to anyone."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


def checked(request: MailRequest) -> tuple[str, rendering.MailTemplate]:
    """The normalised address and the template of a valid request; InvalidArgument with every bad field otherwise."""
    errors = Violations()
    address = request.to.strip()
    if not address:
        errors.add("to", REQUIRED_MESSAGE)
    elif len(address) > ADDRESS_MAX_LENGTH:
        errors.add("to", f"must be at most {ADDRESS_MAX_LENGTH} characters")
    else:
        try:
            address = validate_email(address, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            errors.add("to", f"is not an e-mail address: {exc}")
    template = rendering.CATALOGUE.get(request.template)
    if not request.template:
        errors.add("template", REQUIRED_MESSAGE)
    elif template is None:
        errors.add("template", f"must be one of {', '.join(sorted(rendering.CATALOGUE))}")
    if (problem := rendering.locale_problem(request.locale)) is not None:
        errors.add("locale", problem)
    if len(request.values) > rendering.MAX_VALUES:
        errors.add("values", f"must hold at most {rendering.MAX_VALUES} values")
    elif template is not None:
        for name, problem in rendering.value_problems(template, request.values).items():
            # A key is echoed in the field path only when it looks like one (it comes from the caller).
            if _VALUE_NAME.fullmatch(name):
                errors.add(f"values.{name}", problem)
            else:
                errors.add("values", f"{name[:64]!r} {problem}")
    if not request.request_id:
        errors.add("request_id", REQUIRED_MESSAGE)
    errors.request_id(request.request_id)
    errors.raise_if_any()
    assert template is not None
    return address, template


class EmailService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        message_id_domain: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._domain = message_id_domain
        self._clock = clock

    async def send(self, request: MailRequest) -> uuid.UUID:
        """Queue the mail (see the module docstring); the delivery's id, the first one's for a repeated request id."""
        caller = context.caller.get()
        if caller is None or not caller.is_service:  # the interceptor lets only service tokens through already
            raise PermissionDenied("only services send mail")
        address, template = checked(request)
        mail = rendering.render(template, request.locale, request.values)
        delivery_id = new_id()
        async with self._sessions() as session, session.begin():
            earlier = await idempotency.claim(
                session,
                scope=SCOPE,
                caller=f"service:{caller.service}",
                request_id=request.request_id,
                fingerprint=idempotency.fingerprint(
                    address, template.name, request.locale.strip(), dict(request.values)
                ),
                resource_id=delivery_id,
            )
            if earlier is not None:
                log.info("mail already queued for this request id", extra={"delivery_id": str(earlier)})
                return earlier
            delivery = EmailDelivery(
                id=delivery_id,
                caller=f"service:{caller.service}",
                template=template.name,
                language=mail.language,
                recipient=address,
                recipient_redacted=redacted_address(address),
                subject=mail.subject,
                text_body=mail.text,
                html_body=mail.html,
                message_id=f"<{delivery_id}@{self._domain}>",
                status=PENDING,
                attempts=0,
                create_time=self._clock(),
            )
            session.add(delivery)
            await session.flush()
            delivery.job_id = await defer_in(
                session, SEND_EMAIL, lock=delivery_lock(delivery_id), delivery_id=str(delivery_id)
            )
        log.info(
            "mail queued",
            extra={
                "delivery_id": str(delivery_id),
                "template": template.name,
                "language": mail.language,
                "recipient": delivery.recipient_redacted,
            },
        )
        return delivery_id


__all__ = ["SCOPE", "EmailService", "MailRequest", "checked", "redacted_address"]
