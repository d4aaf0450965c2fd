"""Use cases of the notify service: the caller's in-app inbox, and their notification preferences
(services.notify.preferences; the unsubscribe links of services.notify.unsubscribe).

The servicer parses resource names; these use cases take the `{user}` of `users/{user}` ("me" or an id)
and ids. A notification belongs to exactly one user; nobody else may list, see or mark it. Listing another
user's inbox is PERMISSION_DENIED (the parent is a user the caller names explicitly); a notification
name under another user, or of another user's notification, is NOT_FOUND (never reveal it exists).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import pagination
from kit.db import utcnow
from kit.errors import NotFound, PermissionDenied, PreconditionFailed, invalid
from kit.ids import parse_id
from kit.repository import Cursor, Page, page
from kit.validation import caller_id
from services.notify import preferences, reminders, unsubscribe
from services.notify.models import Notification, NotificationPreference, UserName
from services.notify.preferences import Preferences
from services.notify.repository import NotificationRepository

log = logging.getLogger("hearth.notify.preferences")

ME = "me"
# A page token holds the (create_time, id) of the previous page's last notification, each part checked by
# kit.pagination.decode_cursor: a forged value is INVALID_ARGUMENT, never a value PostgreSQL chokes on.
CURSOR: Sequence[pagination.CursorPart] = (pagination.Timestamp(), pagination.Uuid())


def own_user(value: str, *, field: str) -> uuid.UUID | None:
    """The caller's id when `value` ("me" or a user id) names the caller, None when it names someone else."""
    me = caller_id()
    if value == ME:
        return me
    user_id = parse_id(value)
    if user_id is None:
        raise invalid(field, f"user id {value!r} is not a valid id")
    return me if user_id == me else None


class NotificationService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    def _parent(self, user: str) -> uuid.UUID:
        user_id = own_user(user, field="parent")
        if user_id is None:
            raise PermissionDenied("you can only see your own notifications")
        return user_id

    async def list_notifications(
        self, user: str, *, page_size: int = 0, page_token: str = "", unread_only: bool = False
    ) -> Page[Notification]:
        """The caller's notifications, newest first, keyset-paginated."""
        user_id = self._parent(user)
        async with self._sessions() as session:
            notifications = NotificationRepository(session)

            async def fetch(after: Cursor | None, limit: int) -> list[Notification]:
                return await notifications.page(user_id, unread_only=unread_only, after=after, limit=limit)

            return await page(
                fetch,
                page_size=page_size,
                page_token=page_token,
                query=pagination.fingerprint("notifications", str(user_id), unread_only),
                cursor=CURSOR,
                key=lambda n: (n.create_time, n.id),
            )

    async def mark_read(self, user: str, notification_id: uuid.UUID) -> Notification:
        """Mark one of the caller's notifications read; marking it again keeps the first read time."""
        user_id = own_user(user, field="name")
        if user_id is None:
            raise NotFound("notification not found")
        async with self._sessions() as session, session.begin():
            notification = await NotificationRepository(session).mark_read(user_id, notification_id, self._clock())
        if notification is None:
            raise NotFound("notification not found")
        return notification

    async def mark_all_read(self, user: str) -> int:
        """Mark every unread notification of the caller read; returns how many there were."""
        user_id = self._parent(user)
        async with self._sessions() as session, session.begin():
            return await NotificationRepository(session).mark_all_read(user_id, self._clock())


def _etag(version: int) -> str:
    return f'W/"{version}"'


def _check_etag(given: str, version: int) -> None:
    """An etag sent with an update must still match (`W/"3"`, `"3"` or `3`); empty: no precondition."""
    value = given.strip().removeprefix("W/").strip('"')
    if value and value != str(version):
        raise PreconditionFailed("the notification preferences have changed since they were read (etag mismatch)")


