"""The gateway's secure defaults (issue 14, point 3): headers on every answer, WWW-Authenticate on 401, no banner,
CORS only for the configured origins, the docs and gRPC reflection switchable off."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
import httpx
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gateway.deprecation import Deprecated
from tests.support.api import API, create_household, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.people import PASSWORD
from tests.support.stack import SERVICES, another_gateway, replica

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(SERVICES, gateway=True)
http = http_fixture()

APP = "https://app.example.com"


def secured(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "content-security-policy" in response.headers
    assert "server" not in response.headers


async def test_every_answer_carries_the_security_headers(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Sec")
    hid = await create_household(http, owner)
    answers = [
        await http.get(f"{API}/households/{hid}/chores", headers=owner.headers),  # the fast route
        await http.get(f"{API}/households/{hid}", headers=owner.headers),  # a FastAPI route
        await http.get(f"{API}/households/{hid}/chores?page_size=0", headers=owner.headers),  # 422
        await http.get(f"{API}/nowhere"),  # 404
        await http.get("/health/liveness"),
    ]
    for answer in answers:
        secured(answer)
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    docs = await http.get("/docs")
    secured(docs)
    assert docs.headers["content-type"].startswith("text/html")
    policy = docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "https://cdn.jsdelivr.net" in policy  # where Swagger UI's scripts come from


async def test_a_401_names_the_bearer_scheme(http: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        answer = await http.get(f"{API}/users/me", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == 'Bearer realm="hearth"'
    assert "www-authenticate" not in (await http.get(f"{API}/nowhere")).headers


async def test_login_answers_are_not_cached(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Cache")
    answer = await http.post(f"{API}/auth/login", json={"email": person.email, "password": PASSWORD})
    assert (answer.status_code, answer.headers["cache-control"]) == (200, "no-store")


async def test_cors_answers_the_allowed_origins_only(stack: Any, http: httpx.AsyncClient) -> None:
    preflight = {
        "Origin": APP,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    # No origins configured (the default): no CORS answer at all.
    assert "access-control-allow-origin" not in (await http.options(f"{API}/households", headers=preflight)).headers
    async with another_gateway(stack, cors_origins=[APP]) as browser_facing:
        allowed = await browser_facing.options(f"{API}/households", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == APP
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        secured(allowed)
        elsewhere = await browser_facing.options(f"{API}/households", headers={**preflight, "Origin": "https://evil"})
        assert elsewhere.status_code == 400
        assert "access-control-allow-origin" not in elsewhere.headers
        simple = await browser_facing.get("/health/liveness", headers={"Origin": APP})
        assert simple.headers["access-control-allow-origin"] == APP
        assert "x-correlation-id" in simple.headers["access-control-expose-headers"].lower()


async def test_the_docs_can_be_turned_off(stack: Any) -> None:
    async with another_gateway(stack, docs_enabled=False) as closed:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await closed.get(path)).status_code == 404, path
        assert (await closed.get("/health/liveness")).status_code == 200


async def test_grpc_reflection_can_be_turned_off(stack: Any) -> None:
    async def services(port: int) -> grpc.StatusCode | list[str]:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            try:
                async for answer in stub.ServerReflectionInfo(
                    iter([reflection_pb2.ServerReflectionRequest(list_services="")])
                ):
                    return [s.name for s in answer.list_services_response.service]
            except grpc.aio.AioRpcError as exc:
                return exc.code()
        return []

    listed = await services(stack.servers["task"].port)
    assert isinstance(listed, list)
    assert "hearth.task.v1.ChoreService" in listed
    async with replica(stack, "task", grpc_reflection=False) as dark:
        assert await services(dark.port) == grpc.StatusCode.UNIMPLEMENTED


async def test_bodies_are_strictly_typed_and_sanely_nested(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Strict")
    hid = await create_household(http, owner)
    chore = {"title": "Typed", "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}}
    for field, value in (("points", True), ("points", "20"), ("requires_photo", "yes"), ("estimated_minutes", 1.5)):
        answer = await http.post(f"{API}/households/{hid}/chores", json={**chore, field: value}, headers=owner.headers)
        assert answer.status_code == 422, (field, value)
        assert answer.json()["errors"][0]["field"] == field
    nested = b"[" * 5000 + b"]" * 5000
    for body in (nested, b'{"title": ' + nested + b"}"):
        answer = await http.post(
            f"{API}/households/{hid}/chores",
            content=body,
            headers={**owner.headers, "content-type": "application/json"},
        )
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"] == "validation_failed"
    listed = await http.get(f"{API}/households/{hid}/chores", headers=owner.headers)
    assert listed.json()["items"] == []
    # Timestamps are strings in JSON, and stay accepted as such.
    dated = {**chore, "first_due_at": "2030-01-01T09:00:00Z"}
    assert (await http.post(f"{API}/households/{hid}/chores", json=dated, headers=owner.headers)).status_code == 201


async def test_a_deprecated_route_says_so_and_names_its_successor(http: httpx.AsyncClient) -> None:
    old = await http.get(f"{API}/.well-known/jwks.json")
    new = await http.get("/.well-known/jwks.json")
    assert old.status_code == new.status_code == 200
    assert old.json() == new.json()  # it still works, unchanged, until its sunset
    assert old.headers["deprecation"] == "@1796083200"  # 2026-12-01T00:00:00Z (RFC 9745)
    assert old.headers["sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"  # RFC 8594
    assert old.headers["link"] == '</.well-known/jwks.json>; rel="successor-version"'
    assert "deprecation" not in new.headers
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert paths[f"{API}/.well-known/jwks.json"]["get"]["deprecated"] is True
    assert "deprecated" not in paths["/.well-known/jwks.json"]["get"]


async def test_a_deprecation_gives_six_months_notice() -> None:
    with pytest.raises(ValueError, match="six months"):
        Deprecated(since=datetime(2027, 1, 1, tzinfo=UTC), sunset=datetime(2027, 3, 1, tzinfo=UTC), successor="/x")
