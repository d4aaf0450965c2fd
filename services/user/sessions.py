"""Use cases of the caller's sessions (signed-in devices): list them, end one, end all but the current one.

A session is a login: a chain of refresh tokens and the access tokens issued along it (their `sid`). Ending one
ends both at once (services/user/revocation.py). Only the caller's own sessions are visible: another user's
session id is NOT_FOUND, as an unknown one is.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from ua_parser import parse

from kit import context
from kit.db import utcnow
from kit.errors import NotFound
from kit.pagination import CursorPart, Uuid, fingerprint
from kit.repository import Page, page
from kit.validation import caller_id
from services.user import audit
from services.user.models import Session
from services.user.repository import SessionRepository
from services.user.revocation import Revoker

# Newest first, by session id (UUIDv7: time-ordered).
SESSION_CURSOR: tuple[CursorPart, ...] = (Uuid(),)


@functools.lru_cache(maxsize=1024)
def device_name(user_agent: str) -> str:
    """ "Firefox on Linux", "Mobile Safari on iOS", "curl": what a person recognises in a list of their devices."""
    if not user_agent:
        return "Unknown device"
    parsed = parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent and parsed.user_agent.family != "Other" else ""
    system = parsed.os.family if parsed.os and parsed.os.family != "Other" else ""
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or user_agent.split("/", 1)[0][:60] or "Unknown device"


@dataclass(frozen=True)
class ListedSession:
    session: Session
    device: str
    current: bool


def _current_session() -> str:
    caller = context.caller.get()
    return caller.session_id if caller is not None else ""


class Sessions:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, revoker: Revoker) -> None:
        self._sessions = sessions
        self._revoker = revoker

    async def list_sessions(self, *, size: int, token: str) -> Page[ListedSession]:
        """The caller's live sessions, newest first."""
        me = caller_id()
        now = utcnow()
        async with self._sessions() as session:
            rows = await page(
                lambda after, limit: SessionRepository(session).page_live(me, now, after=after, limit=limit),
                page_size=size,
                page_token=token,
                query=fingerprint("sessions", str(me)),
                cursor=SESSION_CURSOR,
                key=lambda row: (row.id,),
            )
        current = _current_session()
        return Page(
            [ListedSession(s, device_name(s.user_agent), str(s.id) == current) for s in rows.items],
            rows.next_page_token,
        )

    async def revoke_session(self, session_id: uuid.UUID) -> None:
        """End one of the caller's sessions (the current one included: that is a logout)."""
        me = caller_id()
        now = utcnow()
        async with self._sessions() as session, session.begin():
            ended = await SessionRepository(session).revoke_returning([session_id], now, user_id=me)
            if not ended:
                raise NotFound("session not found")
            revocations = await self._revoker.record(session, [(session_id, me)], reason="revoked", now=now)
            await audit.record(session, "session.revoked", user_id=me, target=f"users/{me}/sessions/{session_id}")
        await self._revoker.publish(revocations)

    async def revoke_other_sessions(self) -> list[uuid.UUID]:
        """End every live session of the caller but the one this request comes from; the ids ended."""
        me = caller_id()
        current = _current_session()
        now = utcnow()
        async with self._sessions() as session, session.begin():
            logins = SessionRepository(session)
            keep = uuid.UUID(current) if current else None
            ended = await logins.revoke_all(me, now, keep=keep)
            revocations = await self._revoker.record(session, [(s, me) for s in ended], reason="revoked", now=now)
            if ended:
                await audit.record(session, "session.revoked_others", user_id=me, details={"sessions": len(ended)})
        await self._revoker.publish(revocations)
        return ended


__all__ = ["ListedSession", "Sessions", "device_name"]
