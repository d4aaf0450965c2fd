"""`Authorization: Bearer hk_…`: an API key, exchanged for a short-lived scoped access token and remembered.

The gateway never checks a key itself: the user service's ExchangeApiKey does (hash lookup, expiry, revocation)
and answers an access token limited to the key's scopes. That token is then verified like any other (signature,
expiry and the revocation set: a deleted key's token stops at once, here and in every service), and forwarded to
the services, which enforce the scopes per RPC. So a key costs one exchange per token lifetime per gateway
process, not one per request.

Remembered by the key's SHA-256 (never the key), bounded (least recently used out), until a little before the
token expires; concurrent first requests with one key share one exchange. A refused key is not remembered: each
try asks again — the gateway's rate limits bound those.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict

from hearth.user.v1 import user_pb2, user_pb2_grpc

KEY_PREFIX = "hk_"
# Keys remembered by one process; the oldest unused goes first.
CACHE_SIZE = 10_000
# Exchange again this long before the token expires, so a request never carries one about to lapse.
RENEW_BEFORE_SECONDS = 30.0
EXCHANGE_TIMEOUT_SECONDS = 5.0


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyExchange:
    def __init__(self, stub: user_pb2_grpc.AuthServiceAsyncStub, *, size: int = CACHE_SIZE) -> None:
        self._stub = stub
        self._size = size
        self._tokens: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self._running: dict[bytes, asyncio.Task[tuple[str, float]]] = {}

    async def access_token(self, key: str) -> str:
        """The access token for `key`: remembered, or exchanged now. Raises the exchange's failure (an
        AioRpcError: UNAUTHENTICATED for a key that is no good, UNAVAILABLE when the user service is down)."""
        digest = _digest(key)
        remembered = self._fresh(digest)
        if remembered is not None:
            self._tokens.move_to_end(digest)
            return remembered
        task = self._running.get(digest)
        if task is None:
            task = asyncio.create_task(self._exchange(key, digest))
            self._running[digest] = task
            task.add_done_callback(lambda _: self._running.pop(digest, None))
        # Shielded: one caller leaving (a closed connection) does not cancel the exchange the others wait for.
        token, _ = await asyncio.shield(task)
        return token

    def holds(self, key: str) -> bool:
        """Whether a token for `key` is remembered and still good (no exchange needed)."""
        return self._fresh(_digest(key)) is not None

    def forget(self, key: str) -> None:
        self._tokens.pop(_digest(key), None)

    def _fresh(self, digest: bytes) -> str | None:
        """The remembered token of the key with this digest, unless it is due for renewal (then it is dropped)."""
        remembered = self._tokens.get(digest)
        if remembered is None:
            return None
        token, renew_at = remembered
        if time.monotonic() < renew_at:
            return token
        del self._tokens[digest]
        return None

    async def _exchange(self, key: str, digest: bytes) -> tuple[str, float]:
        pair = await self._stub.ExchangeApiKey(
            user_pb2.ExchangeApiKeyRequest(key=key), timeout=EXCHANGE_TIMEOUT_SECONDS
        )
        renew_at = time.monotonic() + max(0.0, pair.expires_in - RENEW_BEFORE_SECONDS)
        entry = (pair.access_token, renew_at)
        if pair.expires_in > RENEW_BEFORE_SECONDS:
            self._tokens[digest] = entry
            while len(self._tokens) > self._size:
                self._tokens.popitem(last=False)
        return entry


__all__ = ["KEY_PREFIX", "KeyExchange"]
