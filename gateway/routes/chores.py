"""/households/{hid}/chores: create, list, get, update (merge patch + If-Match), archive, complete."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from google.protobuf.field_mask_pb2 import FieldMask
from hearth.task.v1 import task_pb2

from gateway import converters, i18n, responses, schemas
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.etags import IfMatch, IfNoneMatch, etag_header, if_match_etag, none_match, not_modified, tagged
from gateway.problems import item_problem
from gateway.rendered import RenderedBodies
from gateway.routes import ClientsDep, IdempotencyKey, PageSize, PageToken
from gateway.schemas import PlainText, Timestamp
from gateway.serialize import JSONResponse

router = APIRouter(tags=["chores"])

HouseholdId = Annotated[str, Path(max_length=64), PlainText]
ChoreId = Annotated[str, Path(max_length=64), PlainText]

CHORE = doc.body(responses.Chore, responses.CHORE, "The chore", etag=True)
# The list's filters, shared with gateway.fastlane (which serves plainly valid lists below FastAPI).
ChoreStatus = Literal["due", "overdue", "upcoming", "archived"]
STATUSES: frozenset[str] = frozenset(get_args(ChoreStatus))
ORDER_BY = r"^(due_at|created_at|points|title)( (asc|desc))?$"


def chore_response(chore: task_pb2.Chore, status: int = 200) -> JSONResponse:
    return tagged(converters.chore(chore), chore.etag, status)


@router.post(
    "/households/{hid}/chores",
    status_code=201,
    summary="Create a chore (not for children)",
    responses=doc.documented({201: CHORE}, 401, 403, 404, 413, 422),
)
async def create_chore(
    hid: HouseholdId,
    body: schemas.ChoreBody,
    caller: CurrentCaller,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    chore = await clients.chores.CreateChore(
        task_pb2.CreateChoreRequest(
            parent=f"households/{hid}", chore=converters.chore_in(body), request_id=idempotency_key or ""
        )
    )
    return chore_response(chore, 201)


@router.post(
    "/households/{hid}/chores/batch",
    summary="Create up to 500 chores: each item's result in order (`atomic`: all or nothing)",
    description="Each item is validated as `POST …/chores` validates one, and its result is the chore or the problem "
    "that request would have answered. Without `atomic`, every valid item is created; with it, one refused item and "
    "none is (the valid ones answer 409 conflict). A body that is not a batch of chores at all (an unknown field, "
    "more than 500 items) is refused whole with 422, naming `items[i].…`. With `Idempotency-Key`, a retry gets the "
    "first answer and creates nothing again.",
    responses=doc.documented(
        {200: doc.body(responses.BatchResults, responses.BATCH_RESULTS, "Each item's result")}, 401, 403, 404, 413, 422
    ),
)
async def batch_create_chores(
    hid: HouseholdId,
    body: schemas.ChoreBatchBody,
    request: Request,
    caller: CurrentCaller,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    response = await clients.chores.BatchCreateChores(
        task_pb2.BatchCreateChoresRequest(
            parent=f"households/{hid}", chores=[converters.chore_in(item) for item in body.items], atomic=body.atomic
        )
    )
    language = i18n.language_of(request.scope)
    return JSONResponse(
        {
            "results": [
                {"index": index, "chore": converters.chore(result.chore)}
                if result.HasField("chore")
                else {"index": index, "error": item_problem(result.error, language)}
                for index, result in enumerate(response.results)
            ]
        }
    )


@router.get(
    "/users/me/agenda",
    summary="The chores assigned to the caller in every household, by due time (overdue first; `?until=`)",
    responses=doc.documented(
        {200: doc.body(responses.ChorePage, responses.CHORE_PAGE, "A page of the caller's chores")}, 401, 422
    ),
)
async def agenda(
    caller: CurrentCaller,
    clients: ClientsDep,
    until: Annotated[Timestamp | None, Query(description="Only chores due before this instant")] = None,
    page_size: PageSize = 50,
    page_token: PageToken = "",
) -> JSONResponse:
    message = task_pb2.ListAgendaRequest(page_size=page_size, page_token=page_token)
    if until is not None:
        message.until.CopyFrom(converters.time_in(until))
    response = await clients.chores.ListAgenda(message)
    return JSONResponse(
        {"items": [converters.chore(c) for c in response.chores], "next_page_token": response.next_page_token}
    )


@router.get(
    "/households/{hid}/chores",
    summary="List chores (keyset pages, filters, full-text search)",
    responses=doc.documented(
        {200: doc.body(responses.ChorePage, responses.CHORE_PAGE, "A page of the household's chores")}, 401, 404, 422
    ),
)
async def list_chores(
    hid: HouseholdId,
    caller: CurrentCaller,
    clients: ClientsDep,
    page_size: PageSize = 50,
    page_token: PageToken = "",
    assignee_id: Annotated[str | None, Query(max_length=64), PlainText] = None,
    category: Annotated[str | None, Query(max_length=50), PlainText] = None,
    label: Annotated[str | None, Query(max_length=50), PlainText] = None,
    status: ChoreStatus | None = None,
    due_before: Timestamp | None = None,
    due_after: Timestamp | None = None,
    q: Annotated[str | None, Query(max_length=200), PlainText] = None,
    order_by: Annotated[str | None, Query(max_length=50, pattern=ORDER_BY)] = None,
) -> Response:
    request = task_pb2.ListChoresRequest(
        parent=f"households/{hid}",
        page_size=page_size,
        page_token=page_token,
        assignee=f"users/{assignee_id}" if assignee_id else "",
        category=category or "",
        label=label or "",
        status=status or "",
        query=q or "",
        order_by=order_by or "",
    )
    if due_before is not None:
        request.due_before.CopyFrom(converters.time_in(due_before))
    if due_after is not None:
        request.due_after.CopyFrom(converters.time_in(due_after))
    # Hot path: the page's bytes, rendered once per distinct page (gateway.rendered) and sent as they are. A
    # response_model would validate and re-serialize every chore a second time; the model is in `responses=`
    # for the document only.
    return Response(render_page(await clients.chore_pages(request)), media_type="application/json")


_PAGES = RenderedBodies()


def render_page(data: bytes) -> bytes:
    """The JSON body of a ListChoresResponse's bytes, rendered once per distinct bytes."""
    return _PAGES.body(data, _convert_page)


