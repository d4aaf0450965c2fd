"""`python -m gateway`: serve the REST API with uvicorn (GATEWAY_HTTP_PORT, default 8080)."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.config import GatewaySettings
from kit.logging import setup_logging
from kit.parent import die_with_parent
from kit.telemetry import setup_telemetry


def main() -> None:
    die_with_parent()
    settings = GatewaySettings()
    setup_logging("gateway", settings.log_level)
    telemetry = setup_telemetry("gateway", otlp_endpoint=settings.otlp_endpoint, set_global=True)
    app = create_app(settings, telemetry=telemetry)
    try:
        # uvloop and httptools, named rather than left to uvicorn's "auto", so a missing one fails at start
        # instead of silently serving on the asyncio loop and h11.
        uvicorn.run(
            app,
            host=settings.http_host,
            port=settings.http_port,
            loop="uvloop",
            http="httptools",
            log_config=None,
            access_log=False,
            server_header=False,  # no `server: uvicorn` banner
            # Whose X-Forwarded-For to believe is GATEWAY_TRUSTED_PROXIES' (gateway.app); uvicorn's own handling
            # would believe any process on 127.0.0.1.
            proxy_headers=False,
        )
    finally:
        telemetry.shutdown()


if __name__ == "__main__":
    main()
