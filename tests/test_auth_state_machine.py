"""A Hypothesis state machine over the session lifecycle, through the real gateway, user and notify services,
both workers and a real SMTP server.

It signs one person in and out in random orders — login, refresh, a spent refresh token presented again, logout,
revoking one session from another, revoking all others, changing the password, resetting it through the link
mailed by `forgot` — while a model keeps which sessions live, which tokens each was given and which password
is current. After every step the invariants hold:

- no access token of an ended session works again (the very next request, not at `exp`);
- no refresh token of an ended session works again, nor any refresh token once spent (reuse answers 401, and
  it ends its whole session: the family dies, the current pair with it);
- a password change ends every other session, a reset every session; no used reset link works again, and no
  earlier password signs in;
- every live session's newest access and refresh tokens work; the sessions list shows exactly the live ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from services.notify.tests.helpers import Mailbox, smtp_server
from services.user.tests.credentials import RESET_PAGE, token_in
from tests.support.infra import unique
from tests.support.jobs import mailing_user_worker, notify_worker
from tests.support.people import PASSWORD
from tests.support.stack import Stack
from tests.support.threaded import Threaded, stack_in_thread

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


@contextlib.asynccontextmanager
async def mail(stack: Stack) -> AsyncIterator[Mailbox]:
    """The SMTP server and both workers: forgot's job mails the link through notify."""
    async with (
        smtp_server(Mailbox()) as box,
        notify_worker(stack, box.port),
        mailing_user_worker(stack, RESET_PAGE + "{token}"),
    ):
        yield box


@pytest.fixture(scope="module")
def live() -> Iterator[Threaded]:
    overrides = {"gateway": GATEWAY_LIMITS}
    with stack_in_thread(["user", "notify"], gateway=True, settings_overrides=overrides, within=mail) as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Sessions(RuleBasedStateMachine):
    http: httpx.Client
    running: Threaded

    def __init__(self) -> None:
        super().__init__()
        self.logins: list[Login] = []
        self.password = PASSWORD
        self.old_passwords: list[str] = []
        self.used_links: list[str] = []
        self.mails = 0

    @initialize()
    def register(self) -> None:
        self.email = f"{unique('machine')}@example.com"
        body = {"email": self.email, "password": PASSWORD, "display_name": "Machine"}
        assert self.http.post(f"{API}/auth/register", json=body).status_code == 201
        self.login()

    def _new_password(self) -> str:
        self.old_passwords.append(self.password)
        self.password = f"passphrase number {len(self.old_passwords)} of the machine"
        return self.password

    # --- steps ---------------------------------------------------------------------------------------

    @rule()
    def login(self) -> None:
        answer = self.http.post(f"{API}/auth/login", json={"email": self.email, "password": self.password})
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

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def change_password(self, data: st.DataObject) -> None:
        by = data.draw(st.sampled_from(self._live()))
        body = {"current_password": self.password, "new_password": self._new_password()}
        answer = self.http.post(f"{API}/auth/password/change", json=body, headers=bearer(by.access[-1]))
        assert answer.status_code == 204, answer.text
        for login in self._live():
            login.alive = login is by

    @rule()
    def reset_password_through_the_mail(self) -> None:
        assert self.http.post(f"{API}/auth/password/forgot", json={"email": self.email}).status_code == 202
        self.mails += 1
        link = token_in(self.running.run(self.running.extra.mail_for(self.email, nth=self.mails)))
        answer = self.http.post(
            f"{API}/auth/password/reset", json={"token": link, "new_password": self._new_password()}
        )
        assert answer.status_code == 204, answer.text
        self.used_links.append(link)
        for login in self.logins:
            login.alive = False

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
    def used_links_and_earlier_passwords_stay_dead(self) -> None:
        for link in self.used_links[-2:]:
            body = {"token": link, "new_password": "an attacker's passphrase"}
            assert self.http.post(f"{API}/auth/password/reset", json=body).status_code == 410
        for password in self.old_passwords[-2:]:
            body = {"email": self.email, "password": password}
            assert self.http.post(f"{API}/auth/login", json=body).status_code == 401

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


def test_the_session_lifecycle_holds_its_invariants(live: Threaded) -> None:
    with httpx.Client(base_url=live.stack.gateway_url, timeout=10) as http:
        Sessions.http = http
        Sessions.running = live
        run = Sessions.TestCase
        run.settings = settings(
            max_examples=25,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        run().runTest()
