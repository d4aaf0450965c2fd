"""A service's own credential for background work: short-lived service tokens from the user service.

Reminders, overdue scans, scheduled rotation and webhook fan-out run with no end user behind them, yet must
ask other services questions (DESIGN.md, "Trust between services"). For those calls a service presents a
service token: an EdDSA JWT signed by user's key, `sub=service:<name>`, `aud=<audience>:<callee>`,
`typ=service`, valid for minutes. The callee accepts it on internal RPCs only (kit.interceptors.ServerInterceptor).

`ServiceTokens` gets them from `hearth.user.v1.ServiceTokenService.IssueServiceToken` with the service's own
secret (`<NAME>_SERVICE_SECRET`), keeps each audience's token until shortly before it expires, and fetches at
most one at a time per audience, however many background calls ask together. Background code calls with it
explicitly — `stub.GetMembership(request, metadata=await tokens.metadata("user"))` — never implicitly: code
serving a user request must keep acting as that user.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from kit import context
from kit.auth import service_audience
from kit.errors import Internal

log = logging.getLogger("hearth.service_tokens")

# A token is replaced when less than this share of its lifetime is left (and at least a few seconds before it
# expires), so a call never leaves with a token that expires on the way.
REFRESH_AT_REMAINING = 0.2
MIN_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class _Held:
    token: str
    refresh_after: float  # time.time() from which a fresh one is fetched
    expires_at: float


class ServiceTokens:
    """Service tokens of `service` for each callee, fetched from the user service over `channel`."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        service: str,
        secret: str | None,
        audience: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from hearth.user.v1 import user_pb2_grpc  # kit must not need user's stubs at import time

        self._stub = user_pb2_grpc.ServiceTokenServiceStub(channel)
        self.service = service
        self._secret = secret
        self._audience = audience
        self._clock = clock
        self._held: dict[str, _Held] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.fetches = 0

    def audience_of(self, callee: str) -> str:
        return service_audience(self._audience, callee)

    async def token(self, callee: str) -> str:
        """A valid service token for calling `callee` ("user"), fetched only when the one held is about to expire."""
        held = self._held.get(callee)
        if held is not None and self._clock() < held.refresh_after:
            return held.token
        lock = self._locks.setdefault(callee, asyncio.Lock())
        async with lock:
            held = self._held.get(callee)  # another caller may have fetched it while we waited
            if held is None or self._clock() >= held.refresh_after:
                held = await self._fetch(callee)
                self._held[callee] = held
            return held.token

    async def metadata(self, callee: str) -> tuple[tuple[str, str], ...]:
        """Call metadata that authenticates a call to `callee` as this service."""
        return (("authorization", f"Bearer {await self.token(callee)}"),)

    async def _fetch(self, callee: str) -> _Held:
        from hearth.user.v1 import user_pb2

        from kit.interceptors import error_from_rpc

        if not self._secret:
            raise Internal(f"{self.service} has no service secret ({self.service.upper()}_SERVICE_SECRET)")
        request = user_pb2.IssueServiceTokenRequest(
            service=self.service, secret=self._secret, audience=self.audience_of(callee)
        )
        # The client credentials are the whole authentication: never send an end user's token along.
        reset = context.caller.set(None)
        try:
            self.fetches += 1
            reply = await self._stub.IssueServiceToken(request, timeout=5)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from exc
        finally:
            context.caller.reset(reset)
        now = self._clock()
        expires_at = reply.expire_time.seconds + reply.expire_time.nanos / 1e9 if reply.HasField("expire_time") else now
        lifetime = max(0.0, expires_at - now)
        margin = max(MIN_MARGIN_SECONDS, lifetime * REFRESH_AT_REMAINING)
        return _Held(reply.token, refresh_after=expires_at - margin, expires_at=expires_at)


__all__ = ["ServiceTokens"]
