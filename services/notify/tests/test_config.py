"""notify's settings: private targets for push follow the deployment's switch for webhooks unless set on their own,
and both can be set at once (the stack of a test that delivers every channel to 127.0.0.1 does)."""

from __future__ import annotations

import pytest

from services.notify.config import Settings

SWITCHES = ("HEARTH_WEBHOOKS_ALLOW_PRIVATE", "NOTIFY_PUSH_ALLOW_PRIVATE")


@pytest.fixture(autouse=True)
def no_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SWITCHES:
        monkeypatch.delenv(name, raising=False)


def allowed(settings: Settings) -> tuple[bool, bool]:
    return settings.push_allow_private, settings.webhooks_allow_private


def test_both_given_by_name_are_both_kept() -> None:
    assert allowed(Settings(push_allow_private=True, webhooks_allow_private=True)) == (True, True)
    assert allowed(Settings(push_allow_private=False, webhooks_allow_private=True)) == (False, True)
    assert allowed(Settings(push_allow_private=True, webhooks_allow_private=False)) == (True, False)


def test_off_by_default_and_push_follows_the_deployments_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    assert allowed(Settings()) == (False, False)
    assert allowed(Settings(webhooks_allow_private=True)) == (True, True)
    monkeypatch.setenv("HEARTH_WEBHOOKS_ALLOW_PRIVATE", "1")
    assert allowed(Settings()) == (True, True)


def test_push_set_on_its_own_leaves_the_webhooks_switch_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_WEBHOOKS_ALLOW_PRIVATE", "1")
    assert allowed(Settings(push_allow_private=False)) == (False, True)
    monkeypatch.setenv("NOTIFY_PUSH_ALLOW_PRIVATE", "0")
    assert allowed(Settings()) == (False, True)
    monkeypatch.setenv("HEARTH_WEBHOOKS_ALLOW_PRIVATE", "0")
    monkeypatch.setenv("NOTIFY_PUSH_ALLOW_PRIVATE", "1")
    assert allowed(Settings()) == (True, False)
