"""EmailService.SendEmail end to end: the real gRPC server (a service token from the real user service), notify's
real job worker (procrastinate on notify's database) and a real SMTP server (aiosmtpd, in this process, on port 0)
that the mail reaches through aiosmtplib.

Nothing is patched: an SMTP server that is down is a port nobody listens on, and a refusing one answers 550.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio
import sqlalchemy as sa
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc

from kit import jobs
from kit.ids import new_id
from services.notify.delivery import SEND_EMAIL, delivery_lock
from services.notify.models import FAILED, SENT, EmailDelivery
from services.notify.tests.helpers import Mailbox, smtp_server
from tests.support.fixtures import stack_fixture, stub_fixture
from tests.support.infra import unique
from tests.support.jobs import notify_worker
from tests.support.people import register
from tests.support.rpc import refused
from tests.support.service_tokens import service_token
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "notify"])
mail = stub_fixture("notify", notify_pb2_grpc.EmailServiceStub)


@pytest_asyncio.fixture(loop_scope="module")
async def mailbox() -> AsyncIterator[Mailbox]:
    async with smtp_server(Mailbox()) as box:
        yield box


@pytest_asyncio.fixture(loop_scope="module")
async def as_user_service(stack: Stack) -> tuple[tuple[str, str]]:
    return await service_token(stack, "user", "notify")


def address() -> str:
    return f"{unique('joerg')}@example.com"


def reset_values(token: str = "", **changes: str) -> dict[str, str]:
    values = {
        "display_name": "Jörg",
        "reset_url": f"https://hearth.example/reset#token={token or unique('secret')}",
        "expires_minutes": "30",
    }
    return values | changes


def send_request(to: str, *, locale: str = "en", request_id: str = "", **values: str) -> notify_pb2.SendEmailRequest:
    return notify_pb2.SendEmailRequest(
        to=to,
        template="password_reset",
        locale=locale,
        values=reset_values(**values),
        request_id=request_id or str(new_id()),
    )


async def delivery(stack: Stack, delivery_id: str) -> EmailDelivery:
    async with stack.servers["notify"].runtime.sessions() as session:
        found = await session.get(EmailDelivery, uuid.UUID(delivery_id))
        assert found is not None
        return found


async def deliveries(stack: Stack) -> int:
    async with stack.servers["notify"].runtime.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(EmailDelivery)) or 0)


async def job_of(stack: Stack, delivery_id: str) -> tuple[str, int]:
    async with stack.servers["notify"].runtime.sessions() as session:
        row = (
            await session.execute(
                sa.text(
                    "SELECT status::text, attempts FROM procrastinate.procrastinate_jobs"
                    " WHERE task_name = :task AND args ->> 'delivery_id' = :id ORDER BY id"
                ),
                {"task": SEND_EMAIL, "id": delivery_id},
            )
        ).all()
    assert len(row) == 1, row
    return row[0][0], row[0][1]


async def finished(stack: Stack, delivery_id: str) -> tuple[str, int]:
    async def done() -> tuple[str, int] | None:
        status, attempts = await job_of(stack, delivery_id)
        return (status, attempts) if status in ("succeeded", "failed") else None

    result = await eventually(done, timeout=30)
    assert result is not None
    return result


async def test_a_reset_mail_in_german_reaches_the_smtp_server_rendered_and_nothing_leaks_into_the_logs(
    stack: Stack,
    mail: notify_pb2_grpc.EmailServiceStub,
    mailbox: Mailbox,
    as_user_service: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    to, token = address(), unique("resettoken")
    reply = await mail.SendEmail(send_request(to, locale="de-AT", token=token), metadata=as_user_service)
    queued = await delivery(stack, reply.delivery)
    assert (queued.status, queued.recipient, queued.language) == ("pending", to, "de")

    async with notify_worker(stack, mailbox.port):
        received = await mailbox.mail_for(to)
        assert await finished(stack, reply.delivery) == ("succeeded", 1)

    assert received.recipients == [to]
    assert received.sender == "no-reply@hearth.example"
    message = received.message
    assert message["Subject"] == "Dein Hearth-Passwort zurücksetzen"
    assert message["To"] == to
    assert message["From"] == "Hearth <no-reply@hearth.example>"
    assert message["Message-ID"] == f"<{reply.delivery}@hearth.example>"
    assert message["Content-Language"] == "de"
    text, html = received.part("plain"), received.part("html")
    assert text.startswith("Hallo Jörg,")
    assert "innerhalb von 30 Minuten" in text
    assert f"https://hearth.example/reset#token={token}" in text
    assert f'href="https://hearth.example/reset#token={token}"' in html
    assert "Neues Passwort wählen" in html

    sent = await delivery(stack, reply.delivery)
    assert (sent.status, sent.attempts, sent.last_error) == (SENT, 1, None)
    assert sent.sent_time is not None
    # Over: the address and the mail with its secret link are gone from notify's database.
    assert (sent.recipient, sent.subject, sent.text_body, sent.html_body) == (None, None, None, None)
    assert sent.recipient_redacted == f"{to[0]}***@example.com"

    # notify's log lines (the SMTP server's own, `mail.log`, stand for the outside world) hold neither.
    ours = [record for record in caplog.records if not record.name.startswith("mail.log")]
    assert any(r.getMessage() == "mail sent" and r.__dict__["recipient"] == sent.recipient_redacted for r in ours)
    for record in ours:
        logged = record.getMessage() + json.dumps(record.__dict__, default=str)
        assert to not in logged, record
        assert token not in logged, record


async def test_an_english_mail_and_the_fallback_to_english(
    stack: Stack, mail: notify_pb2_grpc.EmailServiceStub, mailbox: Mailbox, as_user_service: Any
) -> None:
    english, french = address(), address()
    await mail.SendEmail(send_request(english, locale="en-GB", expires_minutes="1"), metadata=as_user_service)
    await mail.SendEmail(send_request(french, locale="fr"), metadata=as_user_service)
    async with notify_worker(stack, mailbox.port):
        for to in (english, french):
            received = await mailbox.mail_for(to)
            assert received.message["Subject"] == "Reset your Hearth password"
            assert received.part("plain").startswith("Hello Jörg,")
    assert "within 1 minute:" in mailbox.to(english)[0].part("plain")
    assert "within 30 minutes:" in mailbox.to(french)[0].part("plain")


async def test_a_user_token_is_refused_and_so_is_no_token(stack: Stack, mail: notify_pb2_grpc.EmailServiceStub) -> None:
    person = await register(stack, "Mallory")
    refusal = await refused(mail.SendEmail(send_request(address()), metadata=person.metadata))
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    assert "only services" in refusal.message
    assert (await refused(mail.SendEmail(send_request(address())))).code == grpc.StatusCode.UNAUTHENTICATED


async def test_bad_input_is_invalid_argument_with_every_field_violation(
    mail: notify_pb2_grpc.EmailServiceStub, as_user_service: Any
) -> None:
    bad = notify_pb2.SendEmailRequest(to="not-an-address", template="welcome", locale="!!", request_id="")
    refusal = await refused(mail.SendEmail(bad, metadata=as_user_service))
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(refusal.violations) == {"to", "template", "locale", "request_id"}
    assert refusal.violations["request_id"] == "is required"
    assert refusal.violations["template"] == "must be one of password_reset"

    values = {"reset_url": "javascript:alert(1)", "expires_minutes": "forever", "colour": "x" * 3000}
    bad = notify_pb2.SendEmailRequest(to=address(), template="password_reset", values=values, request_id=str(new_id()))
    refusal = await refused(mail.SendEmail(bad, metadata=as_user_service))
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refusal.violations == {
        "values.display_name": "is required",
        "values.reset_url": "must be an absolute http or https URL",
        "values.expires_minutes": "must be a whole number from 1 to 10080",
        "values.colour": "is not a value of template 'password_reset'",
    }


async def test_one_request_id_sends_one_mail_and_a_reused_one_is_refused(
    stack: Stack, mail: notify_pb2_grpc.EmailServiceStub, mailbox: Mailbox, as_user_service: Any
) -> None:
    to, request_id, token = address(), str(new_id()), unique("tok")
    request = send_request(to, request_id=request_id, token=token)
    before = await deliveries(stack)
    replies = await asyncio.gather(*(mail.SendEmail(request, metadata=as_user_service) for _ in range(3)))
    again = await mail.SendEmail(request, metadata=as_user_service)
    assert len({reply.delivery for reply in [*replies, again]}) == 1
    different = send_request(to, request_id=request_id, token=unique("other"))
    refusal = await refused(mail.SendEmail(different, metadata=as_user_service))
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(refusal.violations) == {"request_id"}

    async with notify_worker(stack, mailbox.port):
        await mailbox.mail_for(to)
        # The one job there is has run to its end: no other mail can follow.
        assert await finished(stack, again.delivery) == ("succeeded", 1)
    assert len(mailbox.to(to)) == 1
    assert await deliveries(stack) == before + 1


async def test_a_delivery_job_run_again_sends_nothing_more(
    stack: Stack, mail: notify_pb2_grpc.EmailServiceStub, mailbox: Mailbox, as_user_service: Any
) -> None:
    to = address()
    reply = await mail.SendEmail(send_request(to), metadata=as_user_service)
    async with notify_worker(stack, mailbox.port):
        await mailbox.mail_for(to)
        assert await finished(stack, reply.delivery) == ("succeeded", 1)
        # At least once: the same job queued (or run) a second time.
        async with stack.servers["notify"].runtime.sessions() as session, session.begin():
            second = await jobs.defer_in(session, SEND_EMAIL, lock=delivery_lock(new_id()), delivery_id=reply.delivery)

        async def second_done() -> bool:
            async with stack.servers["notify"].runtime.sessions() as session:
                status = await session.scalar(
                    sa.text("SELECT status::text FROM procrastinate.procrastinate_jobs WHERE id = :id"),
                    {"id": second},
                )
            return status == "succeeded"

        await eventually(second_done, timeout=20)
    assert len(mailbox.to(to)) == 1
    assert (await delivery(stack, reply.delivery)).attempts == 1


def reserved_port() -> socket.socket:
    """A port held (bound, not listening) so nothing else takes it: connecting to it is refused, like to an SMTP
    server that is down, until it is closed and a real server starts on it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


