"""GET /status: a small HTML dashboard of the system's health, its recent history and key metrics.

Plain HTML, CSS and vanilla JavaScript from gateway/static/ (no build step, nothing from a CDN). The page asks
/health/status (every component, with each service's outbox lag), /health/history and /health/metrics-summary
every few seconds (`data-refresh-ms` on <body>, 3 s) and renders them with textContent only. Its
Content-Security-Policy allows scripts, styles and fetches from the gateway itself and nothing else: no inline
script or style, no other origin, no framing.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

STATIC = Path(__file__).resolve().parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
ASSETS = {"status.js": "text/javascript; charset=utf-8", "status.css": "text/css; charset=utf-8"}
# Read once: three small files, served from memory.
_FILES = {name: (STATIC / name).read_bytes() for name in ("status.html", *ASSETS)}

router = APIRouter(include_in_schema=False)


@router.get("/status")
async def status_page() -> Response:
    return Response(
        _FILES["status.html"],
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


@router.get("/status/static/{name}")
async def status_asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(status_code=404)
    return Response(_FILES[name], media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})
