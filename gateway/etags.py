"""Entity tags over HTTP: `ETag` on every single-resource response, `If-None-Match` → 304 on GET,
`If-Match` forwarded to the service as the resource's etag (a stale one → 412 from the service).

The services hand out bare etags (`"7"` in the proto is just `7`); HTTP wants quoted entity tags.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Response

from gateway.serialize import JSONResponse

IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=200)]
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match", max_length=200)]


def etag_header(etag: str) -> str:
    return etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'


def etag_value(header: str | None) -> str:
    """The service's etag inside one entity tag (quotes and weakness stripped)."""
    value = (header or "").strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def if_match_etag(header: str | None) -> str:
    """The etag the service must check for an If-Match header; "" (no precondition) for none or `*`."""
    value = (header or "").strip()
    return "" if value == "*" else etag_value(value.split(",")[0])


def none_match(header: str | None, etag: str) -> bool:
    """True when an If-None-Match header (`*` or a list of entity tags) matches `etag`."""
    value = (header or "").strip()
    if not value:
        return False
    return value == "*" or any(etag_value(tag) == etag_value(etag) for tag in value.split(","))


def tagged(payload: dict[str, Any], etag: str, status: int = 200) -> JSONResponse:
    """A JSON response carrying the resource's ETag."""
    return JSONResponse(payload, status_code=status, headers={"ETag": etag_header(etag)})


def not_modified(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag_header(etag)})
