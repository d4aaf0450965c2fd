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
    # The API key the token was exchanged for: the caller may do only what `scopes` allow (kit.interceptors).
    api_key_id: str = ""
    # The token's `iat` and `auth_time` (when the person last proved who they are: the password at login),
    # in Unix seconds.
    issued_at: float = 0.0
    auth_time: float = 0.0

    @property
    def is_service(self) -> bool:
        return bool(self.service)

    @property
    def is_api_key(self) -> bool:
        return bool(self.api_key_id)


@dataclass(frozen=True)
class Client:
    """The person's device as the edge saw it: the address and User-Agent recorded in sessions and the audit log.

    A service's own peer unless the call came from the gateway and proved it (kit.interceptors: the gateway's
    service token in `x-hearth-gateway-token`), which forwards the HTTP client's."""

    ip_address: str = ""
    user_agent: str = ""


correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")
caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)
service_name: contextvars.ContextVar[str] = contextvars.ContextVar("service_name", default="")
# A frozen dataclass: the shared default cannot be changed in place.
NO_CLIENT = Client()
client: contextvars.ContextVar[Client] = contextvars.ContextVar("client", default=NO_CLIENT)
