"""HTTP plumbing of the gateway: validation → 422, body limits → 413, routing errors, correlation ids,
unexpected errors, /metrics, /openapi.json and /docs — against the real gateway and a real user service."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.config import GatewaySettings
from kit.text import CONTROL_CHARACTERS_MESSAGE
from tests.support.api import API, PASSWORD, Person, create_household, expect, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.infra import infra, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")

MIB = 1024 * 1024


stack = stack_fixture(["user"], gateway=True)
http = http_fixture()


def problem_of(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, object] = response.json()
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == f"https://hearth.dev/problems/{code}"
    assert problem["title"]
    assert problem["correlation_id"] == response.headers["x-correlation-id"]
    return problem


def fields(problem: dict[str, object]) -> dict[str, str]:
    errors = problem["errors"]
    assert isinstance(errors, list)
    return {e["field"]: e["message"] for e in errors}


def register_body(**extra: object) -> dict[str, object]:
    return {"email": f"{unique('v')}@example.com", "password": PASSWORD, "display_name": "Val", **extra}


# --- validation ---------------------------------------------------------------------------------------


async def test_unknown_field_is_422_with_the_field_named(http: httpx.AsyncClient) -> None:
    problem = problem_of(
        await http.post(f"{API}/auth/register", json=register_body(is_admin=True)), 422, "validation_failed"
    )
    assert fields(problem) == {"is_admin": "unknown field"}


async def test_unknown_nested_field_is_422_with_its_path(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Nest")
    hid = await create_household(http, owner)
    body = {
        "title": "Dishes",
        "recurrence": {"kind": "interval", "every": 1, "unit": "days", "colour": "red"},
        "assignment": {"strategy": "unassigned"},
    }
    response = await http.post(f"{API}/households/{hid}/chores", json=body, headers=owner.headers)
    assert fields(problem_of(response, 422, "validation_failed")) == {"recurrence.colour": "unknown field"}


async def test_missing_and_out_of_bounds_fields_are_422(http: httpx.AsyncClient) -> None:
    response = await http.post(f"{API}/auth/register", json={"email": "x@example.com", "display_name": "x" * 101})
    named = fields(problem_of(response, 422, "validation_failed"))
    assert set(named) == {"password", "display_name"}


async def test_malformed_json_is_422(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{API}/auth/login", content=b'{"email": "a@b.c", "password": ', headers={"content-type": "application/json"}
    )
    problem = problem_of(response, 422, "validation_failed")
    assert "malformed JSON" in fields(problem).values()


async def test_a_body_that_is_not_an_object_is_422(http: httpx.AsyncClient) -> None:
    response = await http.post(f"{API}/auth/login", json=["a", "b"])
    problem_of(response, 422, "validation_failed")


async def test_strings_are_trimmed_but_passwords_are_not(http: httpx.AsyncClient) -> None:
    email = f"{unique('trim')}@example.com"
    password = f"  {PASSWORD}  "
    user = expect(
        await http.post(
            f"{API}/auth/register", json={"email": f"  {email} ", "password": password, "display_name": "  Tim  "}
        ),
        201,
    )
    assert user["display_name"] == "Tim"
    assert user["email"] == email
    expect(await http.post(f"{API}/auth/login", json={"email": email, "password": password}), 200)
    stripped = await http.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    assert stripped.status_code == 401


async def test_bad_query_parameters_are_422(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Query")
    response = await http.get(f"{API}/households", params={"page_size": 1000}, headers=person.headers)
    assert "page_size" in fields(problem_of(response, 422, "validation_failed"))


# --- body size ---------------------------------------------------------------------------------------


async def test_declared_body_over_1_mib_is_413(http: httpx.AsyncClient) -> None:
    big = b'{"email": "' + b"a" * (MIB + 10) + b'"}'
    response = await http.post(f"{API}/auth/login", content=big, headers={"content-type": "application/json"})
    problem_of(response, 413, "payload_too_large")


async def test_streamed_body_over_1_mib_is_413(http: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "'
        for _ in range(20):
            yield b"a" * (64 * 1024)
        yield b'", "password": "x"}'

    # An async generator body goes out chunked, without Content-Length: only the streamed size can tell.
    response = await http.post(f"{API}/auth/login", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    problem_of(response, 413, "payload_too_large")


async def test_a_body_just_under_the_limit_is_read(http: httpx.AsyncClient) -> None:
    response = await http.post(f"{API}/auth/register", json=register_body(display_name="x" * (MIB - 200)))
    # Read and validated (too long a name), not refused for its size.
    assert "display_name" in fields(problem_of(response, 422, "validation_failed"))


# --- routing errors ----------------------------------------------------------------------------------


async def test_unknown_route_is_404_problem(http: httpx.AsyncClient) -> None:
    problem_of(await http.get(f"{API}/no/such/thing"), 404, "not_found")
    problem_of(await http.get("/nowhere"), 404, "not_found")


async def test_wrong_method_is_405_problem(http: httpx.AsyncClient) -> None:
    response = await http.delete(f"{API}/auth/login")
    problem_of(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


# --- correlation id ----------------------------------------------------------------------------------


async def test_correlation_id_is_echoed(http: httpx.AsyncClient) -> None:
    for path in ("/health/liveness", f"{API}/users/me", f"{API}/missing"):
        response = await http.get(path, headers={"X-Correlation-ID": "req-42.abc"})
        assert response.headers["x-correlation-id"] == "req-42.abc"


async def test_correlation_id_is_generated_when_absent_or_unusable(http: httpx.AsyncClient) -> None:
    first = (await http.get("/health/liveness")).headers["x-correlation-id"]
    second = (await http.get("/health/liveness")).headers["x-correlation-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second
    for unusable in ("x" * 200, "has spaces", "new\\nline"):
        echoed = (await http.get("/health/liveness", headers={"X-Correlation-ID": unusable})).headers
        assert echoed["x-correlation-id"] != unusable
        assert re.fullmatch(r"[0-9a-f]{32}", echoed["x-correlation-id"])


async def test_correlation_id_reaches_the_problem_of_a_service_error(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Cid")
    response = await http.get(
        f"{API}/households/0190b8a6-0000-7000-8000-000000000000",
        headers={**person.headers, "X-Correlation-ID": "from-client-7"},
    )
    problem = problem_of(response, 404, "not_found")
    assert problem["correlation_id"] == "from-client-7"


async def test_unexpected_errors_are_500_problems_with_the_correlation_id() -> None:
    settings = GatewaySettings(
        user_addr="127.0.0.1:1",
        task_addr="127.0.0.1:1",
        notify_addr="127.0.0.1:1",
        analytics_addr="127.0.0.1:1",
        redis_url=infra().redis_url,
    )
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://g") as client:
        response = await client.get("/boom", headers={"X-Correlation-ID": "boom-1"})
    problem = problem_of(response, 500, "internal")
    assert problem["correlation_id"] == "boom-1"
    assert "secret internals" not in response.text


async def test_an_unreachable_service_is_503(http: httpx.AsyncClient) -> None:
    # The stack runs no task service: its address is a closed port.
    person = await sign_up(http, "Una")
    hid = await create_household(http, person)
    response = await http.get(f"{API}/households/{hid}/chores", headers=person.headers)
    problem = problem_of(response, 503, "unavailable")
    assert "127.0.0.1:1" not in str(problem)


# --- metrics and OpenAPI ----------------------------------------------------------------------------


def request_count(text: str, method: str, route: str, status: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "hearth_http_requests":
            for sample in family.samples:
                labels = sample.labels
                if sample.name.endswith("_total") and (labels["method"], labels["route"], labels["status"]) == (
                    method,
                    route,
                    status,
                ):
                    return sample.value
    return 0.0


async def test_metrics_count_requests_per_route_template(http: httpx.AsyncClient) -> None:
    person: Person = await sign_up(http, "Metric")
    hid = await create_household(http, person)
    before = (await http.get("/metrics")).text
    route = f"{API}/households/{{hid}}"
    for _ in range(3):
        expect(await http.get(f"{API}/households/{hid}", headers=person.headers), 200)
    await http.get(f"{API}/households/{hid}")  # 401
    await http.get(f"{API}/no-such-route/{hid}")  # 404
    after = await http.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    assert request_count(after.text, "GET", route, "200") - request_count(before, "GET", route, "200") == 3
    assert request_count(after.text, "GET", route, "401") - request_count(before, "GET", route, "401") == 1
    assert request_count(after.text, "GET", "unmatched", "404") - request_count(before, "GET", "unmatched", "404") == 1
    assert hid not in after.text  # templates, never raw paths
    assert "hearth_http_request_duration_seconds_bucket" in after.text


async def test_openapi_describes_the_api(http: httpx.AsyncClient) -> None:
    spec = expect(await http.get("/openapi.json"), 200)
    assert spec["info"]["title"] == "Hearth API"
    schemes = spec["components"]["securitySchemes"]
    assert any(s["type"] == "http" and s["scheme"].lower() == "bearer" for s in schemes.values())
    paths = spec["paths"]
    for path, method in [
        (f"{API}/auth/register", "post"),
        (f"{API}/auth/login", "post"),
        (f"{API}/users/me", "patch"),
        (f"{API}/households/{{hid}}/chores", "post"),
        (f"{API}/households/{{hid}}/chores/{{cid}}", "patch"),
        (f"{API}/households/{{hid}}/chores/{{cid}}/complete", "post"),
        (f"{API}/invites/{{code}}/accept", "post"),
        (f"{API}/notifications/read-all", "post"),
        (f"{API}/households/{{hid}}/stats", "get"),
        ("/health/readiness", "get"),
    ]:
        assert method in paths.get(path, {}), (method, path)
    assert "security" in paths[f"{API}/users/me"]["get"]
    assert "security" not in paths[f"{API}/auth/register"]["post"]


async def test_docs_page_is_served(http: httpx.AsyncClient) -> None:
    docs = await http.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "/openapi.json" in docs.text


async def test_control_characters_are_422_but_passwords_are_kept_as_sent(http: httpx.AsyncClient) -> None:
    register = f"{API}/auth/register"
    response = await http.post(register, json=register_body(display_name="Ev\u0000e"))
    assert fields(problem_of(response, 422, "validation_failed")) == {"display_name": CONTROL_CHARACTERS_MESSAGE}
    response = await http.post(register, json=register_body(locale="d\u001be"))
    assert set(fields(problem_of(response, 422, "validation_failed"))) == {"locale"}
    response = await http.post(f"{API}/auth/login", json={"email": "a\u0000@example.com", "password": PASSWORD})
    assert set(fields(problem_of(response, 422, "validation_failed"))) == {"email"}
    response = await http.post(f"{API}/auth/refresh", json={"refresh_token": "hr_\u0000"})
    assert set(fields(problem_of(response, 422, "validation_failed"))) == {"refresh_token"}
    # A password may hold anything but NUL, and is not altered.
    response = await http.post(register, json=register_body(password=f"{PASSWORD}\u0000"))
    assert set(fields(problem_of(response, 422, "validation_failed"))) == {"password"}
    email, odd = f"{unique('ctl')}@example.com", f" {PASSWORD}\u0001 "
    expect(await http.post(register, json={"email": email, "password": odd, "display_name": "Odd"}), 201)
    expect(await http.post(f"{API}/auth/login", json={"email": email, "password": odd}), 200)

    person = await sign_up(http, "Ctl")
    response = await http.patch(f"{API}/users/me", json={"display_name": "x\u0000"}, headers=person.headers)
    assert set(fields(problem_of(response, 422, "validation_failed"))) == {"display_name"}
    response = await http.post(f"{API}/households", json={"name": "H\u0000", "timezone": "UTC"}, headers=person.headers)
    assert set(fields(problem_of(response, 422, "validation_failed"))) == {"name"}
    response = await http.get(f"{API}/households", params={"page_token": "a\x00"}, headers=person.headers)
    assert set(fields(problem_of(response, 422, "validation_failed"))) == {"page_token"}
    response = await http.post(f"{API}/invites/ab%00cd/accept", headers=person.headers)
    assert set(fields(problem_of(response, 422, "validation_failed"))) == {"code"}
