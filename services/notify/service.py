"""Use cases of the notify service: the caller's in-app inbox.

The servicer parses resource names; these use cases take the `{user}` of `users/{user}` ("me" or an id)
and ids. A notification belongs to exactly one user; nobody else may list, see or mark it. Listing another
user's inbox is PERMISSION_DENIED (the parent is a user the caller names explicitly); a notification
name under another user, or of another user's notification, is NOT_FOUND (never reveal it exists).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import pagination
from kit.db import utcnow
from kit.errors import NotFound, PermissionDenied, invalid
from kit.ids import parse_id
from kit.repository import Cursor, Page, page
from kit.validation import caller_id
from services.notify.models import Notification
from services.notify.repository import NotificationRepository

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
