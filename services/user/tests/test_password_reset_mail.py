"""A forgotten password end to end: ForgotPassword → the user service's worker (its real job queue) → notify's
SendEmail with the user service's own service token → notify's worker → a real SMTP server (aiosmtpd, in this
process) → the token read from the mail → ResetPassword.

Nothing is patched: the services, both workers, PostgreSQL and the SMTP server are real."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
import sqlalchemy as sa
from hearth.user.v1 import user_pb2, user_pb2_grpc

from services.notify.delivery import SEND_EMAIL
from services.notify.tests.helpers import Mailbox, smtp_server
from services.user.password_reset import MAX_LIVE_RESETS, SEND_PASSWORD_RESET
from services.user.tests.credentials import RESET_PAGE, audit_actions, enable_totp, token_in
from services.user.tests.helpers import PASSWORD, Person, Stubs, new_email, register, works
from tests.support.fixtures import stack_fixture, stub_fixture
from tests.support.jobs import mailing_user_worker, notify_worker
from tests.support.rpc import refused
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

OK = grpc.StatusCode
NEW_PASSWORD = "the passphrase after the reset"
stack = stack_fixture(["user", "notify"])
mfa = stub_fixture("user", user_pb2_grpc.MfaServiceStub)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def mailbox(stack: Stack) -> AsyncIterator[Mailbox]:
    """The SMTP server, with both services' workers running for the whole module."""
    async with (
        smtp_server(Mailbox()) as box,
        notify_worker(stack, box.port),
        mailing_user_worker(stack, RESET_PAGE + "{token}"),
    ):
        yield box


async def forgot(rpc: Stubs, email: str) -> None:
    await rpc.auth.ForgotPassword(user_pb2.ForgotPasswordRequest(email=email))


async def settled(stack: Stack, service: str, task: str) -> None:
    """Wait until no job of `task` in `service`'s queue is waiting or running; each that ran has succeeded."""

    async def quiet() -> bool:
        async with stack.servers[service].runtime.sessions() as session:
            statuses = set(
                await session.scalars(
                    sa.text(
                        "SELECT DISTINCT status::text FROM procrastinate.procrastinate_jobs WHERE task_name = :task"
                    ),
                    {"task": task},
                )
            )
        assert statuses <= {"todo", "doing", "succeeded"}, statuses
        return statuses <= {"succeeded"}

    await eventually(quiet, timeout=30)


async def test_a_reset_through_the_mail_ends_every_session_and_the_link_works_once(
    stack: Stack, rpc: Stubs, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    person = await register(rpc, "Jörg", email=new_email("joerg"))

    await forgot(rpc, person.email.upper())
    mail = await mailbox.mail_for(person.email)

    assert mail.message["Subject"] == "Reset your Hearth password"
    assert mail.part("plain").startswith("Hello Jörg,")
    assert "within 30 minutes" in mail.part("plain")
    token = token_in(mail)
    await rpc.auth.ResetPassword(user_pb2.ResetPasswordRequest(token=token, new_password=NEW_PASSWORD))

    assert not await works(rpc, person.token)
    assert await rpc.auth.Login(user_pb2.LoginRequest(email=person.email, password=NEW_PASSWORD))
    again = await refused(rpc.auth.ResetPassword(user_pb2.ResetPasswordRequest(token=token, new_password=PASSWORD)))
    assert (again.code, again.reason) == (OK.FAILED_PRECONDITION, "GONE")
    actions = await audit_actions(stack, person.user_id)
    assert actions.index("password.reset_requested") < actions.index("password.reset")
    # The token is only in the mail: no log line of ours holds it or the address (the SMTP server's are the world's).
    for record in caplog.records:
        if record.name.startswith("mail.log"):
            continue
        logged = record.getMessage() + repr(record.__dict__)
        assert token not in logged, record
        assert person.email not in logged, record


async def test_an_address_without_an_account_gets_no_mail_and_the_same_answer(
    stack: Stack, rpc: Stubs, mailbox: Mailbox
) -> None:
    person = await register(rpc, "Known")
    nobody = new_email("nobody")

    await forgot(rpc, nobody)
    await forgot(rpc, person.email)

    await mailbox.mail_for(person.email)
    await settled(stack, "user", SEND_PASSWORD_RESET)
    await settled(stack, "notify", SEND_EMAIL)
    assert mailbox.to(nobody) == []


async def test_a_flood_of_requests_mails_a_bounded_number_of_links(stack: Stack, rpc: Stubs, mailbox: Mailbox) -> None:
    person = await register(rpc, "Flooded")

    await asyncio.gather(*(forgot(rpc, person.email) for _ in range(MAX_LIVE_RESETS + 3)))
    await settled(stack, "user", SEND_PASSWORD_RESET)
    await settled(stack, "notify", SEND_EMAIL)

    assert len(mailbox.to(person.email)) == MAX_LIVE_RESETS
    tokens = {token_in(mail) for mail in mailbox.to(person.email)}
    assert len(tokens) == MAX_LIVE_RESETS  # each mail its own link


async def test_a_reset_through_the_mail_still_needs_the_second_factor(
    rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub, mailbox: Mailbox
) -> None:
    person = await register(rpc, "Second")
    totp = await enable_totp(mfa, person.metadata)

    await forgot(rpc, person.email)
    token = token_in(await mailbox.mail_for(person.email))

    refusal = await refused(
        rpc.auth.ResetPassword(user_pb2.ResetPasswordRequest(token=token, new_password=NEW_PASSWORD))
    )
    assert (refusal.code, refusal.reason) == (OK.UNAUTHENTICATED, "MFA_REQUIRED")
    await rpc.auth.ResetPassword(
        user_pb2.ResetPasswordRequest(token=token, new_password=NEW_PASSWORD, totp_code=totp.next_code)
    )
    assert await rpc.auth.Login(
        user_pb2.LoginRequest(email=person.email, password=NEW_PASSWORD, totp_code=totp.recovery_codes[0])
    )


async def test_the_audit_log_says_where_the_request_came_from(stack: Stack, rpc: Stubs, mailbox: Mailbox) -> None:
    person: Person = await register(rpc, "Traced")

    await forgot(rpc, person.email)
    await mailbox.mail_for(person.email)

    async def requested() -> tuple[str, str] | None:
        async with stack.servers["user"].runtime.sessions() as session:
            row = (
                await session.execute(
                    sa.text(
                        "SELECT ip_address, actor_id::text FROM audit_events"
                        " WHERE user_id = :id AND action = 'password.reset_requested'"
                    ),
                    {"id": uuid.UUID(person.user_id)},
                )
            ).first()
        return (row[0], row[1]) if row is not None else None

    found = await eventually(requested)
    assert found == ("127.0.0.1", None)  # the caller's address (its own peer: no gateway vouched for another)
