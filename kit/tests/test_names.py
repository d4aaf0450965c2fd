"""kit.names: AIP-122 resource names parsed into validated ids, and formatted back."""

from __future__ import annotations

import uuid

import pytest

from kit.errors import InvalidArgument
from kit.ids import new_id
from kit.names import household_name, parse_ids, parse_name, user_name

CHORE = "households/{household}/chores/{chore}"


def refused(name: str, pattern: str = CHORE, *, field: str = "name", ids: bool = False) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as raised:
        (parse_ids if ids else parse_name)(name, pattern, field=field)
    return raised.value


def test_parse_name_gives_each_variable() -> None:
    assert parse_name("households/h1/chores/c9", CHORE) == {"household": "h1", "chore": "c9"}
    assert parse_name("users/me", "users/{user}") == {"user": "me"}


@pytest.mark.parametrize(
    "name",
    [
        "",
        "households/h1",  # too short
        "households/h1/chores/c9/extra",  # too long
        "households/h1/chores/",  # empty variable
        "households//chores/c9",
        "houses/h1/chores/c9",  # wrong collection
        "households/h1/tasks/c9",
        "/households/h1/chores/c9",
        "households/h1/chores/c9/",
        "Households/h1/chores/c9",  # collections are case-sensitive
    ],
)
def test_names_that_do_not_match_the_pattern_are_refused(name: str) -> None:
    exc = refused(name)
    assert [v.field for v in exc.violations] == ["name"]
    assert CHORE in exc.violations[0].message


def test_the_violation_names_the_request_field() -> None:
    exc = refused("nope", "households/{household}", field="parent")
    assert [v.field for v in exc.violations] == ["parent"]


def test_parse_ids_gives_uuids() -> None:
    h, c = new_id(), new_id()
    assert parse_ids(f"households/{h}/chores/{c}", CHORE) == {"household": h, "chore": c}


@pytest.mark.parametrize("bad", ["me", "123", "not-a-uuid", "0190f0a2-7c1e-7000-8000-00000000000"])
def test_parse_ids_refuses_variables_that_are_not_ids(bad: str) -> None:
    exc = refused(f"households/{new_id()}/chores/{bad}", ids=True, field="chore.name")
    assert [v.field for v in exc.violations] == ["chore.name"]
    assert "chore id" in exc.violations[0].message


def test_parse_ids_refuses_the_pattern_mismatch_first() -> None:
    exc = refused(f"households/{new_id()}", ids=True)
    assert CHORE in exc.violations[0].message


def test_formatting_round_trips_through_parsing() -> None:
    h, u = new_id(), new_id()
    assert household_name(h) == f"households/{h}"
    assert parse_ids(household_name(h), "households/{household}") == {"household": h}
    assert user_name(u) == f"users/{u}"
    assert parse_ids(user_name(u), "users/{user}") == {"user": u}
    assert user_name(str(u)) == f"users/{u}"


@pytest.mark.parametrize("missing", [None, ""])
def test_user_name_of_nobody_is_empty(missing: uuid.UUID | str | None) -> None:
    assert user_name(missing) == ""
