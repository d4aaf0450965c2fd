"""Use cases of the notify service: the caller's in-app inbox.

A notification belongs to exactly one user; nobody else may list, see or mark it. Listing another
user's inbox is PERMISSION_DENIED (the parent is a user the caller names explicitly); a notification
name under another user, or of another user's notification, is NOT_FOUND (never reveal it exists).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context, pagination
from kit.db import utcnow
from kit.errors import NotFound, PermissionDenied, Unauthenticated, invalid
from kit.ids import parse_id
from kit.names import parse_name
from services.notify.models import Notification
from services.notify.repository import Cursor, NotificationRepository

ME = "me"
# A page token holds the (create_time, id) of the previous page's last notification, each part checked by
# kit.pagination.decode_cursor: a forged value is INVALID_ARGUMENT, never a value PostgreSQL chokes on.
# Typed loosely: kit's CursorPart Protocol declares `nullable` settable while its parts are frozen
# dataclasses, so mypy refuses them as CursorParts until the Protocol declares it read-only.
CURSOR: Sequence[pagination.CursorPart] = (pagination.Timestamp(), pagination.Uuid())


@dataclass(frozen=True)
class Page:
    notifications: list[Notification]
    next_page_token: str


def caller_id() -> uuid.UUID:
    caller = context.caller.get()
    if caller is None:
        raise Unauthenticated("authentication required")
    user_id = parse_id(caller.user_id)
    if user_id is None:
        raise Unauthenticated("the access token does not name a user")
    return user_id


def own_user(value: str, *, field: str) -> uuid.UUID | None:
    """The caller's id when `value` ("me" or a user id) names the caller, None when it names someone else."""
    me = caller_id()
    if value == ME:
        return me
    user_id = parse_id(value)
    if user_id is None:
        raise invalid(field, f"user id {value!r} is not a valid id")
    return me if user_id == me else None


def _cursor(token: str, query: str) -> Cursor | None:
    key = pagination.decode_cursor(token, query, CURSOR)
    if key is None:
        return None
    create_time, notification_id = key
    return create_time, notification_id


class NotificationService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    def _parent(self, parent: str) -> uuid.UUID:
        user = parse_name(parent, "users/{user}", field="parent")["user"]
        user_id = own_user(user, field="parent")
        if user_id is None:
            raise PermissionDenied("you can only see your own notifications")
        return user_id

    async def list_notifications(
        self, parent: str, *, page_size: int = 0, page_token: str = "", unread_only: bool = False
    ) -> Page:
        """The caller's notifications, newest first, keyset-paginated."""
        user_id = self._parent(parent)
        size = pagination.page_size(page_size)
        query = pagination.fingerprint("notifications", str(user_id), unread_only)
        after = _cursor(page_token, query)
        async with self._sessions() as session:
            rows = await NotificationRepository(session).page(
                user_id, unread_only=unread_only, after=after, limit=size + 1
            )
        page, more = rows[:size], len(rows) > size
        token = pagination.encode_token([page[-1].create_time.isoformat(), str(page[-1].id)], query) if more else ""
        return Page(page, token)

    async def mark_read(self, name: str) -> Notification:
        """Mark one of the caller's notifications read; marking it again keeps the first read time."""
        parts = parse_name(name, "users/{user}/notifications/{notification}")
        user_id = own_user(parts["user"], field="name")
        notification_id = parse_id(parts["notification"])
        if notification_id is None:
            raise invalid("name", f"notification id {parts['notification']!r} is not a valid id")
        if user_id is None:
            raise NotFound("notification not found")
        async with self._sessions() as session, session.begin():
            notification = await NotificationRepository(session).mark_read(user_id, notification_id, self._clock())
        if notification is None:
            raise NotFound("notification not found")
        return notification

    async def mark_all_read(self, parent: str) -> int:
        """Mark every unread notification of the caller read; returns how many there were."""
        user_id = self._parent(parent)
        async with self._sessions() as session, session.begin():
            return await NotificationRepository(session).mark_all_read(user_id, self._clock())
