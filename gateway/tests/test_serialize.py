"""The orjson response body against Starlette's json.dumps one: the same bytes for what the gateway sends."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse as StarletteJSONResponse

from gateway import responses
from gateway.serialize import JSONResponse

BODIES: list[Any] = [
    {},
    [],
    {"items": [], "next_page_token": ""},
    {"a": None, "b": True, "c": False, "d": 0, "e": -1, "f": 2**63 - 1, "g": -(2**63)},
    {"text": 'quotes " and \\ backslashes, \n newlines \t tabs \x00 \x1f controls, / slash'},
    {"unicode": "Grüße, 日本語, emoji 🧹, \u2028 \u2029 separators, \ud7ff"},
    {"nested": {"list": [1, [2, [3, {"deep": "x"}]]]}},
    {"floats": [0.0, 1.0, 0.5, 0.83, 1.2, 1000.4, 0.1 + 0.2, 123456.789]},
    responses.CHORE_PAGE.model_dump(mode="json"),
    responses.COMPLETED_CHORE.model_dump(mode="json"),
    responses.STATS.model_dump(mode="json", by_alias=True),
    responses.STATUS_DOWN.model_dump(mode="json"),
]


def test_bodies_are_byte_for_byte_starlettes() -> None:
    for body in BODIES:
        assert JSONResponse(body).body == StarletteJSONResponse(body).body, body


def test_status_headers_and_media_type_stay_starlettes() -> None:
    ours = JSONResponse({"x": 1}, status_code=201, headers={"ETag": '"7"'}, media_type="application/problem+json")
    theirs = StarletteJSONResponse(
        {"x": 1}, status_code=201, headers={"ETag": '"7"'}, media_type="application/problem+json"
    )
    assert ours.status_code == theirs.status_code == 201
    assert ours.raw_headers == theirs.raw_headers
