"""PointsService end to end: the ledger a completion writes, balances, rewards and redemptions — never below zero,
also under parallel redemptions — over real user and task servers."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from hearth.events.v1 import events_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc

from kit.ids import new_id
from tests.support.events import household_events, payload
from tests.support.fixtures import stack_fixture, stub_fixture
from tests.support.people import Household, Person, household
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"])
chores = stub_fixture("task", task_pb2_grpc.ChoreServiceStub)
points = stub_fixture("task", task_pb2_grpc.PointsServiceStub)


async def earn(chores: task_pb2_grpc.ChoreServiceStub, home: Household, person: Person, amount: int) -> None:
    """`person` completes a one-off chore worth `amount` points (recorded by the owner)."""
    chore = await chores.CreateChore(
        task_pb2.CreateChoreRequest(
            parent=home.name,
            chore=task_pb2.Chore(
                title="Earn",
                points=amount,
                recurrence=task_pb2.Recurrence(once=task_pb2.Recurrence.Once()),
                assignment=task_pb2.Assignment(strategy=task_pb2.Assignment.UNASSIGNED),
            ),
        ),
        metadata=home.owner.metadata,
    )
    await chores.CompleteChore(
        task_pb2.CompleteChoreRequest(name=chore.name, completed_by=person.name), metadata=home.owner.metadata
    )


async def reward(
    points: task_pb2_grpc.PointsServiceStub, home: Household, cost: int, by: Person | None = None, **kwargs: str
) -> task_pb2.Reward:
    return await points.CreateReward(
        task_pb2.CreateRewardRequest(
            parent=home.name, reward=task_pb2.Reward(title="Ice cream", cost=cost), request_id=kwargs.get("rid", "")
        ),
        metadata=(by or home.owner).metadata,
    )


async def ledger(
    points: task_pb2_grpc.PointsServiceStub, home: Household, of: Person | None, by: Person
) -> task_pb2.ListPointEntriesResponse:
    return await points.ListPointEntries(
        task_pb2.ListPointEntriesRequest(parent=home.name, user=of.name if of else ""), metadata=by.metadata
    )


async def test_a_completion_credits_the_completer_in_the_ledger_and_writes_points_changed(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, points: task_pb2_grpc.PointsServiceStub
) -> None:
    home = await household(stack, member="member", kid="child")
    await earn(chores, home, home["member"], 7)
    await earn(chores, home, home["member"], 5)
    # Default: the caller's own ledger; anyone in the household may read anyone's.
    own = await ledger(points, home, None, home["member"])
    assert own.user == home["member"].name
    assert own.balance == 12
    assert [(e.delta, e.balance, e.reason) for e in own.entries] == [
        (5, 12, task_pb2.PointEntry.COMPLETION),
        (7, 7, task_pb2.PointEntry.COMPLETION),
    ]
    assert all(e.completion_id for e in own.entries)
    by_kid = await ledger(points, home, home["member"], home["kid"])
    assert by_kid.balance == 12
    owner = await ledger(points, home, None, home.owner)
    assert (owner.balance, list(owner.entries)) == (0, [])
    changed = [
        payload(e, events_pb2.PointsChanged) for e in await household_events(stack, "task", "points.changed", home.id)
    ]
    assert sorted((c.user_id, c.delta, c.balance, c.reason) for c in changed) == [
        (home["member"].user_id, 5, 12, "completion"),
        (home["member"].user_id, 7, 7, "completion"),
    ]


async def test_undoing_a_completion_takes_its_points_back_with_an_entry_of_its_own(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, points: task_pb2_grpc.PointsServiceStub
) -> None:
    home = await household(stack, member="member")
    chore = await chores.CreateChore(
        task_pb2.CreateChoreRequest(
            parent=home.name,
            chore=task_pb2.Chore(
                title="Undone",
                points=9,
                recurrence=task_pb2.Recurrence(once=task_pb2.Recurrence.Once()),
                assignment=task_pb2.Assignment(strategy=task_pb2.Assignment.UNASSIGNED),
            ),
        ),
        metadata=home.owner.metadata,
    )
    done = await chores.CompleteChore(task_pb2.CompleteChoreRequest(name=chore.name), metadata=home["member"].metadata)
    await chores.DeleteCompletion(
        task_pb2.DeleteCompletionRequest(name=done.completion.name), metadata=home["member"].metadata
    )
    after = await ledger(points, home, None, home["member"])
    # Append-only: the credit stays, the undo is its own entry, and the balance is back where it was.
    assert [(e.delta, e.balance, e.reason) for e in after.entries] == [
        (-9, 0, task_pb2.PointEntry.UNDO),
        (9, 9, task_pb2.PointEntry.COMPLETION),
    ]
    assert after.balance == 0
    assert {e.completion_id for e in after.entries} == {done.completion.name.rsplit("/", 1)[-1]}


async def test_the_ledger_pages_newest_first(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, points: task_pb2_grpc.PointsServiceStub
) -> None:
    home = await household(stack)
    for amount in (1, 2, 3):
        await earn(chores, home, home.owner, amount)
    first = await points.ListPointEntries(
        task_pb2.ListPointEntriesRequest(parent=home.name, page_size=2), metadata=home.owner.metadata
    )
    assert [e.delta for e in first.entries] == [3, 2]
    rest = await points.ListPointEntries(
        task_pb2.ListPointEntriesRequest(parent=home.name, page_size=2, page_token=first.next_page_token),
        metadata=home.owner.metadata,
    )
    assert ([e.delta for e in rest.entries], rest.next_page_token) == ([1], "")
    assert rest.balance == 6


async def test_redeeming_spends_and_never_goes_below_zero(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, points: task_pb2_grpc.PointsServiceStub
) -> None:
    home = await household(stack, kid="child")
    kid = home["kid"]
    await earn(chores, home, kid, 25)
    treat = await reward(points, home, 10)
    first = await points.RedeemReward(task_pb2.RedeemRewardRequest(name=treat.name), metadata=kid.metadata)
    assert (first.cost, first.balance, first.user) == (10, 15, kid.name)
    assert first.name.startswith(treat.name + "/redemptions/")
    await points.RedeemReward(task_pb2.RedeemRewardRequest(name=treat.name), metadata=kid.metadata)
    refusal = await refused(points.RedeemReward(task_pb2.RedeemRewardRequest(name=treat.name), metadata=kid.metadata))
    assert refusal.code == grpc.StatusCode.ABORTED
    assert refusal.reason == "CONFLICT"
    # Someone with no points at all is refused the same way.
    refusal = await refused(
        points.RedeemReward(task_pb2.RedeemRewardRequest(name=treat.name), metadata=home.owner.metadata)
    )
    assert refusal.code == grpc.StatusCode.ABORTED
    mine = await ledger(points, home, None, kid)
    assert mine.balance == 5
    # Each redemption wrote points.changed (the refused ones wrote nothing).
    changed = [
        payload(e, events_pb2.PointsChanged) for e in await household_events(stack, "task", "points.changed", home.id)
    ]
    assert sorted((c.reason, c.delta, c.balance, c.reward_id) for c in changed if c.reason == "redemption") == [
        ("redemption", -10, 5, treat.name.rsplit("/", 1)[-1]),
        ("redemption", -10, 15, treat.name.rsplit("/", 1)[-1]),
    ]
    assert [(e.delta, e.reason, e.reward_id) for e in mine.entries][:2] == [
        (-10, task_pb2.PointEntry.REDEMPTION, treat.name.rsplit("/", 1)[-1]),
    ] * 2


async def test_parallel_redemptions_never_overdraw(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, points: task_pb2_grpc.PointsServiceStub
) -> None:
    """20 redemptions at once against a balance that covers 3: exactly 3 succeed, the rest are refused."""
    home = await household(stack, member="member")
    member = home["member"]
    await earn(chores, home, member, 35)
    treat = await reward(points, home, 10)
    results = await asyncio.gather(
        *(
            points.RedeemReward(task_pb2.RedeemRewardRequest(name=treat.name), metadata=member.metadata)
            for _ in range(20)
        ),
        return_exceptions=True,
    )
    spent = [r for r in results if isinstance(r, task_pb2.Redemption)]
    failed = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(spent) == 3
    assert sorted(r.balance for r in spent) == [5, 15, 25]
    assert len(failed) == 17
    assert {e.code() for e in failed} == {grpc.StatusCode.ABORTED}
    final = await ledger(points, home, None, member)
    assert final.balance == 5
    assert sum(e.delta for e in final.entries) == 5


async def test_a_replayed_redemption_spends_once(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, points: task_pb2_grpc.PointsServiceStub
) -> None:
    home = await household(stack)
    await earn(chores, home, home.owner, 30)
    treat = await reward(points, home, 10)
    request = task_pb2.RedeemRewardRequest(name=treat.name, request_id=str(new_id()))
    replies = await asyncio.gather(*(points.RedeemReward(request, metadata=home.owner.metadata) for _ in range(5)))
    assert {r.name for r in replies} == {replies[0].name}
    assert (await ledger(points, home, None, home.owner)).balance == 20
    # The same request id for another reward is another request: refused, not answered with the first.
    other = await reward(points, home, 5)
    refusal = await refused(
        points.RedeemReward(
            task_pb2.RedeemRewardRequest(name=other.name, request_id=request.request_id), metadata=home.owner.metadata
        )
    )
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_rewards_are_managed_by_owners_and_admins(stack: Stack, points: task_pb2_grpc.PointsServiceStub) -> None:
    home = await household(stack, admin="admin", member="member", kid="child")
    made = await reward(points, home, 50, home["admin"], rid="r-1")
    again = await reward(points, home, 50, home["admin"], rid="r-1")
    assert again.name == made.name
    assert made.creator == home["admin"].name
    for key in ("member", "kid"):
        refusal = await refused(reward(points, home, 5, home[key]))
        assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    listed = await points.ListRewards(task_pb2.ListRewardsRequest(parent=home.name), metadata=home["kid"].metadata)
    assert [r.name for r in listed.rewards] == [made.name]


async def test_reward_input_is_validated(stack: Stack, points: task_pb2_grpc.PointsServiceStub) -> None:
    home = await household(stack)
    for cost in (0, -5, 100_001, 2**31 - 1):
        refusal = await refused(reward(points, home, cost))
        assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
        assert list(refusal.violations) == ["cost"]
    for title in ("", "   ", "x" * 201, "bad\x00title"):
        refusal = await refused(
            points.CreateReward(
                task_pb2.CreateRewardRequest(parent=home.name, reward=task_pb2.Reward(title=title, cost=1)),
                metadata=home.owner.metadata,
            )
        )
        assert list(refusal.violations) == ["title"]
    listed = await points.ListRewards(task_pb2.ListRewardsRequest(parent=home.name), metadata=home.owner.metadata)
    assert list(listed.rewards) == []


async def test_outsiders_and_other_households_ids_are_not_found(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, points: task_pb2_grpc.PointsServiceStub
) -> None:
    home = await household(stack)
    other = await household(stack)
    await earn(chores, other, other.owner, 50)
    theirs = await reward(points, other, 10)
    reward_id = theirs.name.rsplit("/", 1)[-1]
    calls = [
        # another household's reward, named under one's own household
        points.RedeemReward(
            task_pb2.RedeemRewardRequest(name=f"{home.name}/rewards/{reward_id}"), metadata=home.owner.metadata
        ),
        # ... and named under its own, by an outsider
        points.RedeemReward(task_pb2.RedeemRewardRequest(name=theirs.name), metadata=home.owner.metadata),
        points.ListRewards(task_pb2.ListRewardsRequest(parent=other.name), metadata=home.owner.metadata),
        ledger(points, other, None, home.owner),
        # someone who is not a member of the household
        ledger(points, home, other.owner, home.owner),
        points.RedeemReward(
            task_pb2.RedeemRewardRequest(name=f"{home.name}/rewards/{new_id()}"), metadata=home.owner.metadata
        ),
    ]
    for call in calls:
        refusal = await refused(call)
        assert refusal.code == grpc.StatusCode.NOT_FOUND
    assert (await ledger(points, other, None, other.owner)).balance == 50
    for name in ("households/x/rewards/y", "nope"):
        refusal = await refused(
            points.RedeemReward(task_pb2.RedeemRewardRequest(name=name), metadata=home.owner.metadata)
        )
        assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_deleted_reward_is_archived_unlisted_and_not_redeemable(
    stack: Stack, chores: task_pb2_grpc.ChoreServiceStub, points: task_pb2_grpc.PointsServiceStub
) -> None:
    home = await household(stack, member="member")
    member = home["member"]
    await earn(chores, home, member, 20)
    treat = await reward(points, home, 5)
    kept = await reward(points, home, 5)
    first = task_pb2.RedeemRewardRequest(name=treat.name, request_id="before")
    made = await points.RedeemReward(first, metadata=member.metadata)
    refusal = await refused(
        points.DeleteReward(task_pb2.DeleteRewardRequest(name=treat.name), metadata=member.metadata)
    )
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    for _ in range(2):  # again: a no-op
        await points.DeleteReward(task_pb2.DeleteRewardRequest(name=treat.name), metadata=home.owner.metadata)
    listed = await points.ListRewards(task_pb2.ListRewardsRequest(parent=home.name), metadata=member.metadata)
    assert [r.name for r in listed.rewards] == [kept.name]
    refusal = await refused(
        points.RedeemReward(task_pb2.RedeemRewardRequest(name=treat.name), metadata=member.metadata)
    )
    assert (refusal.code, refusal.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "GONE")
    # A retry of a redemption made before still gets its answer, spending nothing more.
    assert (await points.RedeemReward(first, metadata=member.metadata)).name == made.name
    assert (await ledger(points, home, None, member)).balance == 15
    other = await household(stack)
    refusal = await refused(
        points.DeleteReward(task_pb2.DeleteRewardRequest(name=kept.name), metadata=other.owner.metadata)
    )
    assert refusal.code == grpc.StatusCode.NOT_FOUND
