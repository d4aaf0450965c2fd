"""/households/{hid}/calendar-feed (the caller's feed token: create or rotate, revoke) and
/households/{hid}/calendar.ics (the feed itself, opened by its token alone: services/task/feeds.py).

Calendar apps poll a subscription URL and send no Authorization header, so the feed route takes no bearer token:
`?token=` is its credential. It counts against the anonymous (per-IP) request budget of gateway.ratelimit like any
request without credentials. The token must not be written anywhere: the access log has the route template only,
and `HiddenFeedToken` takes it out of the query string before anything else sees the request (the span records the
URL with its query), keeping it in the request's scope for the route.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from hearth.task.v1 import task_pb2
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import converters, responses
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.etags import IfNoneMatch, etag_header, none_match, not_modified
from gateway.routes import ClientsDep
from gateway.schemas import PlainText
from gateway.serialize import JSONResponse

router = APIRouter(tags=["chores"])

HouseholdId = Annotated[str, Path(max_length=64), PlainText]
FEED_PATH = "/households/{hid}/calendar.ics"
CONTENT_TYPE = "text/calendar; charset=utf-8"
# Where HiddenFeedToken keeps the token (scope["state"]).
_TOKEN = "hearth.feed_token"
_TOKEN_PARAM = "token"
# Calendar apps poll: a shared cache must not keep a member's feed; the client revalidates with the ETag.
FEED_HEADERS = {"Cache-Control": "private, no-cache"}


class HiddenFeedToken:
    """Outermost ASGI middleware: on GET …/calendar.ics, the `token` query parameter moves from the query string
    into scope["state"], so no span, log or metric below can record it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/calendar.ics") and scope.get("query_string"):
            pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            tokens = [value for name, value in pairs if name == _TOKEN_PARAM]
            rest = [(name, value) for name, value in pairs if name != _TOKEN_PARAM]
            scope = dict(scope)
            scope["state"] = {**scope.get("state", {}), _TOKEN: tokens[0] if tokens else ""}
            scope["query_string"] = urlencode(rest).encode("latin-1")
        await self.app(scope, receive, send)


def _feed_url(request: Request, hid: str, token: str) -> str:
    return str(request.url_for("get_calendar_feed", hid=hid).include_query_params(token=token))


@router.post(
    "/households/{hid}/calendar-feed",
    status_code=201,
    summary="Create the caller's calendar feed token (creating again rotates it: the old one stops working)",
    responses=doc.documented(
        {201: doc.body(responses.CalendarFeed, responses.CALENDAR_FEED, "The token, shown only now")}, 401, 404, 422
    ),
)
async def create_calendar_feed(
    hid: HouseholdId, request: Request, caller: CurrentCaller, clients: ClientsDep
) -> JSONResponse:
    feed = await clients.calendar_feeds.CreateCalendarFeed(
        task_pb2.CreateCalendarFeedRequest(parent=f"households/{hid}")
    )
    body = converters.calendar_feed(feed, _feed_url(request, hid, feed.token))
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})


@router.delete(
    "/households/{hid}/calendar-feed",
    status_code=204,
    summary="Revoke the caller's calendar feed token",
    responses=doc.documented({204: doc.empty("Revoked (also when there was none)")}, 401, 404, 422),
)
async def delete_calendar_feed(hid: HouseholdId, caller: CurrentCaller, clients: ClientsDep) -> Response:
    await clients.calendar_feeds.DeleteCalendarFeed(task_pb2.DeleteCalendarFeedRequest(parent=f"households/{hid}"))
    return Response(status_code=204)


@router.get(
    FEED_PATH,
    summary="iCalendar feed (RFC 5545) of the household's due chores; no bearer token: `?token=` is the credential",
    response_class=Response,
    responses=doc.documented(
        {
            200: {
                "description": "The VCALENDAR: RRULEs where a recurrence maps, else occurrences 30 days ahead",
                "content": {"text/calendar": {"schema": {"type": "string", "format": "binary"}}},
                "headers": {"ETag": doc.ETAG_HEADER},
            },
            304: doc.NOT_MODIFIED,
        },
        404,
        422,
    ),
)
async def get_calendar_feed(
    hid: HouseholdId,
    request: Request,
    clients: ClientsDep,
    if_none_match: IfNoneMatch = None,
    token: Annotated[
        str | None,
        Query(description="The feed token from POST …/calendar-feed (a wrong, rotated or revoked one: 404)"),
    ] = None,
) -> Response:
    # HiddenFeedToken moved it out of the query string; the parameter is here for the document (and an app
    # built without the middleware).
    presented = request.scope.get("state", {}).get(_TOKEN, token) or ""
    content = await clients.calendar_feeds.GetCalendarFeed(
        task_pb2.GetCalendarFeedRequest(parent=f"households/{hid}", token=presented)
    )
    if none_match(if_none_match, content.etag):
        return _not_modified(content.etag)
    headers = {"ETag": etag_header(content.etag), **FEED_HEADERS}
    return Response(content.ics, media_type=CONTENT_TYPE, headers=headers)


def _not_modified(etag: str) -> Response:
    response = not_modified(etag)
    response.headers.update(FEED_HEADERS)
    return response
