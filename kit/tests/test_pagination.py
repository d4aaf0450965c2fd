"""kit.pagination: page sizes and opaque keyset page tokens (tampering is INVALID_ARGUMENT, never a 500)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from kit.errors import FieldViolation, InvalidArgument
from kit.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Integer,
    Text,
    Timestamp,
    Uuid,
    decode_cursor,
    decode_token,
    encode_token,
    fingerprint,
    page_size,
)
from kit.text import has_control_characters

QUERY = fingerprint("chores", "household-1", "due_at")


def forge(data: Any) -> str:
    """A token as a client could build one by hand: any JSON, base64url without padding."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def refused_field(token: str, query: str = QUERY) -> list[FieldViolation]:
    with pytest.raises(InvalidArgument) as raised:
        decode_token(token, query)
    return raised.value.violations


@pytest.mark.parametrize(("requested", "expected"), [(0, DEFAULT_PAGE_SIZE), (1, 1), (73, 73), (200, 200)])
def test_page_size_defaults_to_50_and_keeps_what_fits(requested: int, expected: int) -> None:
    assert DEFAULT_PAGE_SIZE == 50
    assert page_size(requested) == expected


@pytest.mark.parametrize("requested", [201, 1000, 2**31 - 1])
def test_page_size_above_the_maximum_is_capped_at_200(requested: int) -> None:
    assert MAX_PAGE_SIZE == 200
    assert page_size(requested) == 200


@pytest.mark.parametrize("requested", [-1, -200])
def test_negative_page_size_is_refused(requested: int) -> None:
    with pytest.raises(InvalidArgument) as raised:
        page_size(requested)
    assert [v.field for v in raised.value.violations] == ["page_size"]


@pytest.mark.parametrize(
    "last_key",
    [
        ["2026-03-01T08:00:00+00:00", "0190f0a2-7c1e-7000-8000-000000000001"],
        [42, "0190f0a2-7c1e-7000-8000-000000000001"],
        ["Übung: Küche 🧽", "x"],
        [None, True, 1.5],
        [],
    ],
)
def test_a_token_round_trips_its_sort_key(last_key: list[Any]) -> None:
    token = encode_token(last_key, QUERY)
    assert decode_token(token, QUERY) == last_key


def test_tokens_are_url_safe_and_unpadded() -> None:
    token = encode_token(["Übung? & more/…", 2**40], QUERY)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_non_json_values_are_written_as_text() -> None:
    """UUIDs and datetimes go out as strings; the caller parses them back (and validates them)."""
    chore_id, when = uuid.uuid4(), datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert decode_token(encode_token([when, chore_id], QUERY), QUERY) == [str(when), str(chore_id)]


def test_no_token_means_the_first_page() -> None:
    assert decode_token("", QUERY) is None


def test_a_token_of_another_query_is_refused() -> None:
    other = fingerprint("chores", "household-2", "due_at")
    token = encode_token(["2026-03-01", "id"], other)
    assert [v.field for v in refused_field(token)] == ["page_token"]


def test_fingerprint_tells_queries_apart_and_is_stable() -> None:
    assert fingerprint("chores", "h", True) == fingerprint("chores", "h", True)
    assert fingerprint("chores", "h", True) != fingerprint("chores", "h", False)
    assert fingerprint("chores", "h") != fingerprint("chores", "h2")


@pytest.mark.parametrize(
    "token",
    [
        "not base64 at all!",
        "%%%",
        "a",  # impossible base64 length
        "ü",  # not ASCII
        base64.urlsafe_b64encode(b"\xff\xfe not utf-8").decode(),
        forge("just a string"),
        forge([1, 2, 3]),
        forge(None),
        forge({"k": ["x"]}),  # no query
        forge({"q": QUERY}),  # no key
        forge({"k": "not a list", "q": QUERY}),
        forge({"k": {"a": 1}, "q": QUERY}),
    ],
)
def test_garbage_and_tampered_tokens_are_invalid_argument(token: str) -> None:
    assert [v.field for v in refused_field(token)] == ["page_token"]


def test_a_tampered_key_is_still_a_list_and_passes_to_the_caller_to_validate() -> None:
    """The token is not signed: a well-formed edit of the key decodes; callers must parse its values."""
    token = forge({"k": ["whatever"], "q": QUERY})
    assert decode_token(token, QUERY) == ["whatever"]


def test_deeply_nested_json_is_invalid_argument_not_a_crash() -> None:
    """A 3 KB forged token of nested arrays used to raise RecursionError (an INTERNAL error, a 500)."""
    depth = 1000
    raw = '{"k":' + "[" * depth + "]" * depth + f',"q":"{QUERY}"}}'
    token = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    assert len(token) < 4096  # fits in a URL query string
    assert [v.field for v in refused_field(token)] == ["page_token"]


# --- typed cursors: a forged key of the right shape but the wrong content is refused, not passed on ---

PARTS = (Timestamp(nullable=True), Integer(), Text(), Uuid())
GOOD_ID = str(uuid.uuid4())


def test_a_server_made_cursor_round_trips_into_typed_values() -> None:
    due = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    token = encode_token([due.isoformat(), 7, "Dishes", GOOD_ID], QUERY)
    assert decode_cursor(token, QUERY, PARTS) == (due, 7, "Dishes", uuid.UUID(GOOD_ID))
    assert decode_cursor(encode_token([None, 7, "x", GOOD_ID], QUERY), QUERY, PARTS) == (
        None,
        7,
        "x",
        uuid.UUID(GOOD_ID),
    )
    assert decode_cursor("", QUERY, PARTS) is None


@pytest.mark.parametrize(
    "key",
    [
        [],  # too short
        ["2026-01-01T00:00:00+00:00", 1, "x", GOOD_ID, "extra"],  # too long
        ["0001-01-01T00:00:00+05:00", 1, "x", GOOD_ID],  # overflows when converted to UTC
        ["9999-12-31T23:59:59-05:00", 1, "x", GOOD_ID],
        ["2026-01-01T00:00:00", 1, "x", GOOD_ID],  # naive
        ["yesterday", 1, "x", GOOD_ID],
        [12, 1, "x", GOOD_ID],
        ["2026-01-01T00:00:00+00:00", 2**70, "x", GOOD_ID],  # beyond int32
        ["2026-01-01T00:00:00+00:00", True, "x", GOOD_ID],
        ["2026-01-01T00:00:00+00:00", "1", "x", GOOD_ID],
        ["2026-01-01T00:00:00+00:00", 1, "a\x00b", GOOD_ID],  # PostgreSQL text cannot hold NUL
        ["2026-01-01T00:00:00+00:00", 1, "x" * 1001, GOOD_ID],
        ["2026-01-01T00:00:00+00:00", 1, None, GOOD_ID],  # not nullable
        ["2026-01-01T00:00:00+00:00", 1, "x", "not-a-uuid"],
        ["2026-01-01T00:00:00+00:00", 1, "x", None],
    ],
)
def test_forged_cursor_contents_are_invalid_argument(key: list[Any]) -> None:
    with pytest.raises(InvalidArgument) as raised:
        decode_cursor(forge({"k": key, "q": QUERY}), QUERY, PARTS)
    assert [v.field for v in raised.value.violations] == ["page_token"]


@pytest.mark.parametrize(
    ("text", "refused"),
    [("Dishes", False), ("tab\tand\nnew line\r", False), ("nul\x00", True), ("bell\x07", True), ("del\x7f", True)],
)
def test_control_characters(text: str, refused: bool) -> None:
    assert has_control_characters(text) is refused
