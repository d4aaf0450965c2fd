"""What notify's tests share: events fed to the stack's streams, service tokens, and a real SMTP server to send to."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import redis.asyncio as aioredis
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session
from hearth.events.v1 import events_pb2

from kit.ids import new_id
from services.notify import mailsink
from tests.support.events import consumed, envelope, member_joined, publish
from tests.support.people import Person
from tests.support.stack import Stack

GROUP = "notify"


async def tables_naming(stack: Stack, *needles: str) -> dict[str, int]:
    """Table → how many of its rows mention any of `needles` anywhere (the row as text), for every table of
    notify's own schema and its job queue."""
    found: dict[str, int] = {}
    async with stack.servers["notify"].runtime.sessions() as session:
        tables = (
            await session.execute(
                sa.text("SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('public', 'procrastinate')")
            )
        ).all()
        for schema, table in tables:
            for needle in needles:
                count = await session.scalar(
                    sa.text(f'SELECT count(*) FROM "{schema}"."{table}" AS t WHERE t::text LIKE :needle'),
                    {"needle": f"%{needle}%"},
                )
                if count:
                    found[f"{schema}.{table}"] = found.get(f"{schema}.{table}", 0) + int(count)
    return found


class Events:
    """Feeds one test's events to the stack's streams and waits until notify has handled them."""

    def __init__(self, stack: Stack, redis: aioredis.Redis) -> None:
        self.stack, self.redis = stack, redis
        self.household_id = str(new_id())

    def stream(self, domain: str) -> str:
        return f"{self.stack.namespace}.events.{domain}"

    async def send(self, domain: str, event: events_pb2.Envelope) -> events_pb2.Envelope:
        entry = await publish(self.redis, self.stream(domain), event)
        await consumed(self.redis, self.stream(domain), GROUP, entry)
        return event

    async def join(self, person: Person, role: str, *, at: datetime | None = None) -> None:
        await self.send("user", member_joined(self.household_id, person, role, at=at))

    def completion(
        self, by: Person, title: str = "Dishes", *, points: int = 10, at: datetime | None = None
    ) -> events_pb2.Envelope:
        payload = events_pb2.ChoreCompleted(
            household_id=self.household_id,
            chore_id=str(new_id()),
            completion_id=str(new_id()),
            title=title,
            completed_by=by.user_id,
            points=points,
            estimated_minutes=15,
            on_time=True,
        )
        payload.completed_at.FromDatetime(at or datetime.now(UTC))
        return envelope("chore.completed", payload, household_id=self.household_id, actor_id=by.user_id, occurred_at=at)

    async def complete(self, by: Person, title: str = "Dishes", **kwargs: Any) -> events_pb2.Envelope:
        return await self.send("task", self.completion(by, title, **kwargs))


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        content: str = body.get_content()
        return content


@dataclass
class Mailbox:
    """An aiosmtpd handler keeping what it receives; it refuses the recipients in `refuse` with a 550."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        async with self._arrived:
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message))
            self._arrived.notify_all()
        return "250 OK"

    def to(self, address: str) -> list[Received]:
        return [mail for mail in self.received if address in mail.recipients]

    async def mail_for(self, address: str, *, timeout: float = 20, nth: int = 1) -> Received:
        """The `nth` mail to `address` (the first by default), once it has arrived."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.to(address)) >= nth)
        return self.to(address)[nth - 1]


@asynccontextmanager
async def smtp_server(mailbox: Mailbox, port: int = 0) -> AsyncIterator[Mailbox]:
    """A real SMTP server (aiosmtpd, as services.notify.mailsink serves it) on this loop, delivering to `mailbox`."""
    server = await mailsink.start(mailbox, "127.0.0.1", port)
    mailbox.port = mailsink.bound_port(server)
    try:
        yield mailbox
    finally:
        server.close()
        await server.wait_closed()
