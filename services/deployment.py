"""The defaults of a Hearth deployment on one machine: where its parts listen and find each other.

These are deployment choices, not mechanisms, so they live here and not in `kit.settings` (whose
`ServiceSettings` only says *what* a service must be told). Every value is overridable by environment
(README, "Configuration"); `make run` and a service started by hand use them as they are. Ports are
DESIGN.md's; every listener binds 127.0.0.1 unless told otherwise (set `<NAME>_GRPC_HOST` /
`GATEWAY_HTTP_HOST` to `0.0.0.0` in a container).
"""

from __future__ import annotations

from pydantic import Field

from kit.settings import ServiceSettings, alias

SERVICES = ("user", "task", "notify", "analytics")
# The processes holding a service secret (service tokens): the services, and the gateway, whose token proves to the
# user service that the client address and User-Agent it forwards are the HTTP client's (kit.interceptors).
CREDENTIALED = (*SERVICES, "gateway")
# gRPC ports; each service's Prometheus metrics listen on its port + 1000.
PORTS = {"user": 50051, "task": 50052, "notify": 50053, "analytics": 50054}
GATEWAY_PORT = 8080
HOST = "127.0.0.1"
DATABASE_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_NAMESPACE = "hearth"
JWT_ISSUER = "https://hearth.dev"
JWT_AUDIENCE = "hearth"


def address(service: str) -> str:
    """Where `service` answers gRPC in a local deployment."""
    return f"localhost:{PORTS[service]}"


def metrics_url(service: str) -> str:
    """Where `service`'s Prometheus metrics are in a local deployment (its gRPC port + 1000)."""
    return f"http://127.0.0.1:{PORTS[service] + 1000}/metrics"


class DeploymentSettings(ServiceSettings):
    """A service's settings with the local deployment's defaults filled in (each service's config.py)."""

    server_database_url: str | None = Field(default=DATABASE_SERVER_URL, validation_alias=alias("HEARTH_DATABASE_URL"))
    redis_url: str = Field(default=REDIS_URL, validation_alias=alias("REDIS_URL"))
    redis_namespace: str = Field(default=REDIS_NAMESPACE, validation_alias=alias("HEARTH_REDIS_NAMESPACE"))
    user_addr: str = Field(default=address("user"), validation_alias=alias("HEARTH_USER_ADDR"))
    jwt_issuer: str = Field(default=JWT_ISSUER, validation_alias=alias("HEARTH_JWT_ISSUER"))
    jwt_audience: str = Field(default=JWT_AUDIENCE, validation_alias=alias("HEARTH_JWT_AUDIENCE"))


__all__ = [
    "CREDENTIALED",
    "DATABASE_SERVER_URL",
    "GATEWAY_PORT",
    "HOST",
    "JWT_AUDIENCE",
    "JWT_ISSUER",
    "PORTS",
    "REDIS_NAMESPACE",
    "REDIS_URL",
    "SERVICES",
    "DeploymentSettings",
    "address",
    "metrics_url",
]
