"""Live events: GET /households/{hid}/events (Server-Sent Events), GET /ws?household_id= (WebSocket), GET
/households/{hid}/presence and POST /households/{hid}/stream-tickets — each one call of notify's LiveService.

notify decides who may listen, what each listener sees, when a stream ends, and presence (services.notify.streams);
the gateway turns its messages into SSE frames or WebSocket messages. One gRPC stream per connection, read into a
bounded buffer (GATEWAY_LIVE_BUFFER): a client that does not read fast enough is dropped, not buffered without end —
it reconnects with the last id it saw and misses nothing. Every connection ends after GATEWAY_LIVE_MAX_SECONDS.

Credentials: the Authorization header, as on every route, or — for a browser's EventSource and WebSocket, which
cannot send one — `?ticket=` (POST …/stream-tickets: single-use, ≤ 60 s, bound to its user and household). An access
token in the URL (`?access_token=`, `?token=`) is refused: URLs end up in logs and histories. `HiddenStreamCredentials`
takes all three out of the query string before a span, log or metric can record them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

import grpc
from fastapi import APIRouter, Header, Path, Query, Request, WebSocket
from hearth.notify.v1 import notify_pb2
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketState

from gateway import converters, responses
from gateway import openapi as doc
from gateway.auth import request_caller
from gateway.clients import Clients
from gateway.routes import ClientsDep
from gateway.schemas import PlainText
from gateway.serialize import JSONResponse
from kit import context
from kit.context import Caller
from kit.errors import HearthError, InvalidArgument, Unauthenticated, http_mapping
from kit.interceptors import carried_error

log = logging.getLogger("hearth.gateway.live")
router = APIRouter(tags=["live"])

HouseholdId = Annotated[str, Path(max_length=64), PlainText]
EVENT_STREAM = "text/event-stream"
# Where HiddenStreamCredentials keeps what it took out of the query string (scope["state"]).
_TICKET = "hearth.stream_ticket"
_URL_TOKEN = "hearth.url_token"
_TICKET_PARAM = "ticket"
_TOKEN_PARAMS = frozenset({"access_token", "token"})
URL_TOKEN_MESSAGE = "an access token does not belong in a URL; send it as Authorization or use a stream ticket"
NO_CREDENTIALS_MESSAGE = "a bearer access token or a stream ticket is required"
# What EventSource waits before it reconnects after the stream ended (SSE `retry:`), in milliseconds.
RETRY_MS = 2000
# What read() answers at the end of a stream (grpc-stubs does not declare it).
_EOF: Any = getattr(grpc.aio, "EOF")  # noqa: B009
# Sentinels in a connection's buffer.
_END, _SLOW = object(), object()


def _is_live(scope: Scope) -> bool:
    path: str = scope["path"]
    if scope["type"] == "websocket":
        return path.endswith("/ws")
    return scope["type"] == "http" and path.endswith("/events")


class HiddenStreamCredentials:
    """Outermost ASGI middleware: on the live routes, `ticket` (and a refused `access_token`/`token`) leave the
    query string for scope["state"], so nothing below records them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("query_string") and _is_live(scope):
            pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            tickets = [value for name, value in pairs if name == _TICKET_PARAM]
            rest = [(name, value) for name, value in pairs if name != _TICKET_PARAM and name not in _TOKEN_PARAMS]
            scope = dict(scope)
            scope["state"] = {
                **scope.get("state", {}),
                _TICKET: tickets[0] if tickets else "",
                _URL_TOKEN: any(name in _TOKEN_PARAMS for name, _ in pairs),
            }
            scope["query_string"] = urlencode(rest).encode("latin-1")
        await self.app(scope, receive, send)


async def _credentials(scope: Scope, ticket: str | None) -> str:
    """Make the header's caller current (the stream goes out with their token) and return the ticket to send instead
    ("" with a token). 401 without either, or with an access token in the URL."""
    state = scope.get("state", {})
    if state.get(_URL_TOKEN):
        raise Unauthenticated(URL_TOKEN_MESSAGE)
    presented = state.get(_TICKET, ticket) or ""
    verdict = await request_caller(scope)
    if isinstance(verdict, Caller):
        context.caller.set(verdict)
    elif verdict is not None:
        raise verdict
    elif not presented:
        raise Unauthenticated(NO_CREDENTIALS_MESSAGE)
    return str(presented)


async def _open(
    clients: Clients, hid: str, after_id: str, ticket: str, timeout: float
) -> tuple[Any, notify_pb2.LiveMessage]:
    """The stream, once notify said it is open (its first message): a refusal is raised here, as problem+json."""
    request = notify_pb2.StreamHouseholdEventsRequest(parent=f"households/{hid}", after_id=after_id, ticket=ticket)
    call: Any = clients.live.StreamHouseholdEvents(request, timeout=timeout)
    try:
        first = await call.read()
    except BaseException:
        call.cancel()
        raise
    if first is _EOF:
        raise grpc.aio.AioRpcError(
            grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "the stream ended at once", None
        )
    return call, first


