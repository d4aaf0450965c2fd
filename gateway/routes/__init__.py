"""REST routes, one module per resource; each translates HTTP ↔ one gRPC call and nothing more."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from gateway.clients import Clients
from gateway.schemas import PlainText


async def get_clients(request: Request) -> Clients:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hand-off per
    # request (12 % of the gateway's CPU on GET chores in the issue-13 profile) for one attribute read.
    clients: Clients = request.app.state.clients
    return clients


ClientsDep = Annotated[Clients, Depends(get_clients)]
# Forwarded to the services as `request_id` (AIP-155) where the method has one.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200), PlainText]
