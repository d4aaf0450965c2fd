"""AIP-122 resource names: parse "households/{household}/chores/{chore}" into validated ids."""

from __future__ import annotations

import uuid

from kit.errors import invalid
from kit.ids import parse_id


def parse_name(name: str, pattern: str, *, field: str = "name") -> dict[str, str]:
    """Match `name` against `pattern` ("households/{household}/chores/{chore}"); values by variable."""
    parts, expected = name.split("/"), pattern.split("/")
    if len(parts) != len(expected):
        raise invalid(field, f"must look like {pattern}")
    values: dict[str, str] = {}
    for got, want in zip(parts, expected, strict=True):
        if want.startswith("{"):
            if not got:
                raise invalid(field, f"must look like {pattern}")
            values[want[1:-1]] = got
        elif got != want:
            raise invalid(field, f"must look like {pattern}")
    return values


def parse_ids(name: str, pattern: str, *, field: str = "name") -> dict[str, uuid.UUID]:
    """Like parse_name, but every variable must be a UUID (ids are UUIDv7). `me` is not accepted here."""
    out: dict[str, uuid.UUID] = {}
    for key, value in parse_name(name, pattern, field=field).items():
        parsed = parse_id(value)
        if parsed is None:
            raise invalid(field, f"{key} id {value!r} is not a valid id")
        out[key] = parsed
    return out


def user_name(user_id: uuid.UUID | str | None) -> str:
    return f"users/{user_id}" if user_id else ""


def household_name(household_id: uuid.UUID | str) -> str:
    return f"households/{household_id}"
