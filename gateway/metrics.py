"""Operators' metrics: the gateway's own at `/metrics`, and each service's, linked from the gateway.

Each service exports Prometheus on its own listener (`<NAME>_METRICS_PORT`, loopback by default, kit.cli). The
gateway names them at `/metrics/services` and relays each at `/metrics/{service}` — the exposition as the service
wrote it, within the gateway's call deadline for the whole relay (`GATEWAY_GRPC_TIMEOUT_SECONDS`) and at most
8 MiB — so one address reaches every process's metrics, also where the services' listeners are not reachable from
outside. A client per relay: a scrape every few seconds does not warrant a pool to keep and close. Neither path is
under `/api/`: like `/metrics`, they are for the operator's network, not the internet (keep them off the public
proxy).
"""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.problems import problem
from gateway.serialize import JSONResponse
from services.deployment import SERVICES

router = APIRouter(tags=["operations"])
# The relayed exposition is bounded (a service's is tens of KiB): more is not Prometheus text we asked for.
MAX_EXPOSITION_BYTES = 8 * 1024 * 1024


@router.get("/metrics", summary="Prometheus metrics of the gateway", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/metrics/services", summary="Where each service's Prometheus metrics are", include_in_schema=False)
async def services() -> JSONResponse:
    return JSONResponse({"gateway": "/metrics", **{name: f"/metrics/{name}" for name in SERVICES}})


@router.get("/metrics/{service}", summary="A service's Prometheus metrics, relayed", include_in_schema=False)
async def service_metrics(service: str, request: Request) -> Response:
    settings = request.app.state.settings
    if service not in SERVICES:
        return problem(404, "not_found", f"no service named {service[:50]!r}; see /metrics/services")
    url = getattr(settings, f"{service}_metrics_url")
    if not url:
        return problem(404, "not_found", f"the {service} service's metrics are not configured")
    unavailable = problem(503, "unavailable", f"the {service} service's metrics did not answer")
    try:
        # One deadline for the whole relay (httpx's timeout bounds each read, not the call: an upstream trickling a
        # byte at a time would otherwise hold the request as long as it liked).
        async with (
            asyncio.timeout(settings.grpc_timeout_seconds),
            httpx.AsyncClient(timeout=settings.grpc_timeout_seconds) as client,
            client.stream("GET", url) as upstream,
        ):
            declared = upstream.headers.get("content-length", "")
            if upstream.status_code != 200 or (declared.isdigit() and int(declared) > MAX_EXPOSITION_BYTES):
                return unavailable
            body = bytearray()
            async for chunk in upstream.aiter_bytes():
                body += chunk
                if len(body) > MAX_EXPOSITION_BYTES:
                    return unavailable
            media_type = upstream.headers.get("content-type", CONTENT_TYPE_LATEST)
    except (httpx.HTTPError, TimeoutError):
        return unavailable
    return Response(bytes(body), media_type=media_type)
