"""/households/{hid}/stats."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from hearth.analytics.v1 import analytics_pb2

from gateway import converters, responses
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.routes import ClientsDep
from gateway.schemas import PlainText, Timestamp
from gateway.serialize import JSONResponse

router = APIRouter(tags=["analytics"])


@router.get(
    "/households/{hid}/stats",
    summary="Per-member and household stats over a window (default 30 days)",
    responses=doc.documented(
        {200: doc.body(responses.Stats, responses.STATS, "Stats of the window `from`..`to`")}, 401, 404, 422
    ),
)
async def household_stats(
    hid: Annotated[str, Path(max_length=64), PlainText],
    caller: CurrentCaller,
    clients: ClientsDep,
    from_: Annotated[Timestamp | None, Query(alias="from")] = None,
    to: Timestamp | None = None,
) -> JSONResponse:
    request = analytics_pb2.GetHouseholdStatsRequest(name=f"households/{hid}/stats")
    if from_ is not None:
        request.start_time.CopyFrom(converters.time_in(from_))
    if to is not None:
        request.end_time.CopyFrom(converters.time_in(to))
    return JSONResponse(converters.stats(await clients.analytics.GetHouseholdStats(request)))
