"""/openapi.json is the contract: real responses of the real gateway and the four real services match it.

The document is fetched from the running gateway. Every route the app serves is driven with real requests
(its successes and the errors a client meets: no token, another household's ids, a stale If-Match, a spent
invite, bad input, a body over the limit), and each response is checked against the document: its status
is one the operation documents, its media type is documented for that status, its body validates against
that schema (JSON Schema 2020-12, as OpenAPI 3.1 defines), and the headers the document calls required are
there. A route that is not driven to a documented 2xx, or documents a 2xx without a schema, fails the test.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.app import create_app
from gateway.config import GatewaySettings
from services.notify import unsubscribe
from services.user.tests.credentials import Totp, current_step, stored_reset_token, wrong_code
from tests.support.api import PASSWORD
from tests.support.fixtures import stack_fixture
from tests.support.infra import infra, unique
from tests.support.jobs import photo_worker, run_user_jobs
from tests.support.photos import encoded
from tests.support.stack import SERVICES, Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"
DOCUMENT = "urn:hearth:openapi"
PROBLEM_JSON = "application/problem+json"
BINARY = {"type": "string", "format": "binary"}


stack = stack_fixture(SERVICES, gateway=True)


def pointer(*parts: str) -> str:
    """A JSON pointer (RFC 6901) to parts of the document."""
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def served_operations() -> set[tuple[str, str]]:
    """(METHOD, path template) of every route the gateway app serves and documents, from its route table."""
    app = create_app(GatewaySettings())
    operations: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema:
            assert context.path_format is not None
            operations |= {(method, context.path_format) for method in route.methods}
    return operations


@dataclass
class Contract:
    """The document as served, and which operations real responses were checked against."""

    spec: dict[str, Any]
    checked: set[tuple[str, str, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        resource = Resource.from_contents(self.spec, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(DOCUMENT, resource)

    def operation(self, method: str, template: str) -> dict[str, Any]:
        operation = self.spec["paths"].get(template, {}).get(method.lower())
        assert operation is not None, f"{method} {template} is not in the document"
        return dict(operation)

    def validate(self, instance: Any, *at: str) -> None:
        """Validate `instance` against the schema at `at` in the document (its $refs resolve in the document)."""
        validator = Draft202012Validator(
            {"$ref": f"{DOCUMENT}#{pointer(*at)}"},
            registry=self.registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            raise ValidationError(
                "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in errors[:5])
            )

    def check(self, response: httpx.Response, method: str, template: str) -> None:
        operation = self.operation(method, template)
        status = str(response.status_code)
        documented = operation["responses"].get(status)
        assert documented is not None, (
            f"{method} {template} answered {status}, which it does not document: {response.text[:300]}"
        )
        for name, header in documented.get("headers", {}).items():
            if header.get("required"):
                assert name.lower() in response.headers, f"{method} {template} {status}: no {name} header"
        content = documented.get("content", {})
        if not content:
            assert response.content == b"", f"{method} {template} {status} documents no body but sent one"
        else:
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            assert media_type in content, f"{method} {template} {status}: {media_type} is not documented"
            assert "schema" in content[media_type], f"{method} {template} {status} has no schema"
            if content[media_type]["schema"] == BINARY:  # a file (an export's zip): bytes, no JSON to validate
                assert response.content, f"{method} {template} {status}: an empty file"
                self.checked.add((method, template, response.status_code))
                return
            where = ("paths", template, method.lower(), "responses", status, "content", media_type, "schema")
            try:
                self.validate(response.json(), *where)
            except ValidationError as invalid:
                raise AssertionError(f"{method} {template} {status}: {invalid.message}\n{response.text}") from None
        self.checked.add((method, template, response.status_code))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def contract(stack: Stack) -> Contract:
    async with stack.http() as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    return Contract(response.json())


class Api:
    """An HTTP client of the gateway that checks every response against the contract."""

    def __init__(self, http: httpx.AsyncClient, contract: Contract) -> None:
        self.http = http
        self.contract = contract

    async def call(
        self,
        method: str,
        template: str,
        status: int,
        *,
        token: str | None = None,
        path: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        url = template.format(**{k: quote(v, safe="") for k, v in (path or {}).items()})
        sent = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        response = await self.http.request(method, url, headers=sent, **kwargs)
        assert response.status_code == status, f"{method} {url}: {response.status_code} {response.text[:500]}"
        self.contract.check(response, method, template)
        return response

    async def open_stream(
        self, method: str, template: str, *, path: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A response that never ends (Server-Sent Events): its status, media type and first bytes are checked
        against the document, then the connection is closed."""
        url = template.format(**{k: quote(v, safe="") for k, v in (path or {}).items()})
        async with self.http.stream(method, url, **kwargs) as response:
            assert response.status_code == 200, f"{method} {url}: {response.status_code}"
            documented = self.contract.operation(method, template)["responses"]["200"]
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            assert media_type in documented["content"], f"{method} {template}: {media_type} is not documented"
            assert await anext(response.aiter_bytes()), f"{method} {template}: nothing sent"
        self.contract.checked.add((method, template, 200))
        return response


@pytest_asyncio.fixture(loop_scope="module")
async def api(stack: Stack, contract: Contract) -> AsyncIterator[Api]:
    async with stack.http() as client:
        yield Api(client, contract)


@dataclass
class Someone:
    user_id: str
    email: str
    token: str
    refresh_token: str


async def someone(api: Api, name: str) -> Someone:
    email = f"{unique(name.lower())}@example.com"
    body = {"email": email, "password": PASSWORD, "display_name": name, "timezone": "Europe/Berlin"}
    user = (await api.call("POST", f"{API}/auth/register", 201, json=body)).json()
    pair = (await api.call("POST", f"{API}/auth/login", 200, json={"email": email, "password": PASSWORD})).json()
    return Someone(user["id"], email, pair["access_token"], pair["refresh_token"])


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Every recurrence kind of the document: each with and without its optional parts.
RECURRENCES: list[dict[str, Any]] = [
    {"kind": "once"},
    {"kind": "once", "months": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]},
    {"kind": "interval", "every": 2, "unit": "days", "months": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]},
    {"kind": "interval", "every": 1, "unit": "weeks", "rolling": True},
    {"kind": "interval", "every": 12, "unit": "hours"},
    {"kind": "weekly", "days": ["mon", "thu"], "time": "18:00"},
    {"kind": "weekly", "every": 2, "days": ["sat"], "months": [4, 5, 6, 7, 8, 9, 10], "rolling": True},
    {"kind": "monthly", "day_of_month": -1},
    {"kind": "monthly", "every": 2, "weekday": "sat", "week": 2},
    {"kind": "yearly", "month": 2, "day": 29},
    {"kind": "rrule", "rrule": "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=20"},
    {"kind": "adaptive"},
]


