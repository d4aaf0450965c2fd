"""Use cases of notify's LiveService: a member's stream of their household's live events, stream tickets, presence
(the mechanisms are services.notify.live's).

Who may listen: a member of the household (any role: a child sees the household too), proven by their bearer token
or by a ticket made with it; an outsider gets NOT_FOUND, as everywhere. A member stops hearing the household the
moment they stop being one: their own member.left in the log ends their stream, and every heartbeat asks again (the
cached membership answer, which member.left drops), so a stream cannot outlive a membership by more than a heartbeat.
Nor its token: a stream opened with a bearer token ends ("unauthenticated") at the first heartbeat after the token
expired or its session was revoked.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from google.protobuf import timestamp_pb2
from hearth.notify.v1 import notify_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context
from kit.auth import TokenVerifier
from kit.errors import Unauthenticated, invalid
from kit.ids import new_id
from kit.validation import caller_id
from services.notify import live
from services.notify.live import LiveHub, LiveLog
from services.notify.repository import MemberRepository
from services.user.client import ROLES, MembershipClient

log = logging.getLogger("hearth.notify.live")

MEMBERSHIP_ENDED = "membership_ended"
SLOW_CONSUMER = "slow_consumer"
# The bearer token the stream was opened with expired or its session was revoked: reconnect with a fresh one.
UNAUTHENTICATED = "unauthenticated"


@dataclass(frozen=True)
class OnlineMember:
    user_id: str
    display_name: str
    connections: int


class LiveStreams:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        log: LiveLog,
        hub: LiveHub,
        membership: MembershipClient,
        verifier: TokenVerifier | None = None,
    ) -> None:
        self._sessions = sessions
        self._log = log
        self._hub = hub
        self._membership = membership
        self._verifier = verifier

    async def create_ticket(self, household_id: uuid.UUID) -> tuple[str, int]:
        """A ticket that opens the caller's stream of the household once, and its lifetime in seconds."""
        user_id = caller_id()
        await self._membership.require(household_id, roles=ROLES)
        ticket = await self._log.create_ticket(str(household_id), str(user_id))
        return ticket, self._log.config.ticket_ttl_seconds

    async def online(self, household_id: uuid.UUID) -> list[OnlineMember]:
        """The household's members online now, by name (for a member)."""
        caller_id()
        await self._membership.require(household_id, roles=ROLES)
        return await self._online(household_id)

    async def _online(self, household_id: uuid.UUID) -> list[OnlineMember]:
        counts = await self._log.online(str(household_id))
        if not counts:
            return []
        async with self._sessions() as session:
            members = {str(m.user_id): m for m in await MemberRepository(session).of_household(household_id)}
        return [
            OnlineMember(user, members[user].display_name if user in members else "", counts[user])
            for user in sorted(counts)
            # A member who left while still connected is no longer listed (their stream is being cut off); one the
            # mirror does not know yet (their member.joined is on its way) is, without a name.
            if user not in members or members[user].left_at is None
        ]

    async def _listener(self, household_id: uuid.UUID, ticket: str) -> str:
        """The user whose stream this is: the caller's token's, or the ticket's (used up now)."""
        caller = context.caller.get()
        if caller is not None and ticket:
            raise invalid("ticket", "give a bearer token or a ticket, not both")
        if caller is not None:
            if caller.is_service:
                raise Unauthenticated("a user's token or ticket is required")
            # Fresh, not cached: the feeder may have cut a removed member off before the main consumer dropped the
            # cached answer, and a stream must not reopen on it.
            await self._membership.require(household_id, roles=ROLES, fresh=True)
            return caller.user_id
        if not ticket:
            raise Unauthenticated("a bearer access token or a stream ticket is required")
        user_id = await self._log.redeem_ticket(str(household_id), ticket)
        if await self._membership.get(household_id, user_id, fresh=True) is None:
            raise Unauthenticated(live.BAD_TICKET_MESSAGE)
        return user_id

    async def stream(
        self, household_id: uuid.UUID, *, after_id: str = "", ticket: str = ""
    ) -> AsyncIterator[notify_pb2.LiveMessage]:
        after = None
        if after_id:
            after = live.parse_entry_id(after_id)
            if after is None:
                raise invalid("after_id", "after_id must be an event id this stream gave (<ms>-<seq>)")
        user_id = await self._listener(household_id, ticket)
        hid = str(household_id)
        key = self._log.key(hid)
        subscription = await self._hub.subscribe(key)
        connection = str(new_id())
        heartbeat = self._log.config.heartbeat_seconds
        present = False
        try:
            await self._log.touch(hid, user_id, connection)
            present = True
            online = await self._online(household_id)
            yield notify_pb2.LiveMessage(
                opened=notify_pb2.LiveOpened(
                    connection_id=connection,
                    user=f"users/{user_id}",
                    heartbeat_seconds=max(1, round(heartbeat)),
                    online=[online_proto(m) for m in online],
                )
            )
            last = subscription.floor
            if after is not None and after_id:
                last = after
                async for entry_id, fields in self._log.replay(hid, after_id):
                    last = max(last, live.parse_entry_id(entry_id) or last)
                    if live.visible_to(fields, user_id):
                        yield _event(entry_id, fields)
            loop = asyncio.get_running_loop()
            beat_at = loop.time() + heartbeat
            while True:
                if subscription.overflowed.is_set():
                    yield notify_pb2.LiveMessage(closed=notify_pb2.LiveClosed(reason=SLOW_CONSUMER))
                    return
                try:
                    entry_id, fields = await asyncio.wait_for(
                        subscription.queue.get(), timeout=max(0.0, beat_at - loop.time())
                    )
                except TimeoutError:
                    beat_at = loop.time() + heartbeat
                    if not await self._still_valid():
                        yield notify_pb2.LiveMessage(closed=notify_pb2.LiveClosed(reason=UNAUTHENTICATED))
                        return
                    if await self._membership.get(household_id, user_id) is None:
                        yield notify_pb2.LiveMessage(closed=notify_pb2.LiveClosed(reason=MEMBERSHIP_ENDED))
                        return
                    await self._log.touch(hid, user_id, connection)
                    now = timestamp_pb2.Timestamp()
                    now.GetCurrentTime()
                    yield notify_pb2.LiveMessage(heartbeat=notify_pb2.LiveHeartbeat(time=now))
                    continue
                position = live.parse_entry_id(entry_id)
                if position is None or position <= last:
                    continue  # replayed already
                last = position
                if live.visible_to(fields, user_id):
                    yield _event(entry_id, fields)
                if fields.get(live.F_TYPE) == live.MEMBER_LEFT and fields.get(live.F_SUBJECT) == user_id:
                    yield notify_pb2.LiveMessage(closed=notify_pb2.LiveClosed(reason=MEMBERSHIP_ENDED))
                    return
        finally:
            self._hub.unsubscribe(key, subscription)
            if present:
                # Shielded: a cancelled stream (the client went away) still takes its presence with it. Failing
                # (Redis away, the process shutting down) it expires instead, and the sweep announces it.
                try:
                    await asyncio.shield(self._log.leave(hid, user_id, connection))
                except Exception as exc:
                    log.info("a live connection's presence is left to expire: %s", type(exc).__name__)

    async def _still_valid(self) -> bool:
        """Whether the token the stream was opened with (if it was) still verifies: not expired, its session not
        revoked. A ticket's stream has no token: it lasts while its member does (and the gateway's limit)."""
        caller = context.caller.get()
        if caller is None or self._verifier is None:
            return True
        try:
            await self._verifier.verify(caller.token)
        except Unauthenticated:
            return False
        return True


def online_proto(member: OnlineMember) -> notify_pb2.OnlineMember:
    return notify_pb2.OnlineMember(
        user=f"users/{member.user_id}", display_name=member.display_name, connections=member.connections
    )


def _event(entry_id: str, fields: dict[str, str]) -> notify_pb2.LiveMessage:
    return notify_pb2.LiveMessage(
        event=notify_pb2.LiveEvent(id=entry_id, type=fields.get(live.F_TYPE, ""), json=fields.get(live.F_JSON, "{}"))
    )