async def test_with_the_smtp_server_down_the_job_retries_and_the_mail_arrives_once_it_is_up(
    stack: Stack, mail: notify_pb2_grpc.EmailServiceStub, as_user_service: Any
) -> None:
    to = address()
    held = reserved_port()
    port = held.getsockname()[1]
    reply = await mail.SendEmail(send_request(to), metadata=as_user_service)
    async with notify_worker(stack, port, smtp_max_attempts=50):

        async def retried() -> bool:
            found = await delivery(stack, reply.delivery)
            return found.attempts >= 2 and found.status == "pending"

        await eventually(retried, timeout=30)
        down = await delivery(stack, reply.delivery)
        assert down.last_error is not None
        assert down.last_error.startswith("SMTPConnectError")
        assert down.recipient == to  # still owed
        held.close()
        async with smtp_server(Mailbox(), port) as box:
            received = await box.mail_for(to)
            status, attempts = await finished(stack, reply.delivery)
    assert received.message["Subject"] == "Reset your Hearth password"
    assert status == "succeeded"
    assert attempts >= 3
    sent = await delivery(stack, reply.delivery)
    assert (sent.status, sent.attempts, sent.last_error, sent.recipient) == (SENT, attempts, None, None)
    assert len(box.to(to)) == 1


async def test_a_recipient_the_server_refuses_for_good_fails_at_once_without_retrying(
    stack: Stack, mail: notify_pb2_grpc.EmailServiceStub, as_user_service: Any
) -> None:
    to = address()
    reply = await mail.SendEmail(send_request(to), metadata=as_user_service)
    async with smtp_server(Mailbox(refuse={to})) as box, notify_worker(stack, box.port):
        assert await finished(stack, reply.delivery) == ("failed", 1)
    failed = await delivery(stack, reply.delivery)
    assert (failed.status, failed.attempts) == (FAILED, 1)
    assert (
        failed.last_error
        == "SMTPRecipientsRefused: 550 5.1.1 <[redacted-email]>: Recipient address rejected: User unknown"
    )
    assert (failed.recipient, failed.text_body) == (None, None)
    assert box.received == []


async def test_a_mail_the_server_never_takes_fails_after_the_last_attempt_and_is_cleared(
    stack: Stack, mail: notify_pb2_grpc.EmailServiceStub, as_user_service: Any
) -> None:
    to = address()
    held = reserved_port()  # nothing ever listens there
    reply = await mail.SendEmail(send_request(to), metadata=as_user_service)
    try:
        async with notify_worker(stack, held.getsockname()[1], smtp_max_attempts=3):
            assert await finished(stack, reply.delivery) == ("failed", 3)
    finally:
        held.close()
    failed = await delivery(stack, reply.delivery)
    assert (failed.status, failed.attempts, failed.sent_time) == (FAILED, 3, None)
    assert failed.last_error is not None
    assert failed.last_error.startswith("SMTPConnectError")
    assert (failed.recipient, failed.subject, failed.text_body, failed.html_body) == (None, None, None, None)