def browser_keys() -> dict[str, str]:
    """A browser's PushSubscription keys: a P-256 public key and a 16-byte secret, base64url."""
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {
        "p256dh": base64.urlsafe_b64encode(point).rstrip(b"=").decode(),
        "auth": base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode(),
    }


async def test_real_responses_match_the_document(stack: Stack, api: Api, contract: Contract) -> None:
    chores = f"{API}/households/{{hid}}/chores"
    chore_url = f"{chores}/{{cid}}"

    # --- auth ---
    alice, bob, kid, outsider = [await someone(api, name) for name in ("Alice", "Bob", "Kid", "Otto")]
    duplicate = {"email": alice.email.upper(), "password": PASSWORD, "display_name": "Again"}
    await api.call("POST", f"{API}/auth/register", 409, json=duplicate)
    await api.call("POST", f"{API}/auth/register", 422, json={"email": "x@example.com", "is_admin": True})
    huge = {"email": "big@example.com", "password": PASSWORD, "display_name": "x" * (1024 * 1024 + 1)}
    await api.call("POST", f"{API}/auth/register", 413, json=huge)
    await api.call("POST", f"{API}/auth/login", 401, json={"email": alice.email, "password": "wrong password!"})
    pair = (await api.call("POST", f"{API}/auth/refresh", 200, json={"refresh_token": alice.refresh_token})).json()
    # Reusing the spent token ends the whole session, the new pair with it.
    await api.call("POST", f"{API}/auth/refresh", 401, json={"refresh_token": alice.refresh_token})
    await api.call("GET", f"{API}/users/me", 401, token=pair["access_token"])
    login = {"email": alice.email, "password": PASSWORD}
    pair = (await api.call("POST", f"{API}/auth/login", 200, json=login)).json()
    alice.token, alice.refresh_token = pair["access_token"], pair["refresh_token"]

    # --- sessions and the audit log ---
    second = (await api.call("POST", f"{API}/auth/login", 200, json=login)).json()
    third = (await api.call("POST", f"{API}/auth/login", 200, json=login)).json()
    sessions = (await api.call("GET", f"{API}/auth/sessions", 200, token=second["access_token"])).json()["items"]
    await api.call("GET", f"{API}/auth/sessions", 422, token=alice.token, params={"page_size": 0})
    mine = {"session_id": next(s["id"] for s in sessions if s["current"])}
    revoke = f"{API}/auth/sessions/{{session_id}}"
    await api.call("DELETE", revoke, 404, token=outsider.token, path=mine)
    await api.call("DELETE", revoke, 204, token=third["access_token"], path=mine)
    await api.call("DELETE", f"{API}/auth/sessions", 200, token=third["access_token"])
    await api.call("GET", f"{API}/users/me/audit", 200, token=third["access_token"])
    await api.call("GET", f"{API}/users/me/audit", 422, token=third["access_token"], params={"page_size": 500})
    pair = (await api.call("POST", f"{API}/auth/login", 200, json=login)).json()
    alice.token, alice.refresh_token = pair["access_token"], pair["refresh_token"]

    # --- API keys ---
    keys = f"{API}/api-keys"
    key_body = {"name": "Script", "scopes": ["profile:read"], "expires_at": "2028-01-01T00:00:00Z"}
    key = (await api.call("POST", keys, 201, token=alice.token, json=key_body)).json()
    await api.call("POST", keys, 422, token=alice.token, json={"name": "Script", "scopes": ["root"]})
    await api.call("GET", keys, 200, token=alice.token)
    await api.call("GET", keys, 403, token=key["key"])
    await api.call("GET", f"{API}/users/me", 200, token=key["key"])
    one_key = f"{API}/api-keys/{{api_key_id}}"
    await api.call("DELETE", one_key, 404, token=outsider.token, path={"api_key_id": key["id"]})
    await api.call("DELETE", one_key, 204, token=alice.token, path={"api_key_id": key["id"]})
    await api.call("GET", f"{API}/users/me", 401, token=key["key"])
    for jwks in ("/.well-known/jwks.json", f"{API}/.well-known/jwks.json"):
        await api.call("GET", jwks, 200)

    # --- the second factor and the password ---
    mfa = f"{API}/auth/mfa/totp"
    totp = Totp((await api.call("POST", mfa, 200, token=alice.token)).json()["secret"], current_step())
    activate = f"{mfa}/activate"
    await api.call("POST", activate, 401, token=alice.token, json={"code": wrong_code(totp.activation_code)})
    codes = (await api.call("POST", activate, 200, token=alice.token, json={"code": totp.activation_code})).json()
    await api.call("POST", activate, 409, token=alice.token, json={"code": totp.next_code})
    await api.call("POST", f"{API}/auth/login", 401, json=login)  # mfa_required
    await api.call("DELETE", mfa, 401, token=alice.token, json={"code": "000000"})
    await api.call("DELETE", mfa, 204, token=alice.token, json={"code": codes["recovery_codes"][0]})
    await api.call("DELETE", mfa, 404, token=alice.token, json={"code": codes["recovery_codes"][1]})
    change = f"{API}/auth/password/change"
    changed = {"current_password": PASSWORD, "new_password": "an interim passphrase"}
    await api.call("POST", change, 403, token=alice.token, json={**changed, "current_password": "not it at all"})
    await api.call("POST", change, 422, token=alice.token, json={**changed, "new_password": "short"})
    await api.call("POST", change, 204, token=alice.token, json=changed)
    forgot, reset = f"{API}/auth/password/forgot", f"{API}/auth/password/reset"
    await api.call("POST", forgot, 202, json={"email": alice.email})
    await api.call("POST", forgot, 422, json={"email": ""})
    token = await stored_reset_token(stack, alice.user_id)
    await api.call("POST", reset, 204, json={"token": token, "new_password": PASSWORD})
    await api.call("POST", reset, 410, json={"token": token, "new_password": PASSWORD})
    await api.call("POST", reset, 404, json={"token": "no-such-token", "new_password": PASSWORD})
    pair = (await api.call("POST", f"{API}/auth/login", 200, json=login)).json()  # the reset ended every session
    alice.token, alice.refresh_token = pair["access_token"], pair["refresh_token"]

    # --- the caller's profile ---
    me = f"{API}/users/me"
    etag = (await api.call("GET", me, 200, token=alice.token)).headers["etag"]
    await api.call("GET", me, 304, token=alice.token, headers={"If-None-Match": etag})
    await api.call("PATCH", me, 200, token=alice.token, json={"display_name": "Alice A."}, headers={"If-Match": etag})
    await api.call("PATCH", me, 412, token=alice.token, json={"locale": "de"}, headers={"If-Match": etag})
    await api.call("PATCH", me, 422, token=alice.token, json={"timezone": "Mars/Olympus"})

    # --- the caller's data: an export, and deleting an account ---
    export = (await api.call("POST", f"{API}/users/me/export", 202, token=alice.token)).json()
    one_export = f"{API}/users/me/exports/{{export_id}}"
    theirs = {"export_id": export["id"]}
    await api.call("GET", one_export, 200, token=alice.token, path=theirs)
    await api.call("GET", one_export, 404, token=outsider.token, path=theirs)
    await api.call("GET", one_export, 422, token=alice.token, path={"export_id": "x" * 65})
    await api.call("GET", f"{one_export}/archive", 409, token=alice.token, path=theirs)
    await run_user_jobs(stack)
    await api.call("GET", one_export, 200, token=alice.token, path=theirs)
    await api.call("GET", f"{one_export}/archive", 200, token=alice.token, path=theirs)
    await api.call("GET", f"{one_export}/archive", 404, token=outsider.token, path=theirs)
    leaving = await someone(api, "Leaving")
    await api.call("DELETE", me, 401, token=leaving.token, json={"password": "not the password"})
    await api.call("DELETE", me, 422, token=leaving.token, json={"password": PASSWORD, "now": True})
    await api.call("DELETE", me, 202, token=leaving.token, json={"password": PASSWORD})
    await api.call("DELETE", me, 401, token=leaving.token, json={"password": PASSWORD})

    # --- households, invites, members ---
    created = await api.call(
        "POST", f"{API}/households", 201, token=alice.token, json={"name": "Flat 3b", "timezone": "Europe/Berlin"}
    )
    hid = created.json()["id"]
    home = {"hid": hid}
    await api.call("GET", f"{API}/households", 200, token=alice.token)
    household = f"{API}/households/{{hid}}"
    etag = (await api.call("GET", household, 200, token=alice.token, path=home)).headers["etag"]
    await api.call("GET", household, 304, token=alice.token, path=home, headers={"If-None-Match": etag})
    await api.call("GET", household, 404, token=outsider.token, path=home)
    await api.call("GET", household, 422, token=alice.token, path={"hid": "x" * 65})
    renamed = await api.call(
        "PATCH", household, 200, token=alice.token, path=home, json={"name": "Flat 4"}, headers={"If-Match": etag}
    )
    await api.call(
        "PATCH", household, 412, token=alice.token, path=home, json={"name": "X"}, headers={"If-Match": etag}
    )

    invites = f"{API}/households/{{hid}}/invites"
    accept = f"{API}/invites/{{code}}/accept"
    for person, role in ((bob, "member"), (kid, "child")):
        invite = (await api.call("POST", invites, 201, token=alice.token, path=home, json={"role": role})).json()
        await api.call("POST", accept, 200, token=person.token, path={"code": invite["code"]})
    await api.call("POST", accept, 410, token=outsider.token, path={"code": invite["code"]})
    await api.call("POST", accept, 404, token=outsider.token, path={"code": "no-such-code"})
    await api.call("POST", invites, 403, token=kid.token, path=home, json={"role": "member"})
    await api.call("POST", invites, 422, token=alice.token, path=home, json={"role": "owner"})
    await api.call("PATCH", household, 403, token=bob.token, path=home, json={"name": "Bob's"})

    members = f"{API}/households/{{hid}}/members"
    member = f"{members}/{{uid}}"
    await api.call("GET", members, 200, token=kid.token, path=home)
    await api.call("GET", members, 200, token=kid.token, path=home, params={"page_size": 1})
    await api.call("PATCH", member, 200, token=alice.token, path={**home, "uid": bob.user_id}, json={"role": "admin"})
    await api.call("PATCH", member, 403, token=bob.token, path={**home, "uid": alice.user_id}, json={"role": "member"})

    # --- away periods and the household's audit log ---
    away = f"{member}/away"
    bobs = {**home, "uid": bob.user_id}
    soon = datetime.now(UTC) + timedelta(days=1)
    period = {"from": rfc3339(soon), "to": rfc3339(soon + timedelta(days=7))}
    await api.call("PUT", away, 200, token=bob.token, path=bobs, json=period)
    await api.call("GET", away, 200, token=kid.token, path=bobs)
    await api.call("PUT", away, 403, token=kid.token, path=bobs, json=period)
    await api.call("PUT", away, 404, token=outsider.token, path=bobs, json=period)
    await api.call("PUT", away, 422, token=bob.token, path=bobs, json={"from": period["to"], "to": period["from"]})
    await api.call("PUT", away, 422, token=bob.token, path=bobs, json={**period, "why": "holiday"})
    await api.call("DELETE", away, 403, token=kid.token, path=bobs)
    await api.call("DELETE", away, 204, token=alice.token, path=bobs)
    await api.call("GET", away, 404, token=bob.token, path=bobs)
    await api.call("DELETE", away, 404, token=bob.token, path=bobs)
    audit = f"{household}/audit"
    await api.call("GET", audit, 200, token=alice.token, path=home)
    await api.call("GET", audit, 200, token=alice.token, path=home, params={"page_size": 1})
    await api.call("GET", audit, 403, token=bob.token, path=home)
    await api.call("GET", audit, 404, token=outsider.token, path=home)
    await api.call("GET", audit, 422, token=alice.token, path=home, params={"page_size": 0})

    # --- chores: every recurrence shape, fixed and rotating assignment ---
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    made = []
    for number, recurrence in enumerate(RECURRENCES):
        body: dict[str, Any] = {
            "title": f"Chore {number}",
            "points": 5,
            "recurrence": recurrence,
            "assignment": {"strategy": "fixed", "assignees": [alice.user_id]},
            "first_due_at": rfc3339(due),
        }
        if number % 2:
            body |= {
                "description": "With everything set",
                "category": "cleaning",
                "labels": ["weekly"],
                "estimated_minutes": 20,
                "reminders": [{"before_minutes": 30}],
                "assignment": {
                    "strategy": "fixed",
                    "assignees": [bob.user_id, alice.user_id],
                    "rotate": "on_completion",
                    "on_miss": "keep",
                    "grace_minutes": 60,
                },
            }
        made.append((await api.call("POST", chores, 201, token=alice.token, path=home, json=body)).json())
    unassigned = {"title": "Anyone", "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}}
    await api.call("POST", chores, 403, token=kid.token, path=home, json=unassigned)
    await api.call("POST", chores, 404, token=outsider.token, path=home, json=unassigned)
    await api.call("POST", chores, 422, token=alice.token, path=home, json={**unassigned, "points": 5000})
    await api.call("POST", chores, 201, token=bob.token, path=home, json=unassigned)  # nobody assigned: nulls

    listed = await api.call("GET", chores, 200, token=bob.token, path=home)
    assert len(listed.json()["items"]) == len(RECURRENCES) + 1
    page = (await api.call("GET", chores, 200, token=bob.token, path=home, params={"page_size": 2})).json()
    assert page["next_page_token"]
    await api.call("GET", chores, 200, token=bob.token, path=home, params={"page_token": page["next_page_token"]})
    await api.call("GET", chores, 422, token=bob.token, path=home, params={"order_by": "secret"})
    await api.call("GET", chores, 404, token=outsider.token, path=home)

    once, weekly = made[0], made[3]
    one = {**home, "cid": weekly["id"]}
    etag = (await api.call("GET", chore_url, 200, token=bob.token, path=one)).headers["etag"]
    await api.call("GET", chore_url, 304, token=bob.token, path=one, headers={"If-None-Match": etag})
    await api.call("GET", chore_url, 404, token=outsider.token, path=one)
    patch = {"title": "Weekly, renamed", "description": None}
    await api.call("PATCH", chore_url, 200, token=bob.token, path=one, json=patch, headers={"If-Match": etag})
    await api.call("PATCH", chore_url, 412, token=bob.token, path=one, json={"points": 1}, headers={"If-Match": etag})
    await api.call("PATCH", chore_url, 403, token=kid.token, path=one, json={"points": 1})
    await api.call("PATCH", chore_url, 422, token=bob.token, path=one, json={"colour": "red"})

    complete = f"{chore_url}/complete"
    done = {**home, "cid": once["id"]}
    await api.call("POST", complete, 201, token=alice.token, path=done, json={"note": "all of it"})
    await api.call("POST", complete, 410, token=alice.token, path=done, json={})
    await api.call("POST", complete, 201, token=bob.token, path=one)  # no body at all
    await api.call("POST", complete, 422, token=bob.token, path=one, json={"when": "now"})
    await api.call("POST", complete, 403, token=kid.token, path=one, json={})
    await api.call("GET", f"{chore_url}/completions", 200, token=kid.token, path=one)
    await api.call("GET", f"{chore_url}/completions", 422, token=kid.token, path=one, params={"page_size": 0})

    # --- points and rewards: the completions above earned points ---
    points = f"{API}/households/{{hid}}/points"
    await api.call("GET", points, 200, token=alice.token, path=home)
    await api.call("GET", points, 200, token=kid.token, path=home, params={"user_id": bob.user_id, "page_size": 1})
    await api.call("GET", points, 404, token=outsider.token, path=home)
    await api.call("GET", points, 422, token=alice.token, path=home, params={"page_size": 0})
    rewards = f"{API}/households/{{hid}}/rewards"
    treat = (
        await api.call("POST", rewards, 201, token=alice.token, path=home, json={"title": "Cinema", "cost": 1})
    ).json()
    await api.call(
        "POST",
        rewards,
        201,
        token=alice.token,
        path=home,
        json={"title": "Pizza", "cost": 100_000, "description": "Friday"},
    )
    await api.call("POST", rewards, 403, token=kid.token, path=home, json={"title": "Sweets", "cost": 1})
    await api.call("POST", rewards, 404, token=outsider.token, path=home, json={"title": "Sweets", "cost": 1})
    await api.call("POST", rewards, 422, token=alice.token, path=home, json={"title": "Free", "cost": 0})
    await api.call("GET", rewards, 200, token=kid.token, path=home)
    await api.call("GET", rewards, 404, token=outsider.token, path=home)
    redeem = f"{rewards}/{{rid}}/redeem"
    one_reward = {**home, "rid": treat["id"]}
    await api.call("POST", redeem, 201, token=alice.token, path=one_reward)
    await api.call("POST", redeem, 409, token=kid.token, path=one_reward)  # no points of their own
    await api.call("POST", redeem, 404, token=outsider.token, path=one_reward)
    await api.call("POST", redeem, 422, token=alice.token, path={**home, "rid": "x" * 65})
    reward_url = f"{rewards}/{{rid}}"
    await api.call("DELETE", reward_url, 403, token=kid.token, path=one_reward)
    await api.call("DELETE", reward_url, 404, token=outsider.token, path=one_reward)
    await api.call("DELETE", reward_url, 204, token=alice.token, path=one_reward)
    await api.call("POST", redeem, 410, token=alice.token, path=one_reward)
    # --- the occurrence lifecycle: not running ahead, undo, snooze, skip, history ---
    every_two_days = {**home, "cid": made[2]["id"]}
    undone = (await api.call("POST", complete, 201, token=bob.token, path=every_two_days)).json()
    await api.call("POST", complete, 409, token=bob.token, path=every_two_days, json={})  # not_due_yet
    undo = f"{chore_url}/completions/{{completion_id}}"
    undo_path = {**every_two_days, "completion_id": undone["id"]}
    await api.call("DELETE", undo, 403, token=kid.token, path=undo_path)
    await api.call("DELETE", undo, 404, token=outsider.token, path=undo_path)
    await api.call("DELETE", undo, 422, token=bob.token, path={**undo_path, "completion_id": "not-an-id"})
    await api.call("DELETE", undo, 204, token=bob.token, path=undo_path)
    await api.call("DELETE", undo, 404, token=bob.token, path=undo_path)
    twelve_hours = {**home, "cid": made[4]["id"]}
    snooze, skip = f"{chore_url}/snooze", f"{chore_url}/skip"
    later = {"until": rfc3339(datetime.now(UTC) + timedelta(hours=1))}
    await api.call("POST", snooze, 403, token=kid.token, path=twelve_hours, json=later)
    await api.call("POST", snooze, 404, token=outsider.token, path=twelve_hours, json=later)
    await api.call("POST", snooze, 422, token=bob.token, path=twelve_hours, json={"until": rfc3339(due)})
    await api.call("POST", snooze, 422, token=bob.token, path=twelve_hours, json={})
    await api.call("POST", snooze, 200, token=bob.token, path=twelve_hours, json=later)
    await api.call("POST", skip, 403, token=kid.token, path=twelve_hours)
    await api.call("POST", skip, 404, token=outsider.token, path=twelve_hours)
    await api.call("POST", skip, 200, token=bob.token, path=twelve_hours)
    await api.call("POST", skip, 409, token=bob.token, path=twelve_hours)  # not_due_yet
    await api.call("POST", skip, 410, token=bob.token, path=done)  # a done one-off chore
    occurrences = f"{chore_url}/occurrences"
    await api.call("GET", occurrences, 200, token=kid.token, path=twelve_hours)
    await api.call("GET", occurrences, 422, token=kid.token, path=twelve_hours, params={"page_size": 0})
    await api.call("GET", occurrences, 404, token=outsider.token, path=twelve_hours)
    # --- review: a child's completions of chores that require approval, approved and rejected ---
    kids = {
        "recurrence": {"kind": "once"},
        "requires_approval": True,
        "assignment": {"strategy": "fixed", "assignees": [kid.user_id]},
    }
    reviewed = f"{chore_url}/completions/{{completion_id}}"
    household_completions = f"{API}/households/{{hid}}/completions"
    for title, verdict in (("Tidy room", "approve"), ("Homework", "reject")):
        kids_chore = (
            await api.call("POST", chores, 201, token=alice.token, path=home, json={**kids, "title": title})
        ).json()
        pending = (
            await api.call("POST", complete, 201, token=kid.token, path={**home, "cid": kids_chore["id"]})
        ).json()
        review_path = {**home, "cid": kids_chore["id"], "completion_id": pending["id"]}
        await api.call("GET", household_completions, 200, token=alice.token, path=home, params={"status": "pending"})
        await api.call("POST", f"{reviewed}/{verdict}", 403, token=kid.token, path=review_path)
        await api.call("POST", f"{reviewed}/{verdict}", 404, token=outsider.token, path=review_path)
        await api.call("POST", f"{reviewed}/{verdict}", 422, token=alice.token, path=review_path, json={"x": 1})
        await api.call("POST", f"{reviewed}/{verdict}", 200, token=alice.token, path=review_path, json={"note": "ok"})
        other = "reject" if verdict == "approve" else "approve"
        await api.call("POST", f"{reviewed}/{other}", 409, token=alice.token, path=review_path)
    await api.call("GET", household_completions, 404, token=outsider.token, path=home)
    # --- batch and agenda ---
    batch = f"{API}/households/{{hid}}/chores/batch"
    two = {"items": [unassigned, {**unassigned, "assignment": {"strategy": "fixed", "assignees": [outsider.user_id]}}]}
    await api.call("POST", batch, 200, token=alice.token, path=home, json=two)
    await api.call("POST", batch, 200, token=alice.token, path=home, json={**two, "atomic": True})
    await api.call("POST", batch, 403, token=kid.token, path=home, json=two)
    await api.call("POST", batch, 404, token=outsider.token, path=home, json=two)
    await api.call("POST", batch, 422, token=alice.token, path=home, json={"items": []})
    agenda = f"{API}/users/me/agenda"
    await api.call("GET", agenda, 200, token=bob.token)
    await api.call("GET", agenda, 200, token=bob.token, params={"until": rfc3339(datetime.now(UTC)), "page_size": 1})
    await api.call("GET", agenda, 422, token=bob.token, params={"page_size": 0})
    await api.call("GET", household_completions, 422, token=alice.token, path=home, params={"status": "maybe"})

    # --- claiming a chore nobody holds, and the household's categories ---
    body = {
        "title": "Free",
        "recurrence": {"kind": "once"},
        "assignment": {"strategy": "unassigned"},
        "subtasks": [{"title": "Sweep"}],
    }
    created = (await api.call("POST", chores, 201, token=alice.token, path=home, json=body)).json()
    free = {**home, "cid": created["id"]}
    subtask = {**free, "sid": created["subtasks"][0]["id"]}
    tick, untick = f"{chore_url}/subtasks/{{sid}}/tick", f"{chore_url}/subtasks/{{sid}}/untick"
    await api.call("POST", tick, 403, token=kid.token, path=subtask)  # not the child's (yet)
    await api.call("POST", tick, 404, token=outsider.token, path=subtask)
    await api.call("POST", tick, 404, token=alice.token, path={**subtask, "sid": created["id"]})
    await api.call("POST", tick, 422, token=alice.token, path={**subtask, "sid": "x" * 65})
    await api.call("POST", tick, 200, token=alice.token, path=subtask)
    await api.call("POST", untick, 200, token=alice.token, path=subtask)
    await api.call("POST", untick, 404, token=outsider.token, path=subtask)
    claim = f"{chore_url}/claim"
    await api.call("POST", claim, 404, token=outsider.token, path=free)
    await api.call("POST", claim, 422, token=kid.token, path={**home, "cid": "x" * 65})
    await api.call("POST", claim, 200, token=kid.token, path=free)
    await api.call("POST", claim, 409, token=bob.token, path=free)
    categories = f"{API}/households/{{hid}}/categories"
    garden = (await api.call("POST", categories, 201, token=alice.token, path=home, json={"name": "Garden"})).json()
    await api.call("POST", categories, 409, token=alice.token, path=home, json={"name": "garden"})
    await api.call("POST", categories, 403, token=kid.token, path=home, json={"name": "Sweets"})
    await api.call("POST", categories, 404, token=outsider.token, path=home, json={"name": "Sweets"})
    await api.call("POST", categories, 422, token=alice.token, path=home, json={"name": ""})
    await api.call("GET", categories, 200, token=kid.token, path=home)
    await api.call("GET", categories, 404, token=outsider.token, path=home)
    await api.call("GET", categories, 422, token=kid.token, path=home, params={"page_size": 0})
    category = f"{categories}/{{category_id}}"
    one_category = {**home, "category_id": garden["id"]}
    await api.call("PATCH", category, 200, token=alice.token, path=one_category, json={"name": "Yard"})
    await api.call("PATCH", category, 403, token=kid.token, path=one_category, json={"name": "Mine"})
    await api.call("PATCH", category, 404, token=outsider.token, path=one_category, json={"name": "Mine"})
    await api.call("PATCH", category, 422, token=alice.token, path=one_category, json={"name": 5})
    await api.call("DELETE", category, 403, token=kid.token, path=one_category)
    await api.call("DELETE", category, 404, token=outsider.token, path=one_category)
    await api.call("DELETE", category, 204, token=alice.token, path=one_category)
    await api.call("DELETE", category, 404, token=alice.token, path=one_category)

    # --- webhooks (a literal public address: no DNS, no delivery in this test) ---
    webhooks = f"{API}/households/{{hid}}/webhooks"
    hook_body = {"url": "https://93.184.215.14/hearth", "events": ["chore.completed"], "description": "CI"}
    hook = (await api.call("POST", webhooks, 201, token=alice.token, path=home, json=hook_body)).json()
    assert hook["secret"].startswith("whsec_")
    await api.call("POST", webhooks, 403, token=kid.token, path=home, json=hook_body)
    await api.call("POST", webhooks, 404, token=outsider.token, path=home, json=hook_body)
    await api.call("POST", webhooks, 422, token=alice.token, path=home, json={**hook_body, "url": "https://127.0.0.1/"})
    await api.call("POST", webhooks, 422, token=alice.token, path=home, json={**hook_body, "events": ["no.such"]})
    await api.call(
        "POST", webhooks, 413, token=alice.token, path=home, json={**hook_body, "description": "x" * 1048577}
    )
    await api.call("GET", webhooks, 200, token=alice.token, path=home)
    await api.call("GET", webhooks, 403, token=kid.token, path=home)
    await api.call("GET", webhooks, 404, token=outsider.token, path=home)
    await api.call("GET", webhooks, 422, token=alice.token, path=home, params={"page_size": 0})
    webhook = f"{webhooks}/{{wid}}"
    one_hook = {**home, "wid": hook["id"]}
    await api.call("GET", webhook, 200, token=alice.token, path=one_hook)
    await api.call("GET", webhook, 403, token=kid.token, path=one_hook)
    await api.call("GET", webhook, 404, token=outsider.token, path=one_hook)
    await api.call("GET", webhook, 422, token=alice.token, path={**home, "wid": "not-an-id"})
    rotated = (await api.call("POST", f"{webhook}/rotate-secret", 200, token=alice.token, path=one_hook)).json()
    assert rotated["secret"] != hook["secret"]
    assert rotated["previous_secret_expires_at"] is not None
    await api.call("POST", f"{webhook}/rotate-secret", 403, token=kid.token, path=one_hook)
    await api.call("POST", f"{webhook}/rotate-secret", 404, token=outsider.token, path=one_hook)
    await api.call("POST", f"{webhook}/rotate-secret", 422, token=alice.token, path={**home, "wid": "x"})
    await api.call("POST", f"{webhook}/test", 202, token=alice.token, path=one_hook)
    await api.call("POST", f"{webhook}/test", 409, token=alice.token, path=one_hook)
    await api.call("POST", f"{webhook}/test", 403, token=kid.token, path=one_hook)
    await api.call("POST", f"{webhook}/test", 404, token=outsider.token, path=one_hook)
    await api.call("POST", f"{webhook}/test", 422, token=alice.token, path={**home, "wid": "x"})
    log = (await api.call("GET", f"{webhook}/deliveries", 200, token=alice.token, path=one_hook)).json()
    assert [d["event_type"] for d in log["items"]] == ["webhook.test"]
    await api.call("GET", f"{webhook}/deliveries", 403, token=kid.token, path=one_hook)
    await api.call("GET", f"{webhook}/deliveries", 404, token=outsider.token, path=one_hook)
    await api.call("GET", f"{webhook}/deliveries", 422, token=alice.token, path=one_hook, params={"page_size": 0})
    await api.call("DELETE", webhook, 403, token=kid.token, path=one_hook)
    await api.call("DELETE", webhook, 404, token=outsider.token, path=one_hook)
    await api.call("DELETE", webhook, 422, token=alice.token, path={**home, "wid": "x"})
    await api.call("DELETE", webhook, 204, token=alice.token, path=one_hook)
    await api.call("DELETE", webhook, 404, token=alice.token, path=one_hook)
    for _ in range(10):
        await api.call("POST", webhooks, 201, token=alice.token, path=home, json=hook_body)
    await api.call("POST", webhooks, 409, token=alice.token, path=home, json=hook_body)

    archived = {**home, "cid": made[-1]["id"]}
    await api.call("DELETE", chore_url, 412, token=alice.token, path=archived, headers={"If-Match": '"stale"'})
    await api.call("DELETE", chore_url, 204, token=alice.token, path=archived)
    await api.call("GET", chore_url, 200, token=alice.token, path=archived)  # status "archived"
    await api.call("PATCH", chore_url, 410, token=alice.token, path=archived, json={"points": 1})
    await api.call("GET", chores, 200, token=alice.token, path=home, params={"status": "archived"})

    # --- the calendar feed: its token made with a bearer token, the feed opened with the feed token alone ---
    feed_token_url = f"{API}/households/{{hid}}/calendar-feed"
    ics = f"{API}/households/{{hid}}/calendar.ics"
    feed = (await api.call("POST", feed_token_url, 201, token=bob.token, path=home)).json()
    await api.call("POST", feed_token_url, 404, token=outsider.token, path=home)
    await api.call("POST", feed_token_url, 422, token=bob.token, path={"hid": "x" * 65})
    served = await api.call("GET", ics, 200, path=home, params={"token": feed["token"]})
    unchanged = {"If-None-Match": served.headers["etag"]}
    await api.call("GET", ics, 304, path=home, params={"token": feed["token"]}, headers=unchanged)
    await api.call("GET", ics, 404, path=home, params={"token": "guess"})
    await api.call("GET", ics, 422, path={"hid": "x" * 65}, params={"token": feed["token"]})
    await api.call("DELETE", feed_token_url, 204, token=bob.token, path=home)
    await api.call("DELETE", feed_token_url, 404, token=outsider.token, path=home)
    await api.call("GET", ics, 404, path=home, params={"token": feed["token"]})

    # --- photos: uploaded as multipart, read back (members only), the thumbnail once the worker made it ---
    photos = f"{API}/households/{{hid}}/photos"
    photo_url = f"{photos}/{{pid}}"
    thumbnail_url = f"{photo_url}/thumbnail"
    png = photo_png()
    uploaded = (
        await api.call("POST", photos, 201, token=kid.token, path=home, files={"file": ("a.png", png, "image/png")})
    ).json()
    one_photo = {**home, "pid": uploaded["id"]}
    await api.call("POST", photos, 415, token=bob.token, path=home, files={"file": ("a.png", b"text", "image/png")})
    await api.call("POST", photos, 415, token=bob.token, path=home, content=png, headers={"Content-Type": "image/png"})
    await api.call("POST", photos, 422, token=bob.token, path=home, files={"file": ("a.png", png[:40], "image/png")})
    await api.call("POST", photos, 404, token=outsider.token, path=home, files={"file": ("a.png", png, "image/png")})
    await api.call(
        "POST",
        photos,
        413,
        token=bob.token,
        path=home,
        content=bytes(11 * 1024 * 1024),
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    await api.call("GET", thumbnail_url, 404, token=bob.token, path=one_photo)  # not_ready
    served_photo = await api.call("GET", photo_url, 200, token=bob.token, path=one_photo)
    await api.call(
        "GET", photo_url, 304, token=bob.token, path=one_photo, headers={"If-None-Match": served_photo.headers["etag"]}
    )
    await api.call("GET", photo_url, 404, token=outsider.token, path=one_photo)
    await api.call("GET", photo_url, 422, token=bob.token, path={**home, "pid": "x" * 65})
    async with photo_worker(stack):

        async def thumbnail_made() -> bool:
            return (
                await api.http.get(thumbnail_url.format(**one_photo), headers={"Authorization": f"Bearer {bob.token}"})
            ).status_code == 200

        await eventually(thumbnail_made)
    small = await api.call("GET", thumbnail_url, 200, token=bob.token, path=one_photo)
    await api.call(
        "GET", thumbnail_url, 304, token=bob.token, path=one_photo, headers={"If-None-Match": small.headers["etag"]}
    )
    await api.call("GET", thumbnail_url, 404, token=outsider.token, path=one_photo)
    await api.call("GET", thumbnail_url, 422, token=bob.token, path={"hid": "x" * 65, "pid": uploaded["id"]})

    # --- notifications: the completions reach Bob's inbox ---
    inbox = f"{API}/notifications"

    async def bobs_inbox() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await api.call("GET", inbox, 200, token=bob.token)).json()["items"]
        return items

    first = (await eventually(bobs_inbox))[0]
    read = f"{inbox}/{{nid}}/read"
    await api.call("POST", read, 200, token=bob.token, path={"nid": first["id"]})
    await api.call("POST", read, 404, token=alice.token, path={"nid": first["id"]})
    await api.call("GET", inbox, 200, token=bob.token, params={"unread": "true"})
    await api.call("POST", f"{inbox}/read-all", 204, token=bob.token)

    # --- Web Push: Bob's browser subscribes, renews, unsubscribes ---
    await api.call("GET", f"{API}/push/vapid-public-key", 200, token=bob.token)
    subscriptions = f"{API}/users/me/push-subscriptions"
    browser = {"endpoint": "https://push.example.com/wpush/abc", "keys": browser_keys(), "expirationTime": None}
    subscribed = (await api.call("POST", subscriptions, 201, token=bob.token, json=browser)).json()
    await api.call("POST", subscriptions, 422, token=bob.token, json={**browser, "endpoint": "http://10.0.0.1/x"})
    await api.call("GET", subscriptions, 200, token=bob.token)
    one_subscription = f"{subscriptions}/{{subscription_id}}"
    await api.call("DELETE", one_subscription, 404, token=alice.token, path={"subscription_id": subscribed["id"]})
    await api.call("DELETE", one_subscription, 204, token=bob.token, path={"subscription_id": subscribed["id"]})
    await api.call("POST", subscriptions, 201, token=bob.token, json=browser)
    await api.call("DELETE", subscriptions, 204, token=bob.token, params={"endpoint": browser["endpoint"]})
    await api.call("DELETE", subscriptions, 404, token=bob.token, params={"endpoint": browser["endpoint"]})
    # --- notification preferences and the mails' unsubscribe link (Bob is known to notify: he has notifications) ---
    choices = f"{API}/users/me/notification-preferences"
    chosen = await api.call("GET", choices, 200, token=bob.token)
    await api.call("GET", choices, 304, token=bob.token, headers={"If-None-Match": chosen.headers["etag"]})
    document = {
        "events": {"chore.completed": {"email": True}},
        "quiet_hours": {"start": "22:00", "end": "07:00"},
        "reminder_lead_minutes": 30,
    }
    await api.call("PUT", choices, 200, token=bob.token, json=document, headers={"If-Match": chosen.headers["etag"]})
    await api.call("PUT", choices, 412, token=bob.token, json={}, headers={"If-Match": chosen.headers["etag"]})
    await api.call("PUT", choices, 422, token=bob.token, json={"events": {"chore.exploded": {"email": True}}})
    await api.call("PUT", choices, 413, token=bob.token, json={"events": {"x" * (1024 * 1024 + 1): {}}})
    secret = stack.servers["notify"].runtime.settings.unsubscribe_secret.get_secret_value().encode()
    link = unsubscribe.make_token(secret, uuid.UUID(bob.user_id), "chore.completed", now=datetime.now(UTC), days=1)
    unsubscribing = f"{API}/notification-preferences/unsubscribe"
    await api.call("GET", unsubscribing, 200, params={"token": link})
    await api.call("POST", unsubscribing, 200, params={"token": link})
    await api.call("POST", unsubscribing, 404, params={"token": link[:-4] + "AAAA"})
    await api.call("GET", unsubscribing, 404, params={"token": "forged"})
    await api.call("GET", unsubscribing, 422)
    await api.call("POST", unsubscribing, 422, params={"token": "x" * 600})
    # --- live events: a ticket, who is online, and the event stream opened (its head: it never ends) ---
    tickets = f"{API}/households/{{hid}}/stream-tickets"
    presence_url = f"{API}/households/{{hid}}/presence"
    events_url = f"{API}/households/{{hid}}/events"
    stream_ticket = (await api.call("POST", tickets, 201, token=bob.token, path=home)).json()
    await api.call("POST", tickets, 404, token=outsider.token, path=home)
    await api.call("POST", tickets, 422, token=bob.token, path={"hid": "x" * 65})
    await api.call("GET", presence_url, 200, token=bob.token, path=home)
    await api.call("GET", presence_url, 404, token=outsider.token, path=home)
    await api.call("GET", presence_url, 422, token=bob.token, path={"hid": "x" * 65})
    await api.call("GET", events_url, 404, token=outsider.token, path=home)
    await api.call("GET", events_url, 401, path=home, params={"ticket": "guess"})
    await api.call("GET", events_url, 422, token=bob.token, path=home, headers={"Last-Event-ID": "yesterday"})
    await api.open_stream("GET", events_url, path=home, params={"ticket": stream_ticket["ticket"]})
    await api.open_stream("GET", events_url, path=home, headers={"Authorization": f"Bearer {bob.token}"})

    # --- stats: the completions are counted ---
    stats = f"{API}/households/{{hid}}/stats"

    async def counted() -> bool:
        body = (await api.call("GET", stats, 200, token=alice.token, path=home)).json()
        return bool(body["household"]["completions"] >= 2)

    await eventually(counted)
    window = {"from": rfc3339(due - timedelta(days=60)), "to": rfc3339(due - timedelta(days=50))}
    await api.call("GET", stats, 200, token=alice.token, path=home, params=window)
    await api.call("GET", stats, 422, token=alice.token, path=home, params={"from": "yesterday"})
    await api.call("GET", stats, 404, token=outsider.token, path=home)

    # --- operations ---
    for health in OPERATIONS:
        await api.call("GET", health, 200)
    for component in ("user", "task", "notify", "analytics", "redis", "memory", "disk"):
        await api.call("GET", "/health/test/{component}", 200, path={"component": component})
    await api.call("GET", "/health/test/{component}", 404, path={"component": "mainframe"})
    await api.call("GET", "/health/test/{component}", 422, path={"component": "x" * 65})
    await eventually(lambda: filed(api))  # the gateway's history sampler files one at its start
    await api.call("GET", "/health/history", 200)

    # --- leaving, deleting, logging out ---
    await api.call("DELETE", member, 403, token=bob.token, path={**home, "uid": alice.user_id})
    await api.call("DELETE", member, 204, token=kid.token, path={**home, "uid": kid.user_id})
    await api.call("DELETE", household, 412, token=alice.token, path=home, headers={"If-Match": etag})
    await api.call(
        "DELETE", household, 204, token=alice.token, path=home, headers={"If-Match": renamed.headers["etag"]}
    )
    await api.call("POST", f"{API}/auth/logout", 204, token=alice.token, json={"refresh_token": alice.refresh_token})

    # --- every operation that needs a token refuses to work without one, as documented ---
    for method, template in sorted(secured(contract)):
        await api.call(method, template, 401, path=dict.fromkeys(placeholders(template), "x"))
        await api.call(method, template, 401, token="not-a-token", path=dict.fromkeys(placeholders(template), "x"))

    # Every route the app serves was driven to a documented success.
    succeeded = {(method, template) for method, template, status in contract.checked if status < 300}
    assert served_operations() - succeeded == set()


def photo_png() -> bytes:
    return encoded("PNG", 64, 48)


OPERATIONS = (
    "/health/liveness",
    "/health/readiness",
    "/health/status",
    "/health/database",
    "/health/cache",
    "/health/services",
    "/health/memory",
    "/health/disk",
    "/health/history",
    "/health/metrics-summary",
)


async def filed(api: Api) -> bool:
    response = await api.http.get("/health/history")
    return bool(response.json()["checks"])


def secured(contract: Contract) -> Iterator[tuple[str, str]]:
    for template, item in contract.spec["paths"].items():
        for method, operation in item.items():
            if operation.get("security"):
                yield method.upper(), template


def placeholders(template: str) -> list[str]:
    return [part[1:-1] for part in template.split("/") if part.startswith("{") and part.endswith("}")]


async def test_every_route_documents_a_schema_for_each_success_and_problems_for_its_errors(
    contract: Contract,
) -> None:
    assert {(m.upper(), p) for p, item in contract.spec["paths"].items() for m in item} == served_operations()
    for method, template in served_operations():
        operation = contract.operation(method, template)
        where = f"{method} {template}"
        statuses = {int(status): response for status, response in operation["responses"].items()}
        successes = {status: response for status, response in statuses.items() if 200 <= status < 300}
        assert successes, f"{where} documents no success"
        for status, response in successes.items():
            if status == 204:
                assert "content" not in response, where
            elif BINARY in [media.get("schema") for media in response.get("content", {}).values()]:
                assert "application/json" not in response["content"], f"{where}: a file is not JSON"
            else:
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                assert schema, f"{where} documents its {status} without a schema"
                assert "example" in response["content"]["application/json"], f"{where} {status} has no example"
        for status, response in statuses.items():
            if status >= 400 and not template.startswith("/health/"):
                assert list(response.get("content", {})) == [PROBLEM_JSON], f"{where} {status}"
        if operation.get("security"):
            assert 401 in statuses, f"{where} needs a token but does not document 401"
        if operation.get("parameters") or operation.get("requestBody"):
            assert 422 in statuses, f"{where} takes input but does not document 422"
        if operation.get("requestBody"):
            assert 413 in statuses, f"{where} takes a body but does not document 413"
    # No FastAPI default validation error shape: ours is problem+json.
    assert "HTTPValidationError" not in contract.spec["components"]["schemas"]


async def test_every_example_in_the_document_fits_its_schema(contract: Contract) -> None:
    examples = 0
    for template, item in contract.spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                for media_type, content in response.get("content", {}).items():
                    if "example" in content:
                        where = ("paths", template, method, "responses", status, "content", media_type, "schema")
                        contract.validate(content["example"], *where)
                        examples += 1
    assert examples >= len(served_operations())


async def test_a_broken_example_is_caught(contract: Contract) -> None:
    # The validation above can fail: a chore without its etag, a problem with a foreign code.
    chore = contract.spec["paths"][f"{API}/households/{{hid}}/chores/{{cid}}"]["get"]["responses"]["200"]
    wrong = {k: v for k, v in chore["content"]["application/json"]["example"].items() if k != "etag"}
    where = ("paths", f"{API}/households/{{hid}}/chores/{{cid}}", "get", "responses", "200", "content")
    with pytest.raises(ValidationError, match="etag"):
        contract.validate(wrong, *where, "application/json", "schema")
    problem = contract.spec["paths"][f"{API}/users/me"]["get"]["responses"]["401"]
    foreign = {**problem["content"][PROBLEM_JSON]["example"], "code": "not_found"}
    with pytest.raises(ValidationError, match="not_found"):
        contract.validate(
            foreign, "paths", f"{API}/users/me", "get", "responses", "401", "content", PROBLEM_JSON, "schema"
        )


async def test_an_undocumented_field_in_a_response_fails_the_contract(contract: Contract) -> None:
    # What the contract test guards against: the converters adding a field nobody documented.
    example = contract.spec["paths"][f"{API}/users/me"]["get"]["responses"]["200"]["content"]["application/json"]
    extended = {**example["example"], "password_hash": "$argon2id$..."}
    with pytest.raises(ValidationError, match="password_hash"):
        contract.validate(
            extended, "paths", f"{API}/users/me", "get", "responses", "200", "content", "application/json", "schema"
        )


async def test_a_gateway_whose_services_are_down_answers_as_documented(contract: Contract) -> None:
    """503s: readiness and status name the components, an API call is an `unavailable` problem."""
    settings = GatewaySettings(
        user_addr="127.0.0.1:1",
        task_addr="127.0.0.1:1",
        notify_addr="127.0.0.1:1",
        analytics_addr="127.0.0.1:1",
        redis_url=infra().redis_url,
        # Its own namespace: the default one's login budgets are shared with every other run on this Redis.
        redis_namespace=unique("down"),
        grpc_timeout_seconds=2,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://g") as client:
        down = Api(client, contract)
        for health in ("/health/readiness", "/health/status", "/health/services", "/health/database"):
            body = (await down.call("GET", health, 503)).json()
            assert body["components"]["user"]["status"] == "down"
        for health in ("/health/cache", "/health/memory", "/health/history", "/health/metrics-summary"):
            await down.call("GET", health, 200)
        await down.call("GET", "/health/test/{component}", 503, path={"component": "task"})
        login = {"email": "a@example.com", "password": PASSWORD}
        problem = (await down.call("POST", f"{API}/auth/login", 503, json=login)).json()
        assert problem["code"] == "unavailable"
        await down.call("GET", "/.well-known/jwks.json", 503)


async def test_a_reference_to_nowhere_fails_rather_than_passing() -> None:
    # A schema that cannot be found must not validate everything (as an empty schema would).
    contract = Contract({"openapi": "3.1.0", "paths": {}, "components": {"schemas": {}}})
    with pytest.raises(Exception, match=r"Unresolvable|PointerToNowhere"):
        contract.validate({}, "components", "schemas", "Missing")


def routes_of(app: FastAPI) -> Iterator[APIRoute]:
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context.original_route


async def test_no_route_validates_its_response_a_second_time() -> None:
    """Documenting a body must not cost a request anything: no route has a response_model, whose
    validation and re-serialization would run on every response (GET …/chores and POST …/complete above all)."""
    routes = list(routes_of(create_app(GatewaySettings())))
    assert routes
    for route in routes:
        assert route.response_field is None, f"{route.path} validates its responses ({route.response_model})"
