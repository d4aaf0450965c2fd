"""kit.settings: per-service variables with the service's prefix, deployment-wide ones by their own names."""

from __future__ import annotations

import os
from typing import ClassVar

import pytest
from pydantic import Field, ValidationError

from kit.settings import ServiceSettings, database_url_for, service_config


class DemoSettings(ServiceSettings):
    """Shaped like every service's config.py."""

    service: ClassVar[str] = "demo"
    model_config = service_config("demo")

    grpc_port: int = Field(default=50099)


# The deployment-wide names ServiceSettings reads.
GLOBAL_VARIABLES = (
    "HEARTH_DATABASE_URL",
    "REDIS_URL",
    "HEARTH_REDIS_NAMESPACE",
    "HEARTH_SHUTDOWN_GRACE",
    "HEARTH_USER_ADDR",
    "HEARTH_JWT_ISSUER",
    "HEARTH_JWT_AUDIENCE",
    "HEARTH_LOG_LEVEL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


# What a deployment must say (kit has no defaults for where things are).
REQUIRED = {
    "REDIS_URL": "redis://cache:6379/0",
    "HEARTH_REDIS_NAMESPACE": "demo",
    "HEARTH_USER_ADDR": "user:50051",
    "HEARTH_JWT_ISSUER": "https://issuer.example",
    "HEARTH_JWT_AUDIENCE": "demo",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: nothing from the machine's (or CI's) environment, plus what a deployment must say."""
    for name in list(os.environ):
        if name.startswith("DEMO_") or name in GLOBAL_VARIABLES:
            monkeypatch.delenv(name)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_kit_has_no_default_for_where_the_deployment_is(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.delenv(name)
    with pytest.raises(ValidationError, match=name):
        DemoSettings()


def test_internal_ports_bind_the_loopback_by_default() -> None:
    assert DemoSettings().grpc_host == "127.0.0.1"


def test_explicit_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://app:pw@db.internal:6432/demo_main")
    monkeypatch.setenv("HEARTH_DATABASE_URL", "postgresql://postgres@shared:5432/postgres")
    assert DemoSettings().sqlalchemy_url == "postgresql+asyncpg://app:pw@db.internal:6432/demo_main"


def test_database_is_hearth_name_on_the_shared_server_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_DATABASE_URL", "postgresql://app:s3cret@shared:5433/postgres?sslmode=require")
    assert DemoSettings().sqlalchemy_url == "postgresql+asyncpg://app:s3cret@shared:5433/hearth_demo?sslmode=require"


def test_without_either_there_is_no_database_and_the_error_says_what_to_set() -> None:
    with pytest.raises(ValueError, match="set DEMO_DATABASE_URL or HEARTH_DATABASE_URL"):
        _ = DemoSettings().sqlalchemy_url


def test_another_services_database_url_is_not_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    monkeypatch.setenv("TASK_DATABASE_URL", "postgresql://postgres@elsewhere/hearth_task")
    assert DemoSettings().sqlalchemy_url.endswith("@127.0.0.1:5432/hearth_demo")


@pytest.mark.parametrize(
    "url",
    ["postgresql://u@h/d", "postgresql+psycopg://u@h/d", "postgres://u@h/d", "postgresql+asyncpg://u@h/d"],
)
def test_the_url_always_names_the_asyncpg_driver(url: str) -> None:
    assert database_url_for("demo", url, None) == "postgresql+asyncpg://u@h/d"


def test_metrics_port_defaults_to_grpc_port_plus_1000(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DemoSettings().effective_metrics_port == 51099
    monkeypatch.setenv("DEMO_GRPC_PORT", "50123")
    assert DemoSettings().effective_metrics_port == 51123


def test_metrics_port_can_be_set_or_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_METRICS_PORT", "9100")
    assert DemoSettings().effective_metrics_port == 9100
    monkeypatch.setenv("DEMO_METRICS_PORT", "0")
    assert DemoSettings().effective_metrics_port == 0


def test_an_ephemeral_grpc_port_gets_no_metrics_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_GRPC_PORT", "0")
    assert DemoSettings().effective_metrics_port == 0


def test_deployment_wide_variables_keep_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/3")
    monkeypatch.setenv("HEARTH_REDIS_NAMESPACE", "staging")
    monkeypatch.setenv("HEARTH_USER_ADDR", "user:50051")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    monkeypatch.setenv("DEMO_REDIS_URL", "redis://not-this-one")  # no prefixed variant of a global one
    settings = DemoSettings()
    assert settings.redis_url == "redis://cache:6379/3"
    assert settings.redis_namespace == "staging"
    assert settings.user_addr == "user:50051"
    assert settings.otlp_endpoint == "http://collector:4317"


def test_constructor_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_GRPC_PORT", "50123")
    assert DemoSettings(grpc_port=0).grpc_port == 0
