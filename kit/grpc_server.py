"""build_server: a grpc.aio server with health, reflection, our interceptors and graceful stop.

Tests call `build_server(..., port=0)` and read the bound port back; `serve()` is what
`python -m services.<name>` runs: it stops on SIGTERM/SIGINT, finishing in-flight calls within the
grace period, then runs the service's cleanups (relays, consumers, engine, telemetry flush).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias, cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from kit.auth import TokenVerifier, internal_methods, method_scopes
from kit.interceptors import ServerInterceptor
from kit.telemetry import Telemetry

log = logging.getLogger("hearth.server")

# (add_XServicer_to_server function, servicer instance, full service name e.g. "hearth.task.v1.ChoreService")
Registration = tuple[Callable[[Any, grpc.aio.Server], None], Any, str]
Cleanup = Callable[[], Awaitable[None]]
# A string: grpc-stubs makes RpcMethodHandler generic, grpcio's class is not subscriptable at runtime.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"

MAX_MESSAGE_BYTES = 12 * 1024 * 1024  # photos are up to 10 MiB


class HealthServicer(Protocol):
    """What we use of grpc_health's asyncio `health.aio.HealthServicer` (grpc-stubs 1.53 only knows the sync one)."""

    async def set(self, service: str, status: int) -> None: ...

    async def enter_graceful_shutdown(self) -> None: ...


@dataclass
class Server:
    server: grpc.aio.Server
    port: int
    health: HealthServicer
    service_names: list[str]
    cleanups: list[Cleanup] = field(default_factory=list)
    # Run after the port is bound and before health says SERVING (a cache warm-up), in order.
    startups: list[Cleanup] = field(default_factory=list)
    # The service's kit Runtime (engine, redis, ...), for tests and health; set by create_server.
    runtime: Any = None
    # Run once health says SERVING (the database watcher, which may then say otherwise), in order.
    serving_hooks: list[Cleanup] = field(default_factory=list)

    async def start(self) -> None:
        await self.server.start()
        for startup in self.startups:
            await startup()
        await self.set_serving(True)
        for hook in self.serving_hooks:
            await hook()

    async def set_serving(self, serving: bool) -> None:
        """SERVING or NOT_SERVING for the server and each of its services (ignored once stopping)."""
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ["", *self.service_names]:
            await self.health.set(name, status)

    async def stop(self, grace: float = 5.0) -> None:
        """Say NOT_SERVING (so balancers drain), finish in-flight calls within `grace`, then clean up.

        Safe to call twice (a test stopping a server its fixture stops again): each cleanup runs once.
        """
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        while self.cleanups:
            cleanup = self.cleanups.pop()  # last registered first
            try:
                await cleanup()
            except Exception:
                log.exception("cleanup failed")


def build_server(
    *,
    service: str,
    registrations: Sequence[Registration],
    telemetry: Telemetry,
    verifier: TokenVerifier,
    public_methods: Iterable[str] = (),
    host: str = "127.0.0.1",
    port: int = 0,
    reflect: bool = True,
    record_clients: bool = False,
) -> Server:
    server = grpc.aio.server(
        interceptors=[
            ServerInterceptor(
                service,
                verifier,
                public=public_methods,
                internal=internal_methods(name for _, _, name in registrations),
                scopes=method_scopes(name for _, _, name in registrations),
                spans=telemetry.server_spans(),
                record_clients=record_clients,
            )
        ],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    names = []
    for add, servicer, name in registrations:
        add(servicer, server)
        names.append(name)
    # grpcio-health-checking has shipped `health.aio` since 1.37; grpc-stubs 1.53 does not declare it.
    health_servicer: HealthServicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if reflect:
        reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind {host}:{port}")
    return Server(server, bound, health_servicer, names)


def passing_bytes_through(
    add: Callable[[Any, grpc.aio.Server], None], methods: Iterable[str]
) -> Callable[[Any, grpc.aio.Server], None]:
    """`add` (a generated `add_XServicer_to_server`) whose `methods` may answer with their response already
    serialized: a `bytes` answer goes to the wire as it is, a message is serialized as usual.

    For a servicer that keeps its answers serialized (the task service's cached ListChores pages): without it,
    each answer would be parsed only for gRPC to serialize it again. The generated function hands its method
    handlers to `server.add_registered_method_handlers`; they are taken there, the chosen ones get the
    pass-through serializer, and all are registered on the real server as the generated code would.
    """
    chosen = frozenset(methods)

    def add_passing_bytes(servicer: Any, server: grpc.aio.Server) -> None:
        taken = _HandlersTaken()
        add(servicer, cast(grpc.aio.Server, taken))
        if taken.service is None:
            raise TypeError(f"{add.__name__} registered no method handlers")
        unknown = chosen - taken.handlers.keys()
        if unknown:
            raise ValueError(f"{taken.service} has no method {sorted(unknown)}")
        handlers = {
            name: _passing_bytes(handler) if name in chosen else handler for name, handler in taken.handlers.items()
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(taken.service, handlers),))
        # grpcio ≥ 1.63's registration (generated code calls both); grpc-stubs 1.53 does not declare it.
        server.add_registered_method_handlers(taken.service, handlers)  # type: ignore[attr-defined]

    add_passing_bytes.__name__ = add.__name__
    return add_passing_bytes


class _HandlersTaken:
    """Stands in for the server in a generated `add_XServicer_to_server` call, keeping the handlers it registers."""

    def __init__(self) -> None:
        self.service: str | None = None
        self.handlers: dict[str, Handler] = {}

    def add_generic_rpc_handlers(self, generic_handlers: Any) -> None:
        pass  # the same handlers come again, by name, to add_registered_method_handlers

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        self.service, self.handlers = service, dict(handlers)


def _passing_bytes(handler: Handler) -> Handler:
    serialize = handler.response_serializer

    def serialize_unless_bytes(response: Any) -> bytes:
        if type(response) is bytes:
            return response
        return serialize(response) if serialize is not None else response  # type: ignore[no-any-return]

    # A handler is a namedtuple at runtime; grpc-stubs declares a plain class without `_replace`.
    return handler._replace(response_serializer=serialize_unless_bytes)  # type: ignore[attr-defined,no-any-return]


async def serve(server: Server, *, grace: float) -> None:
    """Run until SIGTERM/SIGINT, then stop gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    log.info("serving", extra={"port": server.port, "services": server.service_names})
    await stop.wait()
    log.info("stopping", extra={"grace_seconds": grace})
    await server.stop(grace)
