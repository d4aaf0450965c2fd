"""The hot route served below FastAPI: `GET /api/v1/households/{hid}/chores` for a request that is plainly valid.

Why: on a cached page the route's own work is one dict lookup, yet FastAPI's per-request machinery around it
(five middleware layers, route matching through included routers, dependency solving for twelve query
parameters and the caller) cost the gateway about as much CPU again as everything else together (the issue-13
profile). This middleware sits inside the telemetry and request-context middleware (so the request still has
its server span, correlation id, RED metrics and body limit) and in front of FastAPI.

What it serves, it serves exactly as the FastAPI route would — same authentication (the bearer token verified
by the same verifier, the caller forwarded to the task service, which authorizes), same request to the task
service, same body, same problem+json for a failed call. What it does not take on is the judgment of bad
input: a request it cannot accept as it stands — a missing or unusable token, a value outside the route's
limits, a parameter given twice, a timestamp filter — goes on to the FastAPI route untouched, which answers
it (the 401 or 422 included) as it always did. So every error a client can cause comes from one place, and
`gateway/tests/test_fastlane.py` holds the two paths to the same answers. `GATEWAY_FAST_ROUTES=false` turns it
off.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import parse_qsl

import grpc
from hearth.task.v1 import task_pb2
from prometheus_client import Counter
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import problems
from gateway.auth import request_caller
from gateway.routes.chores import ORDER_BY, STATUSES, render_page
from kit import context
from kit.context import Caller
from kit.text import has_control_characters

_CHORES = re.compile(r"^/api/v1/households/([^/]+)/chores$")
_ROUTE = SimpleNamespace(path_format="/api/v1/households/{hid}/chores")
_PAGE_SIZE = re.compile(r"^[1-9][0-9]{0,2}$")
_ORDER_BY = re.compile(ORDER_BY)
# The query parameters of the route, each with its maximum length (as the FastAPI route declares them).
_TEXT_LIMITS = {"page_token": 2000, "assignee_id": 64, "category": 50, "label": 50, "q": 200, "order_by": 50}
_KNOWN = frozenset({*_TEXT_LIMITS, "page_size", "status", "due_before", "due_after"})

FAST_ROUTES = Counter(
    "hearth_gateway_fast_routes_total",
    "Requests to a fast route, by who answered (served: below FastAPI; passed: handed to the FastAPI route)",
    ["outcome"],
)
_SERVED = FAST_ROUTES.labels("served")
_PASSED = FAST_ROUTES.labels("passed")


class FastRoutes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _CHORES.match(scope["path"])
            if match is not None:
                request = _list_request(match.group(1), scope["query_string"])
                if request is not None and await _authenticate(scope):
                    _SERVED.inc()
                    scope["route"] = _ROUTE  # the metrics' route label (gateway.middleware._route)
                    response = await _list_chores(scope, request)
                    await response(scope, receive, send)
                    return
                _PASSED.inc()
        await self.app(scope, receive, send)


def _list_request(hid: str, query_string: bytes) -> task_pb2.ListChoresRequest | None:
    """The ListChoresRequest the FastAPI route would send, or None when it has to judge the request itself."""
    if len(hid) > 64 or has_control_characters(hid):
        return None
    params: dict[str, str] = {}
    # As Starlette reads a query string (latin-1, blank values kept).
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in _KNOWN:
            if name in params:
                return None
            params[name] = value
    if "due_before" in params or "due_after" in params:
        return None
    for name, limit in _TEXT_LIMITS.items():
        text = params.get(name)
        if text is not None and (len(text) > limit or has_control_characters(text)):
            return None
    size = params.get("page_size", "50")
    if not _PAGE_SIZE.fullmatch(size) or int(size) > 200:
        return None
    status = params.get("status")
    if status is not None and status not in STATUSES:
        return None
    order_by = params.get("order_by")
    # fullmatch: Python's `$` also matches before a final newline, pydantic's (Rust) regex does not.
    if order_by is not None and not _ORDER_BY.fullmatch(order_by):
        return None
    assignee = params.get("assignee_id")
    return task_pb2.ListChoresRequest(
        parent=f"households/{hid}",
        page_size=int(size),
        page_token=params.get("page_token", ""),
        assignee=f"users/{assignee}" if assignee else "",
        category=params.get("category") or "",
        label=params.get("label") or "",
        status=status or "",
        query=params.get("q") or "",
        order_by=order_by or "",
    )


async def _authenticate(scope: Scope) -> bool:
    """Verify the bearer token as gateway.auth does and make its caller this request's; False when the route
    has to answer (no token, an API key, a token that does not verify, the key source down)."""
    caller = await request_caller(scope)
    if not isinstance(caller, Caller):  # none, refused, or the key source down: the route's 401 or 503
        return False
    context.caller.set(caller)
    return True


async def _list_chores(scope: Scope, request: task_pb2.ListChoresRequest) -> Response:
    clients = scope["app"].state.clients
    try:
        page = await clients.chore_pages(request)
    except grpc.aio.AioRpcError as exc:
        return problems.from_rpc(exc)
    return Response(render_page(page), media_type="application/json")


__all__ = ["FAST_ROUTES", "FastRoutes"]
