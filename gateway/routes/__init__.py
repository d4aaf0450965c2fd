"""REST routes, one module per resource; each translates HTTP ↔ one gRPC call and nothing more."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request
from pydantic import AfterValidator

from gateway.clients import Clients
from gateway.idempotency import MAX_KEY_LENGTH, unquoted
from gateway.schemas import PlainText


async def get_clients(request: Request) -> Clients:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hand-off per
    # request (12 % of the gateway's CPU on GET chores in the issue-13 profile) for one attribute read.
    clients: Clients = request.app.state.clients
    return clients


ClientsDep = Annotated[Clients, Depends(get_clients)]
# Forwarded to the services as `request_id` (AIP-155) where the method has one — unquoted, as gateway.idempotency
# reads it, so `"k"` and `k` are one key to the service too (it decides alone while Redis is down).
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=MAX_KEY_LENGTH + 2),
    PlainText,
    AfterValidator(lambda key: unquoted(key) if key is not None else None),
]
# Every list's paging parameters (API.md "Lists": default 50, at most 200; the token is opaque, keyset-based).
PageSize = Annotated[int, Query(ge=1, le=200)]
PageToken = Annotated[str, Query(max_length=2000), PlainText]