def _convert_page(data: bytes) -> bytes:
    response = task_pb2.ListChoresResponse.FromString(data)
    return orjson.dumps(
        {"items": [converters.chore(c) for c in response.chores], "next_page_token": response.next_page_token}
    )


@router.get(
    "/households/{hid}/chores/{cid}",
    summary="One chore (ETag; If-None-Match → 304)",
    responses=doc.documented({200: CHORE, 304: doc.NOT_MODIFIED}, 401, 404, 422),
)
async def get_chore(
    hid: HouseholdId, cid: ChoreId, caller: CurrentCaller, clients: ClientsDep, if_none_match: IfNoneMatch = None
) -> Response:
    chore = await clients.chores.GetChore(task_pb2.GetChoreRequest(name=f"households/{hid}/chores/{cid}"))
    if none_match(if_none_match, chore.etag):
        return not_modified(chore.etag)
    return chore_response(chore)


@router.patch(
    "/households/{hid}/chores/{cid}",
    summary="Update a chore (RFC 7396 merge patch, also inside recurrence and assignment; application/merge-patch+json"
    " or JSON; If-Match → 412 when stale)",
    responses=doc.documented({200: CHORE}, 401, 403, 404, 409, 410, 412, 413, 422),
)
async def update_chore(
    hid: HouseholdId,
    cid: ChoreId,
    body: schemas.ChorePatch,
    caller: CurrentCaller,
    clients: ClientsDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    mask = FieldMask(paths=converters.chore_patch_mask(body))
    # A patch that names nothing ({}, {"assignment": {}}) sends no fields: an empty mask means "the fields present".
    chore = converters.chore_in(body) if mask.paths else task_pb2.Chore()
    chore.name = f"households/{hid}/chores/{cid}"
    chore.etag = if_match_etag(if_match)
    updated = await clients.chores.UpdateChore(task_pb2.UpdateChoreRequest(chore=chore, update_mask=mask))
    return chore_response(updated)


@router.delete(
    "/households/{hid}/chores/{cid}",
    status_code=204,
    summary="Archive a chore",
    responses=doc.documented({204: doc.empty("Archived")}, 401, 403, 404, 412, 422),
)
async def delete_chore(
    hid: HouseholdId, cid: ChoreId, caller: CurrentCaller, clients: ClientsDep, if_match: IfMatch = None
) -> Response:
    await clients.chores.DeleteChore(
        task_pb2.DeleteChoreRequest(name=f"households/{hid}/chores/{cid}", etag=if_match_etag(if_match))
    )
    return Response(status_code=204)


@router.post(
    "/households/{hid}/chores/{cid}/complete",
    status_code=201,
    summary="Complete a chore; the response is the completion, with the chore as it is now under `chore`",
    responses=doc.documented(
        {
            201: doc.body(
                responses.CompletedChore,
                responses.COMPLETED_CHORE,
                "The completion; the ETag is the chore's, as it is now",
                etag=True,
            )
        },
        401,
        403,
        404,
        409,
        410,
        413,
        422,
    ),
)
async def complete_chore(
    hid: HouseholdId,
    cid: ChoreId,
    caller: CurrentCaller,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
    body: schemas.CompleteBody | None = None,
) -> JSONResponse:
    body = body or schemas.CompleteBody()
    message = task_pb2.CompleteChoreRequest(
        name=f"households/{hid}/chores/{cid}",
        note=body.note or "",
        photo=f"households/{hid}/photos/{body.photo_id}" if body.photo_id else "",
        completed_by=f"users/{body.completed_by}" if body.completed_by else "",
        request_id=idempotency_key or "",
    )
    if body.completed_at is not None:
        message.complete_time.CopyFrom(converters.time_in(body.completed_at))
    response = await clients.chores.CompleteChore(message)
    # Hot path, pre-serialized like list_chores: documented by `responses=`, never validated again.
    payload = converters.completion(response.completion) | {"chore": converters.chore(response.chore)}
    return JSONResponse(payload, status_code=201, headers={"ETag": etag_header(response.chore.etag)})


ReviewStatus = Annotated[
    Literal["approved", "pending", "rejected"] | None,
    Query(description="Only completions of this review status"),
]


@router.get(
    "/households/{hid}/chores/{cid}/completions",
    summary="A chore's completion history, newest first",
    responses=doc.documented(
        {200: doc.body(responses.CompletionPage, responses.COMPLETION_PAGE, "A page of completions")}, 401, 404, 422
    ),
)
async def list_completions(
    hid: HouseholdId,
    cid: ChoreId,
    caller: CurrentCaller,
    clients: ClientsDep,
    page_size: PageSize = 50,
    page_token: PageToken = "",
    status: ReviewStatus = None,
) -> JSONResponse:
    return await _completions(clients, f"households/{hid}/chores/{cid}", page_size, page_token, status)


@router.get(
    "/households/{hid}/completions",
    summary="The completions of every chore of the household, newest first (`?status=pending`: what waits for "
    "an adult's approval)",
    responses=doc.documented(
        {200: doc.body(responses.CompletionPage, responses.COMPLETION_PAGE, "A page of completions")}, 401, 404, 422
    ),
)
async def list_household_completions(
    hid: HouseholdId,
    caller: CurrentCaller,
    clients: ClientsDep,
    page_size: PageSize = 50,
    page_token: PageToken = "",
    status: ReviewStatus = None,
) -> JSONResponse:
    return await _completions(clients, f"households/{hid}/chores/-", page_size, page_token, status)


async def _completions(
    clients: ClientsDep, parent: str, page_size: int, page_token: str, status: str | None
) -> JSONResponse:
    response = await clients.chores.ListCompletions(
        task_pb2.ListCompletionsRequest(
            parent=parent,
            page_size=page_size,
            page_token=page_token,
            status=converters.REVIEW_STATUS_VALUES[status] if status else task_pb2.Completion.STATUS_UNSPECIFIED,
        )
    )
    return JSONResponse(
        {
            "items": [converters.completion(c) for c in response.completions],
            "next_page_token": response.next_page_token,
        }
    )


CompletionId = Annotated[str, Path(max_length=64), PlainText]


def _review_responses(outcome: str) -> dict[int | str, dict[str, Any]]:
    return doc.documented(
        {200: doc.body(responses.Completion, responses.COMPLETION, f"The completion, {outcome}")},
        401,
        403,
        404,
        409,
        413,
        422,
    )


async def _reviewed(clients: ClientsDep, name: str, body: schemas.ReviewBody | None, *, approve: bool) -> JSONResponse:
    """An adult's verdict on a pending completion (ApproveCompletion / RejectCompletion), as the completion now."""
    note = (body and body.note) or ""
    completion = await (
        clients.chores.ApproveCompletion(task_pb2.ApproveCompletionRequest(name=name, note=note))
        if approve
        else clients.chores.RejectCompletion(task_pb2.RejectCompletionRequest(name=name, note=note))
    )
    return JSONResponse(converters.completion(completion))


@router.post(
    "/households/{hid}/chores/{cid}/completions/{completion_id}/approve",
    summary="Approve a child's pending completion (adults): it counts from now on and earns its points",
    responses=_review_responses("approved"),
)
async def approve_completion(
    hid: HouseholdId,
    cid: ChoreId,
    completion_id: CompletionId,
    caller: CurrentCaller,
    clients: ClientsDep,
    body: schemas.ReviewBody | None = None,
) -> JSONResponse:
    return await _reviewed(clients, f"households/{hid}/chores/{cid}/completions/{completion_id}", body, approve=True)


@router.post(
    "/households/{hid}/chores/{cid}/completions/{completion_id}/reject",
    summary="Reject a child's pending completion (adults): it never counts, and the occurrence opens again unless "
    "the chore has moved on since (then it counts as missed)",
    responses=_review_responses("rejected"),
)
async def reject_completion(
    hid: HouseholdId,
    cid: ChoreId,
    completion_id: CompletionId,
    caller: CurrentCaller,
    clients: ClientsDep,
    body: schemas.ReviewBody | None = None,
) -> JSONResponse:
    return await _reviewed(clients, f"households/{hid}/chores/{cid}/completions/{completion_id}", body, approve=False)


@router.post(
    "/households/{hid}/chores/{cid}/skip",
    summary="Skip the open occurrence (no points): the next one is computed and the assignee moves on (not children)",
    responses=doc.documented({200: CHORE}, 401, 403, 404, 409, 410, 422),
)
async def skip_chore(
    hid: HouseholdId,
    cid: ChoreId,
    caller: CurrentCaller,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    chore = await clients.chores.SkipChore(
        task_pb2.SkipChoreRequest(name=f"households/{hid}/chores/{cid}", request_id=idempotency_key or "")
    )
    return chore_response(chore)


@router.post(
    "/households/{hid}/chores/{cid}/claim",
    summary="Take a chore nobody holds: the caller becomes its assignee (a child too); 409 when someone else holds it",
    responses=doc.documented({200: CHORE}, 401, 403, 404, 409, 410, 422),
)
async def claim_chore(hid: HouseholdId, cid: ChoreId, caller: CurrentCaller, clients: ClientsDep) -> JSONResponse:
    chore = await clients.chores.ClaimChore(task_pb2.ClaimChoreRequest(name=f"households/{hid}/chores/{cid}"))
    return chore_response(chore)


SubtaskId = Annotated[str, Path(max_length=64), PlainText]


async def _tick(clients: ClientsDep, hid: str, cid: str, sid: str, *, done: bool) -> JSONResponse:
    chore = await clients.chores.TickSubtask(
        task_pb2.TickSubtaskRequest(name=f"households/{hid}/chores/{cid}/subtasks/{sid}", done=done)
    )
    return chore_response(chore)


@router.post(
    "/households/{hid}/chores/{cid}/subtasks/{sid}/tick",
    summary="Tick a subtask for the open occurrence (whoever may complete the chore); again: unchanged",
    responses=doc.documented({200: CHORE}, 401, 403, 404, 410, 422),
)
async def tick_subtask(
    hid: HouseholdId, cid: ChoreId, sid: SubtaskId, caller: CurrentCaller, clients: ClientsDep
) -> JSONResponse:
    return await _tick(clients, hid, cid, sid, done=True)


@router.post(
    "/households/{hid}/chores/{cid}/subtasks/{sid}/untick",
    summary="Untick a subtask for the open occurrence (whoever may complete the chore); again: unchanged",
    responses=doc.documented({200: CHORE}, 401, 403, 404, 410, 422),
)
async def untick_subtask(
    hid: HouseholdId, cid: ChoreId, sid: SubtaskId, caller: CurrentCaller, clients: ClientsDep
) -> JSONResponse:
    return await _tick(clients, hid, cid, sid, done=False)


@router.post(
    "/households/{hid}/chores/{cid}/snooze",
    summary="Move the open occurrence's due time to `until`; the schedule stays (not children)",
    responses=doc.documented({200: CHORE}, 401, 403, 404, 410, 413, 422),
)
async def snooze_chore(
    hid: HouseholdId, cid: ChoreId, body: schemas.SnoozeBody, caller: CurrentCaller, clients: ClientsDep
) -> JSONResponse:
    chore = await clients.chores.SnoozeChore(
        task_pb2.SnoozeChoreRequest(name=f"households/{hid}/chores/{cid}", until=converters.time_in(body.until))
    )
    return chore_response(chore)


@router.delete(
    "/households/{hid}/chores/{cid}/completions/{completion_id}",
    status_code=204,
    summary="Undo the chore's latest completion: its due time, assignee and state go back",
    responses=doc.documented({204: doc.empty("Undone")}, 401, 403, 404, 409, 422),
)
async def undo_completion(
    hid: HouseholdId, cid: ChoreId, completion_id: CompletionId, caller: CurrentCaller, clients: ClientsDep
) -> Response:
    await clients.chores.DeleteCompletion(
        task_pb2.DeleteCompletionRequest(name=f"households/{hid}/chores/{cid}/completions/{completion_id}")
    )
    return Response(status_code=204)


@router.get(
    "/households/{hid}/chores/{cid}/occurrences",
    summary="A chore's ended occurrences (done, skipped, missed), newest first",
    responses=doc.documented(
        {200: doc.body(responses.OccurrencePage, responses.OCCURRENCE_PAGE, "A page of occurrences")}, 401, 404, 422
    ),
)
async def list_occurrences(
    hid: HouseholdId,
    cid: ChoreId,
    caller: CurrentCaller,
    clients: ClientsDep,
    page_size: PageSize = 50,
    page_token: PageToken = "",
) -> JSONResponse:
    response = await clients.chores.ListOccurrences(
        task_pb2.ListOccurrencesRequest(
            parent=f"households/{hid}/chores/{cid}", page_size=page_size, page_token=page_token
        )
    )
    return JSONResponse(
        {
            "items": [converters.occurrence(o) for o in response.occurrences],
            "next_page_token": response.next_page_token,
        }
    )
