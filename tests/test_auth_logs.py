"""Logs never hold a credential: a whole auth flow runs through the real gateway and services — register, a failed
and a good login, refresh, a reused refresh token, sessions, an API key created, used, refused and deleted, a
household invite accepted, TOTP enrolled and used, recovery codes, the password changed, forgotten and reset,
logout — with every Hearth logger at DEBUG and the rest at INFO, each record rendered
as production renders it (kit.logging.JsonFormatter). No password, access or refresh token, API key, invite code,
TOTP secret or code, recovery code, reset token or full email address appears in any of them."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from kit.logging import JsonFormatter
from services.user.tests.credentials import Totp, current_step, stored_reset_token
from tests.support.api import API, PASSWORD, expect
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.infra import unique
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(gateway=True)
http = http_fixture()


# The test's own HTTP client (its request lines show the URLs it called): not Hearth's logs.
CLIENT_LOGGERS = {"httpx", "httpcore"}


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] not in CLIENT_LOGGERS:
            self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[Captured]:
    handler = Captured()
    root, ours = logging.getLogger(), logging.getLogger("hearth")
    levels = root.level, ours.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    ours.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        ours.setLevel(levels[1])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_full_auth_flow_logs_no_credential(http: httpx.AsyncClient, stack: Stack, logs: Captured) -> None:
    secrets: dict[str, str] = {"password": PASSWORD}
    email = f"{unique('logged')}@example.com"
    secrets["email"] = email
    other_email = f"{unique('guest')}@example.com"
    secrets["other email"] = other_email

    register = {"email": email, "password": PASSWORD, "display_name": "Logged"}
    user = expect(await http.post(f"{API}/auth/register", json=register), 201)
    wrong = "a wrong password, quite long"
    secrets["wrong password"] = wrong
    assert (await http.post(f"{API}/auth/login", json={"email": email, "password": wrong})).status_code == 401
    unknown = f"{unique('nobody')}@example.com"
    secrets["unknown email"] = unknown
    assert (await http.post(f"{API}/auth/login", json={"email": unknown, "password": wrong})).status_code == 401
    pair = expect(await http.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD}), 200)
    secrets |= {"access token": pair["access_token"], "refresh token": pair["refresh_token"]}
    fresh = expect(await http.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 200)
    # The spent token again: the session ends (a warning-worthy event, logged without the token).
    assert (await http.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})).status_code == 401
    pair = expect(await http.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD}), 200)
    secrets |= {
        "refreshed access token": fresh["access_token"],
        "refreshed refresh token": fresh["refresh_token"],
        "second access token": pair["access_token"],
        "second refresh token": pair["refresh_token"],
    }
    me = bearer(pair["access_token"])
    expect(await http.get(f"{API}/auth/sessions", headers=me), 200)

    key = expect(
        await http.post(f"{API}/api-keys", json={"name": "Logged", "scopes": ["chores:read"]}, headers=me), 201
    )
    secrets["API key"] = key["key"]
    assert (await http.get(f"{API}/households", headers=bearer(key["key"]))).status_code == 403
    household = expect(await http.post(f"{API}/households", json={"name": "Home", "timezone": "UTC"}, headers=me), 201)
    expect(await http.get(f"{API}/households/{household['id']}/chores", headers=bearer(key["key"])), 200)
    expect(await http.delete(f"{API}/api-keys/{key['id']}", headers=me), 204)
    assert (await http.get(f"{API}/users/me", headers=bearer(key["key"]))).status_code == 401
    made_up = "hk_" + "Q" * 43
    secrets["made-up API key"] = made_up
    assert (await http.get(f"{API}/users/me", headers=bearer(made_up))).status_code == 401

    guest_register = {"email": other_email, "password": PASSWORD, "display_name": "Guest"}
    expect(await http.post(f"{API}/auth/register", json=guest_register), 201)
    guest = expect(await http.post(f"{API}/auth/login", json={"email": other_email, "password": PASSWORD}), 200)
    secrets["guest access token"] = guest["access_token"]
    invite = expect(
        await http.post(
            f"{API}/households/{household['id']}/invites", json={"role": "member", "email": other_email}, headers=me
        ),
        201,
    )
    secrets["invite code"] = invite["code"]
    expect(await http.post(f"{API}/invites/{invite['code']}/accept", headers=bearer(guest["access_token"])), 200)

    # The second factor: its secret, codes and recovery codes.
    enrolled = expect(await http.post(f"{API}/auth/mfa/totp", headers=me), 200)
    secrets["TOTP secret"] = enrolled["secret"]
    totp = Totp(enrolled["secret"], current_step())
    codes = expect(
        await http.post(f"{API}/auth/mfa/totp/activate", json={"code": totp.activation_code}, headers=me), 200
    )["recovery_codes"]
    secrets |= {f"recovery code {n}": code for n, code in enumerate(codes)}
    secrets["TOTP code"] = totp.next_code
    login = {"email": email, "password": PASSWORD}
    assert (await http.post(f"{API}/auth/login", json=login)).status_code == 401  # mfa_required
    pair = expect(await http.post(f"{API}/auth/login", json={**login, "totp_code": totp.next_code}), 200)
    assert (await http.post(f"{API}/auth/login", json={**login, "totp_code": totp.next_code})).status_code == 401
    secrets["access token after MFA"] = pair["access_token"]
    me = bearer(pair["access_token"])

    # The password changed, then reset with a link (stored as the worker stores one) and a recovery code.
    changed = "the changed passphrase, long"
    secrets["changed password"] = changed
    change = {"current_password": PASSWORD, "new_password": changed, "totp_code": codes[0]}
    assert (await http.post(f"{API}/auth/password/change", json=change, headers=me)).status_code == 204
    assert (await http.post(f"{API}/auth/password/forgot", json={"email": email})).status_code == 202
    assert (await http.post(f"{API}/auth/password/forgot", json={"email": unknown})).status_code == 202
    link = await stored_reset_token(stack, user["id"])
    secrets["reset token"] = link
    reset_to = "the reset passphrase, long"
    secrets["reset password"] = reset_to
    reset = {"token": link, "new_password": reset_to, "totp_code": codes[1]}
    assert (await http.post(f"{API}/auth/password/reset", json=reset)).status_code == 204
    assert (await http.post(f"{API}/auth/password/reset", json=reset)).status_code == 410
    pair = expect(
        await http.post(f"{API}/auth/login", json={"email": email, "password": reset_to, "totp_code": codes[2]}), 200
    )
    secrets["access token after the reset"] = pair["access_token"]
    me = bearer(pair["access_token"])

    assert (await http.post(f"{API}/auth/logout", headers=me)).status_code == 204
    assert (await http.get(f"{API}/users/me", headers=me)).status_code == 401

    assert len(logs.lines) > 10, "the flow logged nothing: the capture is broken"
    leaks = {
        name: line
        for name, secret in secrets.items()
        for line in logs.lines
        if secret in line or secret.lower() in line.lower()
    }
    assert leaks == {}
