"""/households, their invites, members, members' away periods and the household's audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from google.protobuf.field_mask_pb2 import FieldMask
from hearth.user.v1 import user_pb2

from gateway import converters, responses, schemas
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.etags import IfMatch, IfNoneMatch, if_match_etag, none_match, not_modified, tagged
from gateway.routes import ClientsDep, IdempotencyKey, PageSize, PageToken
from gateway.schemas import PlainText
from gateway.serialize import JSONResponse

router = APIRouter(tags=["households"])

HouseholdId = Annotated[str, Path(max_length=64), PlainText]
UserId = Annotated[str, Path(max_length=64), PlainText]

HOUSEHOLD = doc.body(responses.Household, responses.HOUSEHOLD, "The household, with the caller's role", etag=True)
MEMBER = doc.body(responses.Member, responses.MEMBER, "The membership")
AWAY = doc.body(responses.Away, responses.AWAY, "The member's away period")


@router.post(
    "/households",
    status_code=201,
    summary="Create a household; the caller is its owner",
    responses=doc.documented({201: HOUSEHOLD}, 401, 413, 422),
)
async def create_household(
    body: schemas.HouseholdBody, caller: CurrentCaller, clients: ClientsDep, idempotency_key: IdempotencyKey = None
) -> Response:
    household = await clients.households.CreateHousehold(
        user_pb2.CreateHouseholdRequest(
            household=user_pb2.Household(display_name=body.name, time_zone=body.timezone),
            request_id=idempotency_key or "",
        )
    )
    return tagged(converters.household(household), household.etag, 201)


@router.get(
    "/households",
    summary="The caller's households",
    responses=doc.documented(
        {200: doc.body(responses.HouseholdPage, responses.HOUSEHOLD_PAGE, "A page of the caller's households")},
        401,
        422,
    ),
)
async def list_households(
    caller: CurrentCaller, clients: ClientsDep, page_size: PageSize = 50, page_token: PageToken = ""
) -> JSONResponse:
    response = await clients.households.ListHouseholds(
        user_pb2.ListHouseholdsRequest(page_size=page_size, page_token=page_token)
    )
    return JSONResponse(
        {"items": [converters.household(h) for h in response.households], "next_page_token": response.next_page_token}
    )


@router.get(
    "/households/{hid}",
    summary="One household (ETag; If-None-Match → 304)",
    responses=doc.documented({200: HOUSEHOLD, 304: doc.NOT_MODIFIED}, 401, 404, 422),
)
async def get_household(
    hid: HouseholdId, caller: CurrentCaller, clients: ClientsDep, if_none_match: IfNoneMatch = None
) -> Response:
    household = await clients.households.GetHousehold(user_pb2.GetHouseholdRequest(name=f"households/{hid}"))
    if none_match(if_none_match, household.etag):
        return not_modified(household.etag)
    return tagged(converters.household(household), household.etag)


@router.patch(
    "/households/{hid}",
    summary="Rename or move a household (owner/admin; merge patch; If-Match)",
    responses=doc.documented({200: HOUSEHOLD}, 401, 403, 404, 412, 413, 422),
)
async def update_household(
    hid: HouseholdId,
    body: schemas.HouseholdPatch,
    caller: CurrentCaller,
    clients: ClientsDep,
    if_match: IfMatch = None,
) -> Response:
    paths = {"name": "display_name", "timezone": "time_zone"}
    household = user_pb2.Household(
        name=f"households/{hid}",
        display_name=body.name or "",
        time_zone=body.timezone or "",
        etag=if_match_etag(if_match),
    )
    mask = FieldMask(paths=[paths[f] for f in sorted(body.model_fields_set)])
    updated = await clients.households.UpdateHousehold(
        user_pb2.UpdateHouseholdRequest(household=household, update_mask=mask)
    )
    return tagged(converters.household(updated), updated.etag)


@router.delete(
    "/households/{hid}",
    status_code=204,
    summary="Delete a household (owner only; If-Match)",
    responses=doc.documented({204: doc.empty("Deleted")}, 401, 403, 404, 412, 422),
)
async def delete_household(
    hid: HouseholdId, caller: CurrentCaller, clients: ClientsDep, if_match: IfMatch = None
) -> Response:
    await clients.households.DeleteHousehold(
        user_pb2.DeleteHouseholdRequest(name=f"households/{hid}", etag=if_match_etag(if_match))
    )
    return Response(status_code=204)


@router.post(
    "/households/{hid}/invites",
    status_code=201,
    summary="Invite someone (owner/admin)",
    responses=doc.documented(
        {201: doc.body(responses.Invite, responses.INVITE, "The invite; its code is shown only here")},
        401,
        403,
        404,
        409,
        413,
        422,
    ),
)
async def create_invite(
    hid: HouseholdId,
    body: schemas.InviteBody,
    caller: CurrentCaller,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    invite = await clients.households.CreateInvite(
        user_pb2.CreateInviteRequest(
            parent=f"households/{hid}",
            invite=user_pb2.Invite(role=converters.role_in(body.role), email=body.email or ""),
            request_id=idempotency_key or "",
        )
    )
    # The code is a secret (the user service keeps only its hash): no cache keeps it, nor gateway.idempotency.
    return JSONResponse(converters.invite(invite), status_code=201, headers={"Cache-Control": "no-store"})


@router.post(
    "/invites/{code}/accept",
    summary="Join the household of an invite",
    responses=doc.documented({200: MEMBER}, 401, 403, 404, 409, 410, 422),
)
async def accept_invite(
    code: Annotated[str, Path(max_length=200), PlainText], caller: CurrentCaller, clients: ClientsDep
) -> JSONResponse:
    return JSONResponse(
        converters.member(await clients.households.AcceptInvite(user_pb2.AcceptInviteRequest(code=code)))
    )


@router.get(
    "/households/{hid}/members",
    summary="Members of a household",
    responses=doc.documented(
        {200: doc.body(responses.MemberPage, responses.MEMBER_PAGE, "A page of the household's members")},
        401,
        404,
        422,
    ),
)
async def list_members(
    hid: HouseholdId, caller: CurrentCaller, clients: ClientsDep, page_size: PageSize = 50, page_token: PageToken = ""
) -> JSONResponse:
    response = await clients.households.ListMembers(
        user_pb2.ListMembersRequest(parent=f"households/{hid}", page_size=page_size, page_token=page_token)
    )
    return JSONResponse(
        {"items": [converters.member(m) for m in response.members], "next_page_token": response.next_page_token}
    )


@router.patch(
    "/households/{hid}/members/{uid}",
    summary="Change a member's role (owner/admin); `owner` transfers ownership",
    responses=doc.documented({200: MEMBER}, 401, 403, 404, 413, 422),
)
async def update_member(
    hid: HouseholdId,
    uid: UserId,
    body: schemas.MemberPatch,
    caller: CurrentCaller,
    clients: ClientsDep,
) -> JSONResponse:
    member = user_pb2.Member(name=f"households/{hid}/members/{uid}", role=converters.role_in(body.role))
    updated = await clients.households.UpdateMember(
        user_pb2.UpdateMemberRequest(member=member, update_mask=FieldMask(paths=["role"]))
    )
    return JSONResponse(converters.member(updated))


@router.delete(
    "/households/{hid}/members/{uid}",
    status_code=204,
    summary="Remove a member, or leave",
    responses=doc.documented({204: doc.empty("Removed")}, 401, 403, 404, 422),
)
async def delete_member(hid: HouseholdId, uid: UserId, caller: CurrentCaller, clients: ClientsDep) -> Response:
    await clients.households.DeleteMember(user_pb2.DeleteMemberRequest(name=f"households/{hid}/members/{uid}"))
    return Response(status_code=204)


def _away(hid: str, uid: str) -> str:
    return f"households/{hid}/members/{uid}/away"


@router.put(
    "/households/{hid}/members/{uid}/away",
    summary="Mark a member away in [from, to), replacing any earlier period (oneself, or owner/admin for anyone)",
    description="`to` must be ahead, after `from`, at most 366 days after it; `from` at most 366 days ahead. "
    "Automatic assignment skips the member meanwhile. Setting the same period again changes nothing.",
    responses=doc.documented({200: AWAY}, 401, 403, 404, 413, 422),
)
async def set_away(
    hid: HouseholdId, uid: UserId, body: schemas.AwayBody, caller: CurrentCaller, clients: ClientsDep
) -> JSONResponse:
    away = user_pb2.Away(
        name=_away(hid, uid), start_time=converters.time_in(body.start), end_time=converters.time_in(body.to)
    )
    return JSONResponse(converters.away(await clients.households.SetAway(user_pb2.SetAwayRequest(away=away))))


@router.get(
    "/households/{hid}/members/{uid}/away",
    summary="A member's away period (any member may see it); 404 when there is none",
    responses=doc.documented({200: AWAY}, 401, 404, 422),
)
async def get_away(hid: HouseholdId, uid: UserId, caller: CurrentCaller, clients: ClientsDep) -> JSONResponse:
    return JSONResponse(
        converters.away(await clients.households.GetAway(user_pb2.GetAwayRequest(name=_away(hid, uid))))
    )


@router.delete(
    "/households/{hid}/members/{uid}/away",
    status_code=204,
    summary="Clear a member's away period (oneself, or owner/admin for anyone); 404 when there is none",
    responses=doc.documented({204: doc.empty("Cleared")}, 401, 403, 404, 422),
)
async def delete_away(hid: HouseholdId, uid: UserId, caller: CurrentCaller, clients: ClientsDep) -> Response:
    await clients.households.DeleteAway(user_pb2.DeleteAwayRequest(name=_away(hid, uid)))
    return Response(status_code=204)


@router.get(
    "/households/{hid}/audit",
    summary="The household's security events (role changes, ownership transfers, removals), newest first; owner only",
    responses=doc.documented(
        {200: doc.body(responses.AuditPage, responses.HOUSEHOLD_AUDIT_PAGE, "A page of the household's events")},
        401,
        403,
        404,
        422,
    ),
)
async def household_audit(
    hid: HouseholdId, caller: CurrentCaller, clients: ClientsDep, page_size: PageSize = 50, page_token: PageToken = ""
) -> JSONResponse:
    response = await clients.audit.ListAuditEvents(
        user_pb2.ListAuditEventsRequest(parent=f"households/{hid}", page_size=page_size, page_token=page_token)
    )
    return JSONResponse(converters.audit_page(response))
