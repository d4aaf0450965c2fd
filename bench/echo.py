"""The ceilings' servers: `python -m bench.echo grpc PORT` and `python -m bench.echo http PORT GRPC_TARGET`.

- grpc: a bare grpc.aio server with the stock `grpc.health.v1` servicer (no interceptors, no
  telemetry): Health/Check is the echo — no new proto;
- http: a bare FastAPI app whose `GET /echo` makes one grpc.aio Health/Check call to the grpc echo
  and returns its answer as JSON, served by uvicorn exactly as `python -m gateway` serves the
  gateway (`log_config=None, access_log=False`, uvicorn's defaults otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import uvicorn
import uvloop
from fastapi import FastAPI, Request
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from kit.logging import setup_logging


async def serve_grpc(port: int) -> None:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]  # grpc-stubs 1.53 predates health.aio
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1)


def create_app(target: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Like the gateway: the channel belongs to uvicorn's loop, so it is made at startup.
        async with grpc.aio.insecure_channel(target) as channel:
            app.state.stub = health_pb2_grpc.HealthStub(channel)
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/echo")
    async def echo(request: Request) -> dict[str, str]:
        reply = await request.app.state.stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        return {"status": health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}

    @app.get("/health/liveness")
    async def liveness() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo")
    parser.add_argument("kind", choices=["grpc", "http"])
    parser.add_argument("port", type=int)
    parser.add_argument("target", nargs="?", default="", help="http: the grpc echo's host:port")
    args = parser.parse_args()
    setup_logging(f"echo-{args.kind}", os.environ.get("HEARTH_LOG_LEVEL", "WARNING"))
    if args.kind == "grpc":
        uvloop.run(serve_grpc(args.port))
    else:
        uvicorn.run(
            create_app(args.target),
            host="127.0.0.1",
            port=args.port,
            loop="uvloop",
            http="httptools",
            log_config=None,
            access_log=False,
        )


if __name__ == "__main__":
    main()
