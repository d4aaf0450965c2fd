"""A real local push service for tests (the outside world we cannot run): an HTTP/1.1 server on 127.0.0.1, port 0,
that takes Web Push requests (RFC 8030) the way a browser vendor's does, and a browser's key pair to subscribe with.

Each `Browser` is a real subscription: its own P-256 key pair and auth secret (cryptography), its endpoint a path on
the server. The server keeps every request it gets and answers each path with the statuses a test lines up (201
once they run out). `Browser.pushes` decrypts what reached it (http_ece, aes128gcm, with its private key) after
checking the VAPID Authorization header (RFC 8292): an ES256 JWT signed by the key `k=` names, for this origin,
not expired.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.infra import unique

HANG = 0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushService:
    port: int = 0
    received: list[Request] = field(default_factory=list)
    # What to answer on a path, in order (then 201); a 3xx answer carries `Location: /elsewhere`; HANG answers
    # nothing, ever (a push service that hangs: the connection stays open until the client gives up).
    answers: dict[str, list[int]] = field(default_factory=dict)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def browser(self) -> Browser:
        return Browser(self, f"/push/{unique('sub')}")

    def to(self, path: str) -> list[Request]:
        return [r for r in self.received if r.path == path]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                planned = self.answers.get(path) or []
                status = planned.pop(0) if planned else 201
                async with self.arrived:
                    self.received.append(Request(method, path, headers, body))
                    self.arrived.notify_all()
                if status == HANG:
                    await reader.read()  # until the client closes the connection
                    return
                extra = "Location: /elsewhere\r\n" if 300 <= status < 400 else ""
                writer.write(f"HTTP/1.1 {status} X\r\n{extra}Content-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def wait_for(self, path: str, count: int = 1, timeout: float = 30) -> list[Request]:
        """The first `count` requests to `path`, once they have arrived."""
        async with asyncio.timeout(timeout), self.arrived:
            await self.arrived.wait_for(lambda: len(self.to(path)) >= count)
        return self.to(path)[:count]


@contextlib.asynccontextmanager
async def push_service() -> AsyncIterator[PushService]:
    service = PushService()
    server = await asyncio.start_server(service.handle, "127.0.0.1", 0)
    service.port = server.sockets[0].getsockname()[1]
    try:
        yield service
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class Browser:
    service: PushService
    path: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def endpoint(self) -> str:
        return self.service.origin + self.path

    @property
    def p256dh(self) -> str:
        return b64url(
            self.key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    def subscription(self) -> dict[str, Any]:
        """What PushSubscription.toJSON() gives a page."""
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)},
            "expirationTime": None,
        }

    def decrypt(self, request: Request, vapid_public_key: str) -> dict[str, Any]:
        """The push's JSON, after checking its VAPID signature and encoding."""
        check_vapid(request, vapid_public_key, audience=self.service.origin)
        assert request.method == "POST"
        assert request.headers["content-encoding"] == "aes128gcm"
        assert int(request.headers["ttl"]) > 0
        plain = http_ece.decrypt(request.body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        decoded: dict[str, Any] = json.loads(plain)
        return decoded

    async def pushes(self, vapid_public_key: str, count: int = 1) -> list[dict[str, Any]]:
        requests = await self.service.wait_for(self.path, count)
        return [self.decrypt(r, vapid_public_key) for r in requests]


def check_vapid(request: Request, vapid_public_key: str, *, audience: str) -> dict[str, Any]:
    """The VAPID claims of a push (RFC 8292): `Authorization: vapid t=<JWT>, k=<key>`, the key the server's, the JWT
    an ES256 signature by it for `audience`, not expired (and at most 24 h ahead)."""
    scheme, _, params = request.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    values = dict(part.strip().split("=", 1) for part in params.split(","))
    assert values["k"] == vapid_public_key
    point = unb64url(values["k"])
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    claims: dict[str, Any] = jwt.decode(values["t"], key, algorithms=["ES256"], audience=audience)
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"].startswith(("mailto:", "https:"))
    return claims


__all__ = ["HANG", "Browser", "PushService", "check_vapid", "push_service"]
