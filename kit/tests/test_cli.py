"""kit.cli: the Prometheus listener binds where the gRPC port does (loopback by default), or not at all."""

from __future__ import annotations

import socket
from typing import ClassVar

from pydantic import Field

from kit.cli import serve_metrics
from kit.settings import ServiceSettings, service_config


class DemoSettings(ServiceSettings):
    service: ClassVar[str] = "demo"
    model_config = service_config("demo")
    grpc_port: int = Field(default=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings(**values: object) -> DemoSettings:
    required = {
        "redis_url": "redis://127.0.0.1:6379/0",
        "redis_namespace": "demo",
        "user_addr": "localhost:1",
        "jwt_issuer": "https://issuer.example",
        "jwt_audience": "demo",
    }
    return DemoSettings(**(required | values))


def test_metrics_listen_on_the_loopback_by_default_not_every_interface() -> None:
    server = serve_metrics(settings(metrics_port=free_port()))
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_follow_the_configured_host_and_can_be_turned_off() -> None:
    server = serve_metrics(settings(metrics_port=free_port(), grpc_host="0.0.0.0"))
    try:
        assert server.server_address[0] == "0.0.0.0"
    finally:
        server.shutdown()
        server.server_close()
    assert serve_metrics(settings(metrics_port=0)) is None
    assert serve_metrics(settings(grpc_port=0)) is None  # an ephemeral gRPC port gets no metrics listener
