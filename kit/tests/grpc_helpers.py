"""Real gRPC servers for the kit tests: an Ed25519 signing key, a static JWKS, and a ChoreService stand-in.

The stand-in servicer is a test double of nothing of ours: it is just something to call through the real
`build_server` stack (interceptors, health, reflection) and the real `make_channel` client; each test says
what its methods do and reads back what the server saw (correlation id, caller, deadline, metadata).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import empty_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc

from kit import context
from kit.auth import TokenVerifier
from kit.grpc_server import Registration, Server, build_server
from kit.interceptors import deadline
from kit.telemetry import setup_telemetry

ISSUER = "https://hearth.dev"
AUDIENCE = "hearth"
CHORES = "hearth.task.v1.ChoreService"


@dataclass
class SigningKey:
    kid: str
    private: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def jwk(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    def claims(self, *, sub: str = "user-1", ttl: int = 300, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        return {
            "sub": sub,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + ttl,
            "typ": "access",
            "sid": "session-1",
            "scope": "chores:read chores:write",
            **extra,
        }

    def token(self, claims: dict[str, Any] | None = None, **kw: Any) -> str:
        return jwt.encode(claims or self.claims(**kw), self.private, algorithm="EdDSA", headers={"kid": self.kid})


class StaticJwks:
    """A JWKS source over a fixed (but mutable, for rotation tests) set of keys; counts fetches."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.fetches = 0

    async def __call__(self) -> dict[str, Any]:
        self.fetches += 1
        return {"keys": [k.jwk() for k in self.keys]}


def make_verifier(*keys: SigningKey, refresh_interval: float = 30.0) -> TokenVerifier:
    return TokenVerifier(StaticJwks(*keys), issuer=ISSUER, audience=AUDIENCE, refresh_interval=refresh_interval)


@dataclass
class Seen:
    method: str
    correlation_id: str
    service: str
    caller: context.Caller | None
    time_remaining: float | None
    metadata: dict[str, str]


Behaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class Chores(task_pb2_grpc.ChoreServiceServicer):
    """GetChore / CreateChore / ListChores / DeleteChore run `behaviours[method]` (default: echo a Chore)."""

    def __init__(self, **behaviours: Behaviour) -> None:
        self.behaviours = behaviours
        self.seen: list[Seen] = []

    async def _run(self, method: str, request: Any, ctx: grpc.aio.ServicerContext, default: Any) -> Any:
        self.seen.append(
            Seen(
                method=method,
                correlation_id=context.correlation_id.get(),
                service=context.service_name.get(),
                caller=context.caller.get(),
                time_remaining=ctx.time_remaining(),
                metadata={k: v for k, v in ctx.invocation_metadata() or () if isinstance(v, str)},
            )
        )
        behaviour = self.behaviours.get(method)
        return await behaviour(request, ctx) if behaviour else default

    def calls(self, method: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method]

    async def GetChore(self, request: Any, context: Any) -> Any:
        return await self._run("GetChore", request, context, task_pb2.Chore(name=request.name))

    async def CreateChore(self, request: Any, context: Any) -> Any:
        return await self._run("CreateChore", request, context, task_pb2.Chore(name=f"{request.parent}/chores/new"))

    async def ListChores(self, request: Any, context: Any) -> Any:
        return await self._run("ListChores", request, context, task_pb2.ListChoresResponse())

    async def DeleteChore(self, request: Any, context: Any) -> Any:
        return await self._run("DeleteChore", request, context, empty_pb2.Empty())


@asynccontextmanager
async def serving(
    servicer: Chores,
    *,
    verifier: TokenVerifier | None = None,
    public_methods: Iterable[str] = (),
    service: str = "kit-test",
) -> AsyncIterator[Server]:
    """A started server on 127.0.0.1:<free port> with the full interceptor stack; stopped on exit."""
    registration = (task_pb2_grpc.add_ChoreServiceServicer_to_server, servicer, CHORES)
    async with serving_registrations(
        [registration], verifier=verifier, public_methods=public_methods, service=service
    ) as server:
        yield server


@asynccontextmanager
async def serving_registrations(
    registrations: Sequence[Registration],
    *,
    verifier: TokenVerifier | None = None,
    public_methods: Iterable[str] = (),
    service: str = "kit-test",
) -> AsyncIterator[Server]:
    """Like `serving`, for any servicers (e.g. a stand-in for the user service's HouseholdService)."""
    server = build_server(
        service=service,
        registrations=registrations,
        telemetry=setup_telemetry(service),
        verifier=verifier or make_verifier(SigningKey("unused")),
        public_methods=public_methods,
        host="127.0.0.1",
        port=0,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop(0)


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@contextmanager
def serving_request(
    *, correlation_id: str = "", token: str | None = None, remaining: float | None = None
) -> Iterator[None]:
    """What the server interceptor sets while a request is being served (kit.context + the deadline)."""
    cid = context.correlation_id.set(correlation_id)
    caller = context.caller.set(context.Caller("user-7", token) if token else None)
    until = deadline.set(time.monotonic() + remaining if remaining is not None else None)
    try:
        yield
    finally:
        deadline.reset(until)
        context.caller.reset(caller)
        context.correlation_id.reset(cid)
