"""The user service's request ids (AIP-155), through kit.idempotency.

One scope for every create: a caller's request ids are one namespace across Register, CreateHousehold and
CreateInvite, so an id reused for another method is refused like one reused with another body (the method is
part of the fingerprint). A registration has no signed-in caller: it is `register:<email>`'s.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kit import idempotency

SCOPE = "create"


async def claim(
    session: AsyncSession,
    *,
    caller: str | uuid.UUID,
    request_id: str,
    operation: str,
    request: tuple[Any, ...],
    resource_id: uuid.UUID,
) -> uuid.UUID | None:
    """kit.idempotency.claim for `operation` with the request's meaningful fields (no secrets: fingerprints are
    unsalted hashes). None: make `resource_id`; a UUID: what the first call with this id made."""
    return await idempotency.claim(
        session,
        scope=SCOPE,
        caller=caller,
        request_id=request_id,
        fingerprint=idempotency.fingerprint(operation, *request),
        resource_id=resource_id,
    )


def registration_caller(address: str) -> str:
    return f"register:{address}"


__all__ = ["SCOPE", "claim", "registration_caller"]
