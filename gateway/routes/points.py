"""/households/{hid}/points and /households/{hid}/rewards: a member's points ledger and balance, the household's
rewards, and redeeming one (never below a balance of zero: 409)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from hearth.task.v1 import task_pb2

from gateway import converters, responses, schemas
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.routes import ClientsDep, IdempotencyKey, PageSize, PageToken
from gateway.schemas import PlainText
from gateway.serialize import JSONResponse

router = APIRouter(tags=["points"])

HouseholdId = Annotated[str, Path(max_length=64), PlainText]
RewardId = Annotated[str, Path(max_length=64), PlainText]


@router.get(
    "/households/{hid}/points",
    summary="A member's points: balance and ledger, newest first (default: the caller's)",
    responses=doc.documented(
        {200: doc.body(responses.Points, responses.POINTS, "The balance and a page")}, 401, 404, 422
    ),
)
async def get_points(
    hid: HouseholdId,
    caller: CurrentCaller,
    clients: ClientsDep,
    user_id: Annotated[str | None, Query(max_length=64), PlainText] = None,
    page_size: PageSize = 50,
    page_token: PageToken = "",
) -> JSONResponse:
    reply = await clients.points.ListPointEntries(
        task_pb2.ListPointEntriesRequest(
            parent=f"households/{hid}",
            user=f"users/{user_id}" if user_id else "",
            page_size=page_size,
            page_token=page_token,
        )
    )
    return JSONResponse(converters.points(reply))


@router.post(
    "/households/{hid}/rewards",
    status_code=201,
    summary="Create a reward (owners and admins)",
    responses=doc.documented(
        {201: doc.body(responses.Reward, responses.REWARD, "The reward")}, 401, 403, 404, 413, 422
    ),
)
async def create_reward(
    hid: HouseholdId,
    body: schemas.RewardBody,
    caller: CurrentCaller,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    reward = await clients.points.CreateReward(
        task_pb2.CreateRewardRequest(
            parent=f"households/{hid}",
            reward=task_pb2.Reward(title=body.title, cost=body.cost, description=body.description or ""),
            request_id=idempotency_key or "",
        )
    )
    return JSONResponse(converters.reward(reward), status_code=201)


@router.get(
    "/households/{hid}/rewards",
    summary="The household's rewards, oldest first",
    responses=doc.documented(
        {200: doc.body(responses.RewardPage, responses.REWARD_PAGE, "A page of rewards")}, 401, 404, 422
    ),
)
async def list_rewards(
    hid: HouseholdId,
    caller: CurrentCaller,
    clients: ClientsDep,
    page_size: PageSize = 50,
    page_token: PageToken = "",
) -> JSONResponse:
    reply = await clients.points.ListRewards(
        task_pb2.ListRewardsRequest(parent=f"households/{hid}", page_size=page_size, page_token=page_token)
    )
    return JSONResponse(
        {"items": [converters.reward(r) for r in reply.rewards], "next_page_token": reply.next_page_token}
    )


@router.post(
    "/households/{hid}/rewards/{rid}/redeem",
    status_code=201,
    summary="Redeem a reward: its cost leaves the caller's balance (409 when the balance does not cover it)",
    responses=doc.documented(
        {201: doc.body(responses.Redemption, responses.REDEMPTION, "The redemption, with the new balance")},
        401,
        403,
        404,
        409,
        410,
        422,
    ),
)
async def redeem_reward(
    hid: HouseholdId,
    rid: RewardId,
    caller: CurrentCaller,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    redemption = await clients.points.RedeemReward(
        task_pb2.RedeemRewardRequest(name=f"households/{hid}/rewards/{rid}", request_id=idempotency_key or "")
    )
    return JSONResponse(converters.redemption(redemption), status_code=201)


@router.delete(
    "/households/{hid}/rewards/{rid}",
    status_code=204,
    summary="Delete (archive) a reward: no longer listed or redeemable (owners and admins)",
    responses=doc.documented({204: doc.empty("Archived")}, 401, 403, 404, 422),
)
async def delete_reward(hid: HouseholdId, rid: RewardId, caller: CurrentCaller, clients: ClientsDep) -> Response:
    await clients.points.DeleteReward(task_pb2.DeleteRewardRequest(name=f"households/{hid}/rewards/{rid}"))
    return Response(status_code=204)
