"""The user service's field checks (services/user/validation.py) and its event payloads (events.py), pure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from kit.text import CONTROL_CHARACTERS_MESSAGE
from kit.validation import Violations
from services.user import events, validation
from services.user.models import Household, User


def test_every_problem_is_collected() -> None:
    errors = Violations()

    address = validation.email(errors, "not-an-email")
    name = validation.name(errors, "display_name", " " + "x" * 101)
    tag = validation.locale(errors, "locale", "", default="en")
    validation.password(errors, "short")
    validation.role(errors, "invite.role", "owner", ("admin", "member", "child"))

    assert errors.fields == ["email", "display_name", "password", "invite.role"]
    assert (address, name, tag) == ("", "x" * 101, "en")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("Ann@Example.COM", "ann@example.com"), ("  bob@example.com ", "bob@example.com")],
)
def test_emails_are_normalised(given: str, expected: str) -> None:
    errors = Violations()
    assert validation.email(errors, given) == expected
    assert not errors


def test_an_email_with_control_characters_is_refused_by_the_shared_rule() -> None:
    errors = Violations()
    assert validation.email(errors, "a\x00@example.com", "invite.email") == ""
    assert [(v.field, v.message) for v in errors] == [("invite.email", CONTROL_CHARACTERS_MESSAGE)]


def test_a_login_answers_a_malformed_address_like_an_unknown_one() -> None:
    assert validation.login_email("nope") == ""
    assert validation.login_email("Ann@Example.com") == "ann@example.com"


def test_a_password_with_a_nul_is_refused() -> None:
    errors = Violations()
    validation.password(errors, "a perfectly long pass\x00phrase")
    assert [(v.field, v.message) for v in errors] == [("password", "must not contain NUL characters")]


def test_client_context_keeps_only_printable_text() -> None:
    assert validation.printable("curl/8\x00\x1b[31m", 100) == "curl/8[31m"
    assert validation.printable("x" * 600, validation.USER_AGENT_MAX) == "x" * 500


def test_event_payloads_carry_the_rows_as_they_are_after_the_change() -> None:
    now = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
    owner, other = uuid.UUID(int=2), uuid.UUID(int=1)
    user = User(id=owner, display_name="Ann", time_zone="Europe/Berlin", locale="de")
    home = Household(id=uuid.UUID(int=9), name="Home", time_zone="UTC")

    assert events.user_registered(user).display_name == "Ann"
    assert list(events.user_updated(user, ["locale"]).changed) == ["locale"]
    assert events.household_created(home, owner).owner_id == str(owner)
    updated = events.household_updated(home, ["time_zone"], [owner, other])
    assert list(updated.member_ids) == [str(other), str(owner)]  # sorted: the same event for the same change
    joined = events.member_joined(home.id, user, "owner", now)
    assert (joined.user_id, joined.role, joined.joined_at.ToDatetime(UTC)) == (str(owner), "owner", now)
    assert events.member_updated(home.id, owner, "admin").role == "admin"
    assert events.member_left(home.id, other).user_id == str(other)
