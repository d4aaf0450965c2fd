"""The gateway's own identity toward the user service: the HTTP client's address and User-Agent, forwarded with
proof that the gateway forwards them.

Sessions and the audit log record where a person signed in from. A gRPC caller could claim any address, so the
user service believes a forwarded one only beside the gateway's service token (`x-hearth-gateway-token`,
verified there by kit.interceptors; `GATEWAY_SERVICE_SECRET` is exchanged for it like any service's). The
token is fetched in the background and kept fresh (kit.service_tokens), so a request never waits for it; until
the first one arrives — or without a secret — nothing is forwarded and the user service records the gateway's
own address instead (logged once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from kit import context
from kit.interceptors import CLIENT_IP_HEADER, CLIENT_USER_AGENT_HEADER, GATEWAY_TOKEN_HEADER, USER_AGENT_MAX
from kit.service_tokens import ServiceTokens

log = logging.getLogger("hearth.gateway.identity")


class GatewayIdentity:
    def __init__(self, tokens: ServiceTokens | None, *, refresh_seconds: float = 30.0) -> None:
        self._tokens = tokens
        self._refresh = refresh_seconds
        self._token = ""
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    def forwarded(self) -> Sequence[tuple[str, str]]:
        """The metadata every call to the user service carries (the channel's extra metadata)."""
        if not self._token:
            return ()
        client = context.client.get()
        if client is context.NO_CLIENT:
            return ()
        return (
            (GATEWAY_TOKEN_HEADER, self._token),
            (CLIENT_IP_HEADER, client.ip_address),
            (CLIENT_USER_AGENT_HEADER, client.user_agent),
        )

    def start(self) -> None:
        if self._tokens is None:
            log.warning("GATEWAY_SERVICE_SECRET is not set: sessions record the gateway's address, not the client's")
            return
        self._task = asyncio.create_task(self._keep_fresh(), name="gateway-identity")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _keep_fresh(self) -> None:
        assert self._tokens is not None
        failures = 0
        while True:
            try:
                # ServiceTokens keeps the token until shortly before it expires and fetches a new one after.
                self._token = await self._tokens.token("user")
                self.ready.set()
                failures = 0
                await asyncio.sleep(self._refresh)
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.warning("no service token for the gateway yet (%s); retrying", exc)
                await asyncio.sleep(min(30.0, 0.2 * 2**failures))


def client_of(scope_client: tuple[str, int] | None, user_agent: str) -> context.Client:
    return context.Client(scope_client[0] if scope_client else "", user_agent[:USER_AGENT_MAX])


__all__ = ["GatewayIdentity", "client_of"]
