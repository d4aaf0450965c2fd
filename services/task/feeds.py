"""Use cases of the calendar feed: a member's feed token for a household (create, which also rotates; revoke) and the
feed it opens (services.task.calendar builds it).

The token is the feed's only credential (calendar clients send no Authorization header): 32 random bytes,
URL-safe base64, shown once; only its SHA-256 is stored. One token per member per household: creating it again
replaces the old one, which stops working at once; revoking deletes it. Any member (a child too: they read the
household's chores) may have one; creating or revoking needs the member's own token (user access token).

A fetch opens the feed of the token's member in the token's household, and only while they are still a member
(asked on every fetch, through the cached membership client whose entries membership events drop): a member who
left, a token of another household's URL, a revoked or rotated token, an empty, huge or malformed one all get the
same NOT_FOUND "calendar feed not found" (nothing tells a guess apart from a revoked token). The token is found by
its hash (an index lookup on a hash of a secret leaks nothing about the token by its timing), and the hashes are
compared again with `hmac.compare_digest`.

The user stream erases what a feed row holds (`handlers`): member.left the member's feed of that household (the
fetch-time membership check already refuses it; this keeps no dead credential), user.deleted all of a person's,
household.deleted all of a household's.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from hearth.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.db import utcnow
from kit.errors import NotFound
from kit.events import Event, Handlers, required_id
from kit.validation import caller_id
from services.task import calendar
from services.task.repository import CalendarFeedRepository
from services.task.scheduling import Recurrence
from services.task.validation import zone
from services.user.client import PERMISSIONS, MembershipClient

TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters; anything much longer is refused before it is hashed.
MAX_TOKEN_LENGTH = 128
NOT_FOUND_MESSAGE = "calendar feed not found"


@dataclass(frozen=True)
class CreatedFeed:
    token: str
    create_time: datetime


@dataclass(frozen=True)
class Feed:
    body: bytes
    # A strong validator of the body (its SHA-256, shortened): the same chores give the same bytes.
    etag: str


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class CalendarFeeds:
    sessions: async_sessionmaker[AsyncSession]
    membership: MembershipClient
    clock: Callable[[], datetime] = utcnow

    async def create(self, household_id: uuid.UUID) -> CreatedFeed:
        """A new feed token for the caller in the household; the one they had before stops working."""
        await self.membership.require(household_id, roles=PERMISSIONS["chore.read"])
        user_id = caller_id()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock()
        async with self.sessions.begin() as session:
            await CalendarFeedRepository(session).put(household_id, user_id, token_hash(token), now)
        return CreatedFeed(token=token, create_time=now)

    async def revoke(self, household_id: uuid.UUID) -> None:
        """The caller's feed token in the household stops working (a no-op when they have none)."""
        await self.membership.require(household_id, roles=PERMISSIONS["chore.read"])
        user_id = caller_id()
        async with self.sessions.begin() as session:
            await CalendarFeedRepository(session).delete(household_id, user_id)

    async def render(self, household_id: uuid.UUID, token: str) -> Feed:
        """The feed `token` opens in the household; NOT_FOUND (the same for every bad token) otherwise."""
        if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise NotFound(NOT_FOUND_MESSAGE)
        wanted = token_hash(token)
        async with self.sessions() as session:
            repository = CalendarFeedRepository(session)
            feed = await repository.find(wanted)
            if feed is None or not hmac.compare_digest(feed.token_hash, wanted) or feed.household_id != household_id:
                raise NotFound(NOT_FOUND_MESSAGE)
            membership = await self.membership.get(household_id, feed.user_id)
            if membership is None:
                raise NotFound(NOT_FOUND_MESSAGE)
            chores = await repository.chores(household_id, calendar.MAX_CHORES)
        feed_chores = [
            calendar.FeedChore(
                id=chore.id,
                title=chore.title,
                description=chore.description,
                category=chore.category,
                recurrence=Recurrence.from_json(chore.recurrence),
                anchor_time=chore.anchor_time,
                next_due_time=chore.next_due_time,
                estimated_minutes=chore.estimated_minutes,
                update_time=chore.update_time,
            )
            for chore in chores
            if chore.next_due_time is not None
        ]
        # Up to ~0.15 s of CPU for a feed full of expansions (calendar.MAX_EVENTS): off the event loop, so the
        # service's other calls are not held up behind it.
        body = await asyncio.to_thread(calendar.build, feed_chores, tz=zone(membership.time_zone), now=self.clock())
        return Feed(body=body, etag=hashlib.sha256(body).hexdigest()[:32])


def handlers() -> Handlers:
    """The feeds a departed member, a deleted person or a deleted household leave, deleted (see the module doc)."""

    async def on_member_left(session: AsyncSession, event: Event[events_pb2.MemberLeft]) -> None:
        household_id = required_id(event.payload.household_id, event.household_id)
        await CalendarFeedRepository(session).delete(household_id, required_id(event.payload.user_id))

    async def on_user_deleted(session: AsyncSession, event: Event[events_pb2.UserDeleted]) -> None:
        await CalendarFeedRepository(session).delete_everywhere(user_id=required_id(event.payload.user_id))

    async def on_household_deleted(session: AsyncSession, event: Event[events_pb2.HouseholdDeleted]) -> None:
        household_id = required_id(event.payload.household_id, event.household_id)
        await CalendarFeedRepository(session).delete_everywhere(household_id=household_id)

    return {
        events_pb2.MemberLeft: on_member_left,
        events_pb2.UserDeleted: on_user_deleted,
        events_pb2.HouseholdDeleted: on_household_deleted,
    }