async def _pump(call: Any, buffer: asyncio.Queue[Any], limit: int, dropped: asyncio.Event) -> None:
    """The gRPC stream's messages into the connection's buffer; when it is `limit` behind, `dropped` is set (the
    writer stops at its next message) and reading stops: the buffer never holds more than `limit`."""
    try:
        # read(), not `async for`: the first message was read so, and grpc.aio refuses mixing the two.
        while (message := await call.read()) is not _EOF:
            if buffer.qsize() >= limit:
                dropped.set()
                buffer.put_nowait(_SLOW)
                return
            buffer.put_nowait(message)
    except grpc.aio.AioRpcError as exc:
        if exc.code() is not grpc.StatusCode.CANCELLED:
            log.info("a live stream ended: %s", exc.code().name)
    finally:
        buffer.put_nowait(_END)


class EventStream(Response):
    """The Server-Sent Events answer of an open stream: `id:`/`event:`/`data:` per event, a comment per heartbeat."""

    media_type = EVENT_STREAM

    def __init__(self, call: Any, first: notify_pb2.LiveMessage, *, limit: int) -> None:
        super().__init__(
            status_code=200,
            media_type=EVENT_STREAM,
            # Not kept by caches; not buffered by a proxy in front (nginx honours X-Accel-Buffering).
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        # Endless: no Content-Length (Response counts its empty body).
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self._call = call
        self._first = first
        self._limit = limit
        # Set when the client fell `limit` events behind: it is sent stream.closed (slow_consumer), not the rest.
        self.dropped = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        buffer: asyncio.Queue[Any] = asyncio.Queue()
        pump = asyncio.create_task(_pump(self._call, buffer, self._limit, self.dropped))

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            buffer.put_nowait(_END)

        watcher = asyncio.create_task(disconnected())
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            opened = self._first.opened
            await send({"type": "http.response.body", "body": sse_open(opened), "more_body": True})
            while True:
                message = await buffer.get()
                if message is _END:
                    break
                if message is _SLOW or self.dropped.is_set():
                    await send({"type": "http.response.body", "body": sse_closed("slow_consumer"), "more_body": True})
                    break
                frame = sse_frame(message)
                if frame:
                    await send({"type": "http.response.body", "body": frame, "more_body": True})
                if message.WhichOneof("kind") == "closed":
                    break
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away mid-write
        finally:
            self._call.cancel()
            for task in (pump, watcher):
                task.cancel()
            for task in (pump, watcher):
                with contextlib.suppress(BaseException):
                    await task


def sse_open(opened: notify_pb2.LiveOpened) -> bytes:
    return f"retry: {RETRY_MS}\n: open {opened.connection_id}\n\n".encode()


def sse_closed(reason: str) -> bytes:
    return f"event: stream.closed\ndata: {json.dumps({'reason': reason})}\n\n".encode()


def sse_frame(message: notify_pb2.LiveMessage) -> bytes:
    kind = message.WhichOneof("kind")
    if kind == "event":
        event = message.event
        # The JSON is one line (notify writes it compact; JSON escapes newlines inside strings).
        return f"id: {event.id}\nevent: {event.type}\ndata: {event.json}\n\n".encode()
    if kind == "heartbeat":
        return b": heartbeat\n\n"
    if kind == "closed":
        return sse_closed(message.closed.reason)
    return b""


@router.get(
    "/households/{hid}/events",
    summary="The household's live events as Server-Sent Events (resume with Last-Event-ID)",
    response_class=Response,
    responses=doc.documented(
        {
            200: {
                "description": "An endless `text/event-stream`: `id:` (resume from it), `event:` (the type) and `data:`"
                " (JSON: event_id, type, occurred_at, household_id, actor_id, data) per event, a `: heartbeat` comment"
                ' every few seconds, and `event: stream.closed` (data `{"reason"}`: `membership_ended`,'
                " `slow_consumer`, `unauthenticated` — the token expired or its session was revoked) before the server"
                " ends it",
                "content": {EVENT_STREAM: {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        401,
        404,
        422,
        429,
    ),
)
async def household_events(
    hid: HouseholdId,
    request: Request,
    clients: ClientsDep,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=64, description="The `id:` of the last event received"),
        PlainText,
    ] = None,
    ticket: Annotated[
        str | None,
        Query(max_length=128, description="A stream ticket (POST …/stream-tickets), for clients without headers"),
        PlainText,
    ] = None,
) -> Response:
    presented = await _credentials(request.scope, ticket)
    settings = request.app.state.settings
    call, first = await _open(clients, hid, last_event_id or "", presented, settings.live_max_seconds)
    return EventStream(call, first, limit=settings.live_buffer)


@router.post(
    "/households/{hid}/stream-tickets",
    status_code=201,
    summary="A single-use ticket (≤ 60 s) that opens the caller's live stream once: `?ticket=` on …/events or /ws",
    responses=doc.documented(
        {201: doc.body(responses.StreamTicket, responses.STREAM_TICKET, "The ticket, shown only now")}, 401, 404, 422
    ),
)
async def create_stream_ticket(hid: HouseholdId, request: Request, clients: ClientsDep) -> Response:
    await _bearer(request)
    ticket = await clients.live.CreateStreamTicket(notify_pb2.CreateStreamTicketRequest(parent=f"households/{hid}"))
    return JSONResponse(
        {"ticket": ticket.ticket, "expires_in": ticket.expires_in},
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/households/{hid}/presence",
    summary="The household's members online now (with a live SSE or WebSocket connection)",
    responses=doc.documented(
        {200: doc.body(responses.PresencePage, responses.PRESENCE_PAGE, "Who is online, by user id")}, 401, 404, 422
    ),
)
async def presence(hid: HouseholdId, request: Request, clients: ClientsDep) -> Response:
    await _bearer(request)
    online = await clients.live.ListPresence(notify_pb2.ListPresenceRequest(parent=f"households/{hid}"))
    return JSONResponse({"items": [converters.online_member(m) for m in online.members]})


async def _bearer(request: Request) -> Caller:
    verdict = await request_caller(request.scope)
    if not isinstance(verdict, Caller):
        raise verdict or Unauthenticated("a bearer access token is required")
    context.caller.set(verdict)
    return verdict


# --- WebSocket ---------------------------------------------------------------------------------------------------


def close_code(exc: BaseException) -> tuple[int, str]:
    """4000 + the HTTP status the same refusal would have on REST (4401, 4404, 4422, 4429, 4503), and its code."""
    if isinstance(exc, grpc.aio.AioRpcError):
        error = carried_error(exc)
        if error is None:
            status, code = http_mapping(exc.code())
            return 4000 + status, code
        exc = error
    if isinstance(exc, HearthError):
        return 4000 + exc.http_status, exc.code
    return 4500, "internal"


# Closed by the server when notify ends the stream: the member left or was removed; the client could not keep up.
# The token the socket was opened with expired or was revoked: 4401, as a refusal at the start would be.
CLOSE_CODES = {"membership_ended": 4403, "slow_consumer": 4408, "unauthenticated": 4401}


@router.websocket("/ws")
async def live_socket(
    websocket: WebSocket,
    household_id: Annotated[str, Query(max_length=64)] = "",
    last_event_id: Annotated[str, Query(max_length=64)] = "",
) -> None:
    clients: Clients = websocket.app.state.clients
    settings = websocket.app.state.settings
    await websocket.accept()
    try:
        if not household_id:
            raise InvalidArgument("household_id is required")
        presented = await _credentials(websocket.scope, None)
        call, first = await _open(clients, household_id, last_event_id, presented, settings.live_max_seconds)
    except (HearthError, grpc.aio.AioRpcError) as exc:
        code, reason = close_code(exc)
        await websocket.close(code, reason)
        return
    try:
        await _serve_socket(websocket, call, first, settings.live_buffer)
    finally:
        call.cancel()


async def _serve_socket(websocket: WebSocket, call: Any, first: notify_pb2.LiveMessage, limit: int) -> None:
    buffer: asyncio.Queue[Any] = asyncio.Queue()
    dropped = asyncio.Event()
    pump = asyncio.create_task(_pump(call, buffer, limit, dropped))

    async def listen() -> None:
        # Nothing a client sends is needed; reading notices it went away (and keeps its frames from piling up).
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                await websocket.receive_text()
        buffer.put_nowait(_END)

    listener = asyncio.create_task(listen())
    try:
        opened = first.opened
        online = [converters.online_member(m) for m in opened.online]
        await websocket.send_json(
            {"type": "open", "connection_id": opened.connection_id, "heartbeat_seconds": opened.heartbeat_seconds}
        )
        await websocket.send_json({"type": "presence", "items": online})
        while True:
            message = await buffer.get()
            if message is _END:
                break
            if message is _SLOW or dropped.is_set():
                await _close(websocket, "slow_consumer")
                return
            kind = message.WhichOneof("kind")
            if kind == "event":
                event = message.event
                body = {"type": "event", "id": event.id, "event": event.type, "data": json.loads(event.json)}
                await websocket.send_json(body)
            elif kind == "heartbeat":
                await websocket.send_json({"type": "heartbeat", "time": converters.time_out(message.heartbeat.time)})
            elif kind == "closed":
                await _close(websocket, message.closed.reason)
                return
        if websocket.application_state is WebSocketState.CONNECTED:
            await websocket.close(1012, "stream ended; reconnect with last_event_id")
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        for task in (pump, listener):
            task.cancel()
        for task in (pump, listener):
            with contextlib.suppress(BaseException):
                await task


async def _close(websocket: WebSocket, reason: str) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.send_json({"type": "closed", "reason": reason})
        await websocket.close(CLOSE_CODES.get(reason, 4000), reason)
