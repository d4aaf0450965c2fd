"""kit.ids: UUIDv7 ids (time-ordered) and lenient parsing."""

from __future__ import annotations

import time
import uuid

import pytest

from kit.ids import new_id, parse_id


def test_new_id_is_a_standard_uuid_version_7() -> None:
    value = new_id()
    assert type(value) is uuid.UUID  # what SQLAlchemy's UUID columns and the stdlib expect
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_new_id_carries_its_creation_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= value.int >> 80 <= after  # the top 48 bits: Unix time in ms


def test_ids_sort_in_creation_order_even_within_one_millisecond() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert [str(i) for i in ids] == sorted(str(i) for i in ids)  # the text form sorts the same way


def test_parse_id_reads_a_uuid() -> None:
    value = new_id()
    assert parse_id(str(value)) == value
    assert parse_id(str(value).upper()) == value


@pytest.mark.parametrize("text", ["", "me", "123", "0190f0a2-7c1e-7000-8000-00000000000g", None, 42])
def test_parse_id_of_anything_else_is_none(text: object) -> None:
    assert parse_id(text) is None  # type: ignore[arg-type]
