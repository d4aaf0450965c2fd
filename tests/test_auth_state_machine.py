"""A Hypothesis state machine over the session lifecycle, through the real gateway and user service.

It signs one person in and out in random orders — login, refresh, a spent refresh token presented again, logout,
revoking one session from another, revoking all others — while a model keeps which sessions live and which
tokens each was given. After every step the invariants hold:

- no access token of an ended session works again (the very next request, not at `exp`);
- no refresh token of an ended session works again, nor any refresh token once spent (reuse answers 401, and
  it ends its whole session: the family dies, the current pair with it);
- every live session's newest access and refresh tokens work; the sessions list shows exactly the live ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.support.infra import unique
from tests.support.people import PASSWORD
from tests.support.stack import Stack
from tests.support.threaded import stack_in_thread

API = "/api/v1"
# The machine signs in and fails refreshes far more often than a person would: budgets no step can spend.
GATEWAY_LIMITS = {
    "rate_limit_user": "100000/minute",
    "rate_limit_anonymous": "100000/minute",
    "auth_failures_per_account": 100000,
    "auth_failures_per_ip": 100000,
}


@dataclass
class Login:
    """One session as the client saw it: every token it was given, the current pair last."""

    id: str
    access: list[str] = field(default_factory=list)
    refresh: list[str] = field(default_factory=list)
    alive: bool = True

    @property
    def spent(self) -> list[str]:
        return self.refresh[:-1]


@pytest.fixture(scope="module")
def live() -> Iterator[Stack]:
    with stack_in_thread(["user"], gateway=True, settings_overrides={"gateway": GATEWAY_LIMITS}) as stack:
        yield stack


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Sessions(RuleBasedStateMachine):
    http: httpx.Client

    def __init__(self) -> None:
        super().__init__()
        self.logins: list[Login] = []

    @initialize()
    def register(self) -> None:
        self.email = f"{unique('machine')}@example.com"
        body = {"email": self.email, "password": PASSWORD, "display_name": "Machine"}
        assert self.http.post(f"{API}/auth/register", json=body).status_code == 201
        self.login()

    # --- steps ---------------------------------------------------------------------------------------

    @rule()
    def login(self) -> None:
        answer = self.http.post(f"{API}/auth/login", json={"email": self.email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        pair = answer.json()
        me = self.http.get(f"{API}/auth/sessions", headers=bearer(pair["access_token"])).json()["items"]
        current = next(s["id"] for s in me if s["current"])
        self.logins.append(Login(current, [pair["access_token"]], [pair["refresh_token"]]))

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def refresh(self, data: st.DataObject) -> None:
        login = data.draw(st.sampled_from(self._live()))
        answer = self.http.post(f"{API}/auth/refresh", json={"refresh_token": login.refresh[-1]})
        assert answer.status_code == 200, answer.text
        pair = answer.json()
        login.access.append(pair["access_token"])
        login.refresh.append(pair["refresh_token"])

    @precondition(lambda self: any(login.spent for login in self.logins))
    @rule(data=st.data())
    def reuse_a_spent_refresh_token(self, data: st.DataObject) -> None:
        login = data.draw(st.sampled_from([login for login in self.logins if login.spent]))
        token = data.draw(st.sampled_from(login.spent))
        answer = self.http.post(f"{API}/auth/refresh", json={"refresh_token": token})
        assert answer.status_code == 401, answer.text
        login.alive = False  # the whole family

    @precondition(lambda self: self._live())
    @rule(data=st.data(), with_refresh_token=st.booleans())
    def logout(self, data: st.DataObject, with_refresh_token: bool) -> None:
        login = data.draw(st.sampled_from(self._live()))
        body = {"refresh_token": login.refresh[-1]} if with_refresh_token else None
        answer = self.http.post(f"{API}/auth/logout", json=body, headers=bearer(login.access[-1]))
        assert answer.status_code == 204, answer.text
        login.alive = False

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def revoke_one_session(self, data: st.DataObject) -> None:
        by = data.draw(st.sampled_from(self._live()))
        target = data.draw(st.sampled_from(self._live()))
        answer = self.http.delete(f"{API}/auth/sessions/{target.id}", headers=bearer(by.access[-1]))
        assert answer.status_code == 204, answer.text
        target.alive = False

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def revoke_the_others(self, data: st.DataObject) -> None:
        keep = data.draw(st.sampled_from(self._live()))
        answer = self.http.delete(f"{API}/auth/sessions", headers=bearer(keep.access[-1]))
        assert answer.status_code == 200, answer.text
        ended = set(answer.json()["revoked"])
        assert ended == {login.id for login in self._live() if login is not keep}
        for login in self._live():
            login.alive = login is keep

    # --- invariants ----------------------------------------------------------------------------------

    @invariant()
    def ended_sessions_stay_ended(self) -> None:
        for login in self.logins:
            if login.alive:
                continue
            for token in login.access:
                assert self.http.get(f"{API}/users/me", headers=bearer(token)).status_code == 401
            # Every refresh token of an ended session, spent or current; presenting them changes nothing now.
            for token in login.refresh:
                assert self.http.post(f"{API}/auth/refresh", json={"refresh_token": token}).status_code == 401

    @invariant()
    def live_sessions_work_and_are_the_ones_listed(self) -> None:
        live = self._live()
        for login in live:
            assert self.http.get(f"{API}/users/me", headers=bearer(login.access[-1])).status_code == 200
        if live:
            listed = self.http.get(f"{API}/auth/sessions", headers=bearer(live[0].access[-1])).json()["items"]
            assert {s["id"] for s in listed} == {login.id for login in live}

    def _live(self) -> list[Login]:
        return [login for login in self.logins if login.alive]


def test_the_session_lifecycle_holds_its_invariants(live: Stack) -> None:
    with httpx.Client(base_url=live.gateway_url, timeout=10) as http:
        Sessions.http = http
        run = Sessions.TestCase
        run.settings = settings(
            max_examples=25,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        run().runTest()
