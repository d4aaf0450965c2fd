"""Two task replicas behind one Redis, for real: what one replica changes, the other's cache does not hide.

Each replica caches membership answers and chore-list pages in its own process (kit.cache.TieredCache) and in
Redis. A chore created through one replica is in the other's next list (the write drops the household's pages
in both tiers of every replica: invalidation feed). A member removed in the user service gets 404 from both
replicas within the documented window (services/user/client.py: the consumer of whichever replica takes
`member.left` drops the answer everywhere) — asserted here at ≤ 1 s.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from hearth.task.v1 import task_pb2, task_pb2_grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit.grpc_server import Server
from tests.support.people import Person, household
from tests.support.stack import Stack, replica, running_stack
from tests.support.wait import eventually

WINDOW = 1.0
SECRET = "a cache secret both replicas share"
WINDOWS = task_pb2.Chore(
    title="Windows",
    recurrence=task_pb2.Recurrence(once=task_pb2.Recurrence.Once()),
    assignment=task_pb2.Assignment(strategy=task_pb2.Assignment.UNASSIGNED),
)


async def test_a_write_or_a_removal_on_one_replica_is_seen_by_the_other() -> None:
    async with (
        running_stack(["user", "task"], settings_overrides={"task": {"cache_secret": SECRET}}) as stack,
        replica_channels(stack) as (one, other, second),
        grpc.aio.insecure_channel(stack.addr("user")) as user_channel,
    ):
        home = await household(stack, member="member")
        owner, member = home.owner, home["member"]
        replicas = [task_pb2_grpc.ChoreServiceStub(one), task_pb2_grpc.ChoreServiceStub(other)]

        async def titles(replica: task_pb2_grpc.ChoreServiceStub, person: Person) -> list[str]:
            page = await replica.ListChores(task_pb2.ListChoresRequest(parent=home.name), metadata=person.metadata)
            return [chore.title for chore in page.chores]

        for replica in replicas:  # both replicas now hold the member's answer and the (empty) page
            assert await titles(replica, member) == []
            assert await titles(replica, member) == []
        # The second replica answers from its own memory now: only the feed can tell it about the write.
        held = {cache.remote.label.rsplit(":", 1)[1]: cache.local for cache in second.runtime.caches}
        assert all(local is not None and len(local) == 1 for local in held.values()), held

        await replicas[0].CreateChore(
            task_pb2.CreateChoreRequest(parent=home.name, chore=WINDOWS),
            metadata=owner.metadata,
        )
        assert await titles(replicas[1], member) == ["Windows"]  # the very next read on the other replica
        assert await titles(replicas[0], member) == ["Windows"]

        await user_pb2_grpc.HouseholdServiceStub(user_channel).DeleteMember(
            user_pb2.DeleteMemberRequest(name=f"{home.name}/members/{member.user_id}"), metadata=owner.metadata
        )
        removed = time.monotonic()

        async def refused(replica: task_pb2_grpc.ChoreServiceStub) -> bool:
            try:
                await titles(replica, member)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                return True
            return False

        for replica in replicas:
            await eventually(lambda replica=replica: refused(replica), timeout=5 * WINDOW, interval=0.01)  # type: ignore[misc]
        took = time.monotonic() - removed
        assert took <= WINDOW, f"the removed member was still let in {took:.2f} s after the removal"
        assert await titles(replicas[0], owner) == ["Windows"]  # the others are unaffected


@asynccontextmanager
async def replica_channels(stack: Stack) -> AsyncIterator[tuple[grpc.aio.Channel, grpc.aio.Channel, Server]]:
    """Channels to the stack's task server and to a second replica of it (and that replica)."""
    async with (
        replica(stack, "task") as second,
        grpc.aio.insecure_channel(stack.addr("task")) as one,
        grpc.aio.insecure_channel(f"127.0.0.1:{second.port}") as other,
    ):
        yield one, other, second
