"""The local deployment's defaults (services/deployment.py): what a service started by hand, or by `make run`,
uses when nothing is configured — and that the environment still wins."""

from __future__ import annotations

import os

import pytest

from gateway.config import GatewaySettings
from services import deployment
from services.analytics.config import Settings as AnalyticsSettings
from services.notify.config import Settings as NotifySettings
from services.task.config import Settings as TaskSettings
from services.user.config import Settings as UserSettings

SETTINGS = {"user": UserSettings, "task": TaskSettings, "notify": NotifySettings, "analytics": AnalyticsSettings}


@pytest.fixture(autouse=True)
def nothing_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("HEARTH_", "REDIS_", "USER_", "TASK_", "NOTIFY_", "ANALYTICS_", "GATEWAY_")):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("service", deployment.SERVICES)
def test_each_service_listens_on_its_design_port_on_the_loopback(service: str) -> None:
    settings = SETTINGS[service]()
    assert settings.grpc_port == deployment.PORTS[service]
    assert settings.grpc_host == "127.0.0.1"
    assert settings.effective_metrics_port == deployment.PORTS[service] + 1000
    assert settings.sqlalchemy_url == f"postgresql+asyncpg://postgres@127.0.0.1:5432/hearth_{service}"
    assert (settings.redis_url, settings.redis_namespace) == ("redis://127.0.0.1:6379/0", "hearth")
    assert settings.user_addr == "localhost:50051"


def test_the_gateway_finds_every_service_and_binds_the_loopback() -> None:
    settings = GatewaySettings()
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert [settings.user_addr, settings.task_addr, settings.notify_addr, settings.analytics_addr] == [
        f"localhost:{port}" for port in (50051, 50052, 50053, 50054)
    ]
    assert (settings.jwt_issuer, settings.jwt_audience) == (deployment.JWT_ISSUER, deployment.JWT_AUDIENCE)


def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASK_GRPC_HOST", "0.0.0.0")
    monkeypatch.setenv("HEARTH_USER_ADDR", "user.internal:50051")
    monkeypatch.setenv("HEARTH_DATABASE_URL", "postgresql://app@db:5432/postgres")
    settings = TaskSettings()
    assert settings.grpc_host == "0.0.0.0"
    assert settings.user_addr == "user.internal:50051"
    assert settings.sqlalchemy_url == "postgresql+asyncpg://app@db:5432/hearth_task"
