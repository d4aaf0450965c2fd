"""Helpers of the task service's privacy tests: the user stream's events delivered, a service token, a person
joined to a household, and every row of a database that names something.

(`rows_naming` and `service_token` belong in tests/support once that is free to change: analytics' tests have
the same two.)"""

from __future__ import annotations

from datetime import datetime

import grpc
import redis.asyncio as aioredis
import sqlalchemy as sa
from google.protobuf.message import Message
from hearth.user.v1 import user_pb2, user_pb2_grpc
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.events import consumed, envelope, publish
from tests.support.people import ROLES, Household, Person
from tests.support.stack import Stack

GROUP = "task"


async def deliver(
    stack: Stack,
    redis: aioredis.Redis,
    event_type: str,
    message: Message,
    *,
    household_id: str = "",
    at: datetime | None = None,
) -> None:
    """Publish `message` on the user stream as the user service would, and wait until task has handled it."""
    stream = f"{stack.namespace}.events.user"
    built = envelope(event_type, message, household_id=household_id, source="user", occurred_at=at)
    await consumed(redis, stream, GROUP, await publish(redis, stream, built))


async def service_token(stack: Stack, service: str, callee: str) -> tuple[tuple[str, str]]:
    """Metadata bearing `service`'s service token for `callee`, issued by the real user service."""
    assert stack.credentials is not None
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        reply = await user_pb2_grpc.ServiceTokenServiceStub(channel).IssueServiceToken(
            user_pb2.IssueServiceTokenRequest(
                service=service, secret=stack.credentials.service_secrets[service], audience=f"hearth:{callee}"
            )
        )
    return (("authorization", f"Bearer {reply.token}"),)


async def join(stack: Stack, home: Household, person: Person, role: str = "member") -> None:
    """`person` joins `home` by an invite of its owner."""
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        households = user_pb2_grpc.HouseholdServiceStub(channel)
        invite = await households.CreateInvite(
            user_pb2.CreateInviteRequest(parent=home.name, invite=user_pb2.Invite(role=ROLES[role])),
            metadata=home.owner.metadata,
        )
        await households.AcceptInvite(user_pb2.AcceptInviteRequest(code=invite.code), metadata=person.metadata)
    home.members[person.display_name] = person


async def rows_naming(url: str, *needles: str) -> dict[str, int]:
    """Per table of the database at `url` (every schema but PostgreSQL's own), how many rows hold any of `needles`
    anywhere: in any column's text, or in a bytea column's bytes (a row's text shows those as hex)."""
    found: dict[str, int] = {}
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = (
                await conn.execute(
                    sa.text(
                        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
                        " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
                    )
                )
            ).all()
            assert tables
            for schema, table in tables:
                conditions = " OR ".join(
                    f"strpos(t::text, :text_{n}) > 0 OR strpos(t::text, :hex_{n}) > 0" for n in range(len(needles))
                )
                params = {f"text_{n}": needle for n, needle in enumerate(needles)}
                params.update({f"hex_{n}": needle.encode().hex() for n, needle in enumerate(needles)})
                count = await conn.scalar(
                    sa.text(f'SELECT count(*) FROM "{schema}"."{table}" AS t WHERE {conditions}'), params
                )
                if count:
                    found[f"{schema}.{table}"] = int(count)
    finally:
        await engine.dispose()
    return found