@dataclass(frozen=True)
class PreferenceView:
    """One person's preferences as GetNotificationPreferences answers them: every type resolved, and the zone."""

    user_id: uuid.UUID
    preferences: Preferences
    time_zone: str

    @property
    def etag(self) -> str:
        return _etag(self.preferences.version)


class PreferenceService:
    """NotificationPreferenceService's use cases. Only one's own: `users/me` or one's own id; anyone else's —
    another adult's, a child's parent's — is PERMISSION_DENIED (nobody changes how someone else is told)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        unsubscribe_secret: bytes,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._secret = unsubscribe_secret
        self._clock = clock

    def _own(self, user: str) -> uuid.UUID:
        user_id = own_user(user, field="name")
        if user_id is None:
            raise PermissionDenied("you can only see and change your own notification preferences")
        return user_id

    async def _view(self, session: AsyncSession, user_id: uuid.UUID) -> PreferenceView:
        row = await session.get(NotificationPreference, user_id)
        names = await session.get(UserName, user_id)
        zone = names.time_zone if names is not None and names.time_zone else "UTC"
        return PreferenceView(user_id, preferences.from_row(row), zone)

    async def get(self, user: str) -> PreferenceView:
        user_id = self._own(user)
        async with self._sessions() as session:
            return await self._view(session, user_id)

    async def update(
        self,
        user: str,
        events: Mapping[str, Mapping[str, bool]],
        quiet_hours: tuple[str, str] | None,
        reminder_lead_minutes: int | None,
        *,
        etag: str = "",
    ) -> PreferenceView:
        """Replace the person's document (what they leave out takes its default); a stale etag is
        FAILED_PRECONDITION. Putting the same document again changes nothing (the version stays)."""
        user_id = self._own(user)
        valid, quiet, lead = preferences.checked(events, quiet_hours, reminder_lead_minutes)
        start = preferences.hhmm(quiet.start) if quiet else None
        end = preferences.hhmm(quiet.end) if quiet else None
        async with self._sessions() as session, session.begin():
            row = await session.get(NotificationPreference, user_id, with_for_update=True)
            _check_etag(etag, row.version if row is not None else 0)
            if row is None:
                row = NotificationPreference(user_id=user_id, version=0)
                session.add(row)
            elif (row.events, row.quiet_start, row.quiet_end, row.reminder_lead_minutes) == (valid, start, end, lead):
                return await self._view(session, user_id)
            row.events, row.quiet_start, row.quiet_end, row.reminder_lead_minutes = valid, start, end, lead
            row.version += 1
            row.update_time = self._clock()
            await session.flush()
            if lead is not None:
                # The chores they hold now are reminded at their lead too, not only those of later events.
                await reminders.schedule_held(session, user_id, lead, now=self._clock())
            return await self._view(session, user_id)

    async def unsubscribe(self, token: str) -> str:
        """Turn off the email category the token names, for the person it names; the category. Any token that is
        not one of ours, not current, or of a person notify no longer knows is NOT_FOUND
        (services.notify.unsubscribe)."""
        subscription = unsubscribe.read_token(self._secret, token, now=self._clock())
        async with self._sessions() as session, session.begin():
            if await session.get(UserName, subscription.user_id) is None:
                # Erased (user.deleted), or never heard of: the link leads nowhere.
                raise NotFound(unsubscribe.NOT_FOUND_MESSAGE)
            row = await session.get(NotificationPreference, subscription.user_id, with_for_update=True)
            if row is None:
                row = NotificationPreference(user_id=subscription.user_id, events={}, version=0)
                session.add(row)
            events = {kind: dict(channels) for kind, channels in (row.events or {}).items()}
            if events.get(subscription.category, {}).get(preferences.EMAIL) is not False:
                events.setdefault(subscription.category, {})[preferences.EMAIL] = False
                row.events = events
                row.version += 1
                row.update_time = self._clock()
        log.info("email category unsubscribed", extra={"category": subscription.category})
        return subscription.category
