"""The audit log of security events: written in the transaction of the change it records, read back by the
person it concerns (`users/me`) and by a household's owner (`households/{h}`).

Each row says what happened (`action`), whose log it belongs in (`user_id`: the account concerned;
`household_id`), who did it (`actor_id`: the caller, unless the use case says otherwise — nobody for a failed
login), to what (`target`, a resource name), from where (the client's address and User-Agent as the gateway
forwarded them: kit.context.client) and under which request (`correlation_id`). `details` holds the rest (a
failed login's reason, a role change's from and to) — never a password, token, code or secret, and no email
address (the account is named by its id).

Actions: login.succeeded, login.failed (reason: wrong_password, unknown_account, mfa_required), logout,
session.revoked, session.revoked_others, session.reuse_detected, password.changed, password.reset_requested,
password.reset, mfa.enrolled, mfa.enabled, mfa.disabled, mfa.recovery_code_used, api_key.created,
api_key.revoked, api_key.first_used, user.deleted, member.role_changed, member.removed,
household.ownership_transferred, household.deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import context
from kit.db import utcnow
from kit.errors import NotFound
from kit.ids import new_id
from kit.pagination import CursorPart, Uuid, fingerprint
from kit.repository import Page, page
from kit.validation import caller_id
from services.user import permissions
from services.user.models import AuditEvent
from services.user.repository import AuditRepository, HouseholdRepository

AUDIT_CURSOR: Sequence[CursorPart] = (Uuid(),)
# The caller, unless a use case names the actor (or, with None, nobody).
_CALLER = object()


async def record(
    session: AsyncSession,
    action: str,
    *,
    user_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | object | None = _CALLER,
    target: str = "",
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one event in `session`'s transaction: it stands or falls with the change it records."""
    if actor_id is _CALLER:
        caller = context.caller.get()
        actor = uuid.UUID(caller.user_id) if caller is not None and caller.user_id else None
    else:
        actor = actor_id if isinstance(actor_id, uuid.UUID) else None
    client = context.client.get()
    AuditRepository(session).add(
        AuditEvent(
            id=new_id(),
            action=action,
            user_id=user_id,
            household_id=household_id,
            actor_id=actor,
            target=target,
            ip_address=client.ip_address,
            user_agent=client.user_agent,
            correlation_id=context.correlation_id.get(),
            details=dict(details or {}),
            create_time=utcnow(),
        )
    )


class Audit:
    """AuditService's use case: the log of `users/me` (the caller's own) or of a household (its owner only)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def list_events(
        self, *, user_id: uuid.UUID | None = None, household_id: uuid.UUID | None = None, size: int, token: str
    ) -> Page[AuditEvent]:
        me = caller_id()
        async with self._sessions() as session:
            if household_id is not None:
                row = await HouseholdRepository(session).with_membership(household_id, me)
                if row is None:
                    raise NotFound("household not found")
                permissions.require(row[1].role, "household.read_audit")
                scope = ("household", household_id)
            else:
                if user_id != me:
                    raise NotFound("user not found")
                scope = ("user", me)
            kind, owner = scope
            return await page(
                lambda after, limit: AuditRepository(session).page(kind, owner, after=after, limit=limit),
                page_size=size,
                page_token=token,
                query=fingerprint("audit", kind, str(owner)),
                cursor=AUDIT_CURSOR,
                key=lambda row: (row.id,),
            )


__all__ = ["Audit", "record"]
