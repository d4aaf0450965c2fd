"""Request-scoped context carried in contextvars: correlation id and the caller's identity.

Set by the server interceptors for every RPC (and by the gateway per HTTP request); read by logging,
by the client interceptors that forward them to the next service, and by services' authorization.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Caller:
    """An authenticated principal, as proven by a verified token: an end user (access token) or, on internal
    RPCs only, another Hearth service doing background work (service token: `service` set, `user_id` empty)."""

    user_id: str
    # The raw bearer token, forwarded unchanged on calls this request makes to other services.
    token: str = field(repr=False)
    scopes: frozenset[str] = frozenset()
    session_id: str = ""
    # The calling service's name ("notify") when the token is a service token (sub=service:<name>).
    service: str = ""

    @property
    def is_service(self) -> bool:
        return bool(self.service)


correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")
caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)
service_name: contextvars.ContextVar[str] = contextvars.ContextVar("service_name", default="")
