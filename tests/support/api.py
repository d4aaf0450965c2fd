"""A thin client of the REST API for end-to-end tests: people, households, chores — through the gateway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.infra import unique
from tests.support.people import PASSWORD

API = "/api/v1"


@dataclass
class Person:
    user_id: str
    email: str
    token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def expect(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


def assert_rate_limited(response: httpx.Response) -> dict[str, Any]:
    """A 429 problem+json that says when to come back."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    limited: dict[str, Any] = response.json()
    assert limited["code"] == "rate_limited"
    return limited


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The problem+json body of a refusal with `status` and `code`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


async def sign_up(http: httpx.AsyncClient, name: str) -> Person:
    email = f"{unique(name.lower())}@example.com"
    user = expect(
        await http.post(f"{API}/auth/register", json={"email": email, "password": PASSWORD, "display_name": name}), 201
    )
    tokens = expect(await http.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD}), 200)
    return Person(user["id"], email, tokens["access_token"], tokens["refresh_token"])


async def create_household(http: httpx.AsyncClient, owner: Person, name: str = "Home") -> str:
    household = expect(
        await http.post(f"{API}/households", json={"name": name, "timezone": "Europe/Berlin"}, headers=owner.headers),
        201,
    )
    return str(household["id"])


async def join(
    http: httpx.AsyncClient, household_id: str, inviter: Person, person: Person, role: str
) -> dict[str, Any]:
    invite = expect(
        await http.post(f"{API}/households/{household_id}/invites", json={"role": role}, headers=inviter.headers), 201
    )
    member: dict[str, Any] = expect(
        await http.post(f"{API}/invites/{invite['code']}/accept", headers=person.headers), 200
    )
    return member


async def create_chore(http: httpx.AsyncClient, household_id: str, person: Person, **fields: Any) -> dict[str, Any]:
    body = {"title": "Dishes", "points": 10, "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}}
    body.update(fields)
    chore: dict[str, Any] = expect(
        await http.post(f"{API}/households/{household_id}/chores", json=body, headers=person.headers), 201
    )
    return chore


async def earn(http: httpx.AsyncClient, household_id: str, adult: Person, person: Person, points: int) -> None:
    """`person` earns `points`: a one-off chore worth them, completed for them by `adult`."""
    chore = await create_chore(http, household_id, adult, title="Earn", points=points)
    expect(
        await http.post(
            f"{API}/households/{household_id}/chores/{chore['id']}/complete",
            json={"completed_by": person.user_id},
            headers=adult.headers,
        ),
        201,
    )


async def create_reward(
    http: httpx.AsyncClient, household_id: str, person: Person, cost: int, **fields: Any
) -> dict[str, Any]:
    reward: dict[str, Any] = expect(
        await http.post(
            f"{API}/households/{household_id}/rewards",
            json={"title": "Ice cream", "cost": cost, **fields},
            headers=person.headers,
        ),
        201,
    )
    return reward
