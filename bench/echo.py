"""The ceilings' servers: `python -m bench.echo grpc PORT` and `python -m bench.echo http PORT GRPC_TARGET`.

- grpc: a bare grpc.aio server with the stock `grpc.health.v1` servicer (no interceptors, no
  telemetry): Health/Check is the echo — no new proto;
- http: a bare FastAPI app whose `GET /echo` makes one grpc.aio Health/Check call to the grpc echo
  and returns its answer as JSON, served by uvicorn exactly as `python -m gateway` serves the
  gateway (uvloop, httptools, `log_config=None, access_log=False`).

The payload ceiling: the grpc echo also answers hearth.task.v1 ChoreService/ListChores with the same 50
prebuilt chores every time (`prebuilt_chores`, shaped like the bench's seeded ones), and the http echo's
`GET /chores` makes that one call and answers as the gateway's list route does — `gateway.converters.chore`
per item, `gateway.serialize.JSONResponse` — without auth, middleware, telemetry or a database: what the
frameworks and the conversion alone cost for a 50-chore page.
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
from hearth.task.v1 import task_pb2, task_pb2_grpc

from gateway import converters
from gateway.serialize import JSONResponse
from kit.logging import setup_logging
from kit.parent import die_with_parent

PAYLOAD_CHORES = 50
_HOUSEHOLD = "households/0192f1a2-7c3e-7d41-9a55-3b1f0c2d4e51"
_OWNER = "users/0192f1a0-11aa-7b2c-8d3e-4f5a6b7c8d90"


def prebuilt_chores(count: int = PAYLOAD_CHORES) -> task_pb2.ListChoresResponse:
    """`count` daily interval chores as the task service returns the bench's seeded ones (unassigned, 5 points)."""
    chores = []
    for n in range(count):
        chore = task_pb2.Chore(
            name=f"{_HOUSEHOLD}/chores/0192f1a3-5b6c-7d8e-9f01-2a3b4c5d{n:04x}",
            title=f"Chore {n:02d}",
            points=5,
            creator=_OWNER,
            state=task_pb2.Chore.ACTIVE,
            etag="1",
        )
        chore.recurrence.interval.every = 1
        chore.recurrence.interval.unit = task_pb2.Recurrence.Interval.DAYS
        chore.assignment.strategy = task_pb2.Assignment.UNASSIGNED
        for stamp, offset in ((chore.create_time, 0), (chore.update_time, 0), (chore.next_due_time, 86400)):
            stamp.seconds = 1_796_000_000 + n + offset
            stamp.nanos = 123_456_000
        chores.append(chore)
    return task_pb2.ListChoresResponse(chores=chores)


class PayloadChores(task_pb2_grpc.ChoreServiceServicer):
    def __init__(self) -> None:
        self.page = prebuilt_chores()

    async def ListChores(self, request: task_pb2.ListChoresRequest, context: object) -> task_pb2.ListChoresResponse:
        return self.page


async def serve_grpc(port: int) -> None:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]  # grpc-stubs 1.53 predates health.aio
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    task_pb2_grpc.add_ChoreServiceServicer_to_server(PayloadChores(), server)  # type: ignore[abstract]  # only ListChores
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
            app.state.chores = task_pb2_grpc.ChoreServiceStub(channel)
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/echo")
    async def echo(request: Request) -> dict[str, str]:
        reply = await request.app.state.stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        return {"status": health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}

    @app.get("/chores")
    async def chores(request: Request) -> JSONResponse:
        reply = await request.app.state.chores.ListChores(
            task_pb2.ListChoresRequest(parent=_HOUSEHOLD, page_size=PAYLOAD_CHORES), timeout=5
        )
        return JSONResponse(
            {"items": [converters.chore(c) for c in reply.chores], "next_page_token": reply.next_page_token}
        )

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
    die_with_parent()
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
