"""kit.validation: every bad field reported at once, one rule and one maximum per kind of check, one caller_id."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Callable, Iterator

import pytest

from kit import context
from kit.errors import FieldViolation, InvalidArgument, NotFound, Unauthenticated, invalid
from kit.text import CONTROL_CHARACTERS_MESSAGE
from kit.validation import (
    REQUEST_ID_MAX_LENGTH,
    TIME_ZONE_MAX_LENGTH,
    Violations,
    caller_id,
    is_time_zone,
)


def refused(errors: Violations) -> list[FieldViolation]:
    with pytest.raises(InvalidArgument) as raised:
        errors.raise_if_any()
    return raised.value.violations


# --- the collector -------------------------------------------------------------------------------------


def test_no_violations_raises_nothing() -> None:
    errors = Violations()
    errors.raise_if_any()
    assert not errors
    assert len(errors) == 0


def test_every_violation_is_reported_at_once_in_the_order_found() -> None:
    errors = Violations()
    errors.add("title", "is required")
    errors.add("points", "must be between 0 and 1000")
    errors.add("labels[2]", "must be 1 to 50 characters")
    violations = refused(errors)
    assert violations == [
        FieldViolation("title", "is required"),
        FieldViolation("points", "must be between 0 and 1000"),
        FieldViolation("labels[2]", "must be 1 to 50 characters"),
    ]
    assert errors.fields == ["title", "points", "labels[2]"]


def test_the_error_message_names_every_field() -> None:
    errors = Violations()
    errors.add("title", "is required")
    errors.add("points", "too many")
    with pytest.raises(InvalidArgument) as raised:
        errors.raise_if_any("the chore is not valid")
    assert raised.value.message == "the chore is not valid: title: is required; points: too many"


def test_the_raised_list_is_a_copy() -> None:
    errors = Violations()
    errors.add("title", "is required")
    violations = refused(errors)
    errors.add("points", "later")
    assert [v.field for v in violations] == ["title"]


def test_extend_adds_violations_found_elsewhere() -> None:
    errors = Violations()
    errors.add("a", "x")
    errors.extend([FieldViolation("b", "y"), FieldViolation("c", "z")])
    assert [v.field for v in errors] == ["a", "b", "c"]


def test_collecting_keeps_a_raising_checks_violations_and_goes_on() -> None:
    errors = Violations()
    with errors.collecting():
        raise invalid("email", "is not an email address")
    with errors.collecting():
        pass
    errors.add("password", "too short")
    assert [(v.field, v.message) for v in refused(errors)] == [
        ("email", "is not an email address"),
        ("password", "too short"),
    ]


def test_collecting_lets_other_errors_through() -> None:
    errors = Violations()
    with pytest.raises(NotFound), errors.collecting():
        raise NotFound("household not found")
    assert not errors


def test_as_a_block_it_raises_when_the_block_ends() -> None:
    reached: list[str] = []

    def validate() -> None:
        with Violations() as errors:
            errors.text("name", "", max_length=10, required=True)
            errors.time_zone("time_zone", "Mars/Olympus")
            reached.append("end of block")

    with pytest.raises(InvalidArgument) as raised:
        validate()
    assert reached == ["end of block"]
    assert [v.field for v in raised.value.violations] == ["name", "time_zone"]


def test_as_a_block_it_passes_when_all_is_well() -> None:
    with Violations() as errors:
        name = errors.text("name", "  Flat 3b ", max_length=10, required=True)
    assert name == "Flat 3b"


def test_an_exception_in_the_block_wins_over_field_errors() -> None:
    def validate() -> None:
        with Violations() as errors:
            errors.add("name", "is required")
            raise NotFound("household not found")

    with pytest.raises(NotFound):
        validate()


# --- text ----------------------------------------------------------------------------------------------


def test_text_is_stripped() -> None:
    errors = Violations()
    assert errors.text("title", "  Vacuum \n", max_length=200) == "Vacuum"
    assert not errors


def test_required_text_refuses_blank() -> None:
    errors = Violations()
    errors.text("title", " \t ", max_length=200, required=True)
    assert refused(errors) == [FieldViolation("title", "is required")]


def test_optional_text_may_be_empty() -> None:
    errors = Violations()
    assert errors.text("description", "", max_length=200) == ""
    assert not errors


def test_text_at_the_maximum_passes_and_one_more_is_refused() -> None:
    errors = Violations()
    errors.text("title", "x" * 200, max_length=200)
    assert not errors
    errors.text("title", "x" * 201, max_length=200)
    assert refused(errors) == [FieldViolation("title", "must be at most 200 characters")]


def test_the_length_is_counted_after_stripping() -> None:
    errors = Violations()
    errors.text("title", "  " + "x" * 200 + "  ", max_length=200)
    assert not errors


@pytest.mark.parametrize("bad", ["a\x00b", "bell\x07", "esc\x1b[31m", "del\x7f", "lone \ud800"])
def test_text_refuses_control_characters_and_invalid_unicode(bad: str) -> None:
    errors = Violations()
    errors.text("note", bad, max_length=200)
    assert refused(errors) == [FieldViolation("note", CONTROL_CHARACTERS_MESSAGE)]


def test_text_keeps_tabs_and_newlines_inside() -> None:
    errors = Violations()
    assert errors.text("note", "line one\n\tline two", max_length=200) == "line one\n\tline two"
    assert not errors


def test_one_violation_per_field_even_when_it_breaks_several_rules() -> None:
    errors = Violations()
    errors.text("title", "\x00" * 300, max_length=200)
    assert [v.field for v in refused(errors)] == ["title"]


# --- time zones ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/Argentina/ComodRivadavia", "UTC", "Asia/Kolkata"])
def test_iana_zone_names_are_accepted(name: str) -> None:
    errors = Violations()
    assert errors.time_zone("time_zone", name) == name
    assert not errors
    assert is_time_zone(name)


@pytest.mark.parametrize(
    "name",
    ["Mars/Olympus", "europe/berlin", "Europe/Berlin/", "posixrules", "Etc/../UTC", "../../etc/passwd", "/UTC"],
)
def test_anything_else_is_refused_naming_it(name: str) -> None:
    errors = Violations()
    errors.time_zone("household.time_zone", name)
    assert refused(errors) == [FieldViolation("household.time_zone", f"{name!r} is not an IANA time zone")]
    assert not is_time_zone(name)


def test_a_zone_name_is_stripped() -> None:
    errors = Violations()
    assert errors.time_zone("time_zone", " Europe/Berlin ") == "Europe/Berlin"
    assert not errors


def test_an_empty_zone_takes_the_default() -> None:
    errors = Violations()
    assert errors.time_zone("time_zone", "  ", default="UTC") == "UTC"
    assert not errors


def test_an_empty_zone_without_a_default_is_required() -> None:
    errors = Violations()
    errors.time_zone("time_zone", "")
    assert [v.field for v in refused(errors)] == ["time_zone"]
    assert "is required" in errors.items[0].message


def test_an_overlong_zone_name_is_refused_by_length() -> None:
    errors = Violations()
    errors.time_zone("time_zone", "Europe/" + "x" * TIME_ZONE_MAX_LENGTH)
    assert refused(errors) == [FieldViolation("time_zone", f"must be at most {TIME_ZONE_MAX_LENGTH} characters")]


def test_a_zone_name_with_control_characters_is_refused_as_such() -> None:
    errors = Violations()
    errors.time_zone("time_zone", "Europe/Berlin\x00")
    assert refused(errors) == [FieldViolation("time_zone", CONTROL_CHARACTERS_MESSAGE)]


# --- request ids ---------------------------------------------------------------------------------------


def test_an_empty_request_id_is_fine() -> None:
    errors = Violations()
    assert errors.request_id("") == ""
    assert not errors


def test_a_request_id_is_kept_as_sent() -> None:
    errors = Violations()
    assert errors.request_id(" 0190f0a2-7c1e ") == " 0190f0a2-7c1e "
    assert not errors


def test_request_id_maximum_is_128() -> None:
    assert REQUEST_ID_MAX_LENGTH == 128
    errors = Violations()
    errors.request_id("r" * 128)
    assert not errors
    errors.request_id("r" * 129)
    assert refused(errors) == [FieldViolation("request_id", "must be at most 128 characters")]


def test_a_request_id_with_control_characters_is_refused() -> None:
    errors = Violations()
    errors.request_id("abc\x00")
    assert refused(errors) == [FieldViolation("request_id", CONTROL_CHARACTERS_MESSAGE)]


def test_a_request_id_field_may_be_named() -> None:
    errors = Violations()
    errors.request_id("r" * 129, field="requests[3].request_id")
    assert errors.fields == ["requests[3].request_id"]


# --- the caller ----------------------------------------------------------------------------------------


SetCaller = Callable[[str | None], None]


@pytest.fixture
def as_caller() -> Iterator[SetCaller]:
    """Set the request's caller (a user id, or None for an anonymous call) for the rest of the test."""
    tokens: list[contextvars.Token[context.Caller | None]] = []

    def set_caller(user_id: str | None) -> None:
        value = None if user_id is None else context.Caller(user_id=user_id, token="t")
        tokens.append(context.caller.set(value))

    yield set_caller
    for token in reversed(tokens):
        context.caller.reset(token)


def test_caller_id_is_the_authenticated_users_id(as_caller: SetCaller) -> None:
    user_id = uuid.uuid4()
    as_caller(str(user_id))
    assert caller_id() == user_id


def test_no_caller_is_unauthenticated(as_caller: SetCaller) -> None:
    as_caller(None)
    with pytest.raises(Unauthenticated):
        caller_id()


@pytest.mark.parametrize("subject", ["service:task", "", "not-a-uuid"])
def test_a_caller_that_names_no_user_is_unauthenticated(as_caller: SetCaller, subject: str) -> None:
    as_caller(subject)
    with pytest.raises(Unauthenticated) as raised:
        caller_id()
    assert raised.value.grpc_code.name == "UNAUTHENTICATED"
