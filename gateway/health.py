"""Operations endpoints: liveness, readiness, status (per component, overall ok|degraded|down), metrics.

A gRPC service not SERVING makes the system `down` (the API cannot work without it); Redis not
answering makes it `degraded` (caches are bypassed, events wait in the outboxes). Health answers 200
for ok and degraded and 503 for down, so a load balancer can use it as is.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import redis.asyncio as aioredis
from fastapi import APIRouter, Request, Response
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import openapi as doc
from gateway import responses
from gateway.clients import ADDRESSES
from gateway.serialize import JSONResponse

router = APIRouter(tags=["operations"])
CHECK_TIMEOUT = 1.0


async def check_service(channel: grpc.aio.Channel) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=CHECK_TIMEOUT)
        status = "ok" if reply.status == health_pb2.HealthCheckResponse.SERVING else "down"
        detail = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    except grpc.aio.AioRpcError as exc:
        status, detail = "down", exc.code().name
    return {"status": status, "detail": detail, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


async def check_redis(redis: aioredis.Redis) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(redis.ping(), CHECK_TIMEOUT)
        status, detail = "ok", "PONG"
    except (TimeoutError, OSError, aioredis.RedisError) as exc:
        status, detail = "degraded", type(exc).__name__
    return {"status": status, "detail": detail, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


async def components(request: Request) -> dict[str, dict[str, Any]]:
    channels = request.app.state.clients.channels
    checks = [check_service(channels[name]) for name in ADDRESSES]
    results = await asyncio.gather(*checks, check_redis(request.app.state.redis))
    return dict(zip([*ADDRESSES, "redis"], results, strict=True))


def overall(parts: dict[str, dict[str, Any]]) -> str:
    states = {part["status"] for part in parts.values()}
    if "down" in states:
        return "down"
    return "degraded" if "degraded" in states else "ok"


@router.get(
    "/health/liveness",
    summary="The process is up",
    responses={200: doc.body(responses.Liveness, responses.LIVENESS, "The process answers")},
)
async def liveness() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/health/readiness",
    summary="Ready when every service answers its gRPC health check (Redis down is degraded, still ready)",
    responses={
        200: doc.body(responses.Readiness, responses.READY, "Ready: ok, or degraded (Redis down)"),
        503: doc.body(responses.Readiness, responses.NOT_READY, "Not ready: a service does not answer"),
    },
)
async def readiness(request: Request) -> JSONResponse:
    parts = await components(request)
    state = overall(parts)
    ready = state != "down"
    return JSONResponse(
        {"status": state if ready else "unavailable", "components": parts}, status_code=200 if ready else 503
    )


@router.get(
    "/health/status",
    summary="Each component and the overall state: ok, degraded or down",
    responses={
        200: doc.body(responses.SystemStatus, responses.STATUS_OK, "ok or degraded"),
        503: doc.body(responses.SystemStatus, responses.STATUS_DOWN, "down: a service does not answer"),
    },
)
async def status(request: Request) -> JSONResponse:
    parts = await components(request)
    state = overall(parts)
    return JSONResponse({"status": state, "components": parts}, status_code=503 if state == "down" else 200)


@router.get("/metrics", summary="Prometheus metrics of the gateway", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
