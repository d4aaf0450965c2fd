"""A hung Redis, for real: task's cache Redis is SIGSTOPped under a running stack (user, task, gateway).

Task's membership cache lives on a throw-away redis-server of this module's own (`TASK_CACHE_REDIS_URL`,
tests/support/throwaway_redis.py); its event streams, and everything else, stay on the shared test Redis. While
the cache Redis hangs, ListChores and the gateway's GET chores still answer well under a second (each cache
call costs at most one 100 ms timeout; after 3 of them the breaker opens and the cache is not even asked);
once it runs again the cache is used again after the cool-down, and a member removed meanwhile — whose
invalidation could not be written — is refused (404), not let in by the stale cached "member" (kit.cache).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import grpc
from hearth.task.v1 import task_pb2, task_pb2_grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc
from prometheus_client import REGISTRY

from kit.breaker import BreakerState
from tests.support.api import API
from tests.support.membership_cache import cache_key
from tests.support.people import Person, household
from tests.support.stack import Stack, running_stack
from tests.support.throwaway_redis import throwaway_redis
from tests.support.wait import eventually

# Half the gateway's 5 s deadline (GATEWAY_GRPC_TIMEOUT_SECONDS): a call that waited on the hung Redis would run
# into the deadline; one that gave up after the 100 ms cache timeout stays far below this even on a machine whose
# two cores are busy with other test workers (1.0 s was overrun there once, by scheduling, not by waiting).
PROMPT = 2.5
FAILURES = 3
COOLDOWN = 1.0


def counted(stack: Stack, operation: str, outcome: str, cache: str | None = None) -> float:
    """Task's cache calls: of one cache (`membership`, `chore-lists`), or of all of them (they share the breaker)."""
    names = [cache] if cache else ["membership", "chore-lists"]
    return sum(
        REGISTRY.get_sample_value(
            "hearth_cache_requests_total",
            {"cache": f"{stack.namespace}:task:{name}", "operation": operation, "outcome": outcome},
        )
        or 0.0
        for name in names
    )


async def timed(call: Callable[[], Awaitable[int]]) -> tuple[int, float]:
    started = time.monotonic()
    status = await call()
    return status, time.monotonic() - started


async def test_a_hung_cache_redis_slows_no_read_and_lets_no_removed_member_back_in() -> None:
    async with (
        throwaway_redis() as spare,
        running_stack(
            ["user", "task"],
            gateway=True,
            settings_overrides={
                "task": {
                    "cache_redis_url": spare.url,
                    "cache_timeout_ms": 100,
                    "cache_breaker_failures": FAILURES,
                    "cache_breaker_cooldown_seconds": COOLDOWN,
                    "membership_ttl_seconds": 600,  # only the flush can explain a miss
                    # The Redis tier is what this test hangs; the in-process tier in front of it is tested in
                    # kit/tests/test_cache_tiers.py and tests/test_cache_replicas.py.
                    "cache_local_entries": 0,
                }
            },
        ) as stack,
        stack.http() as http,
        grpc.aio.insecure_channel(stack.addr("task")) as task_channel,
        grpc.aio.insecure_channel(stack.addr("user")) as user_channel,
        spare.client() as cache_redis,
    ):
        breaker = stack.servers["task"].runtime.cache_breaker
        chores = task_pb2_grpc.ChoreServiceStub(task_channel)
        home = await household(stack, member="member")
        owner, member = home.owner, home["member"]

        async def rest(person: Person) -> int:
            headers = {"Authorization": f"Bearer {person.token}"}
            return (await http.get(f"{API}/households/{home.id}/chores", headers=headers)).status_code

        async def rpc(person: Person) -> int:
            try:
                await chores.ListChores(
                    task_pb2.ListChoresRequest(parent=home.name), metadata=person.metadata, timeout=5
                )
            except grpc.aio.AioRpcError as exc:
                return {grpc.StatusCode.NOT_FOUND: 404}.get(exc.code(), 500)
            return 200

        # Healthy: both answers are cached on the spare Redis.
        for person in (owner, member):
            assert await rest(person) == 200
            assert await cache_redis.exists(cache_key(stack, "task", home, person))
        hits = counted(stack, "read", "hit", "membership")
        assert await rest(member) == 200
        assert counted(stack, "read", "hit", "membership") == hits + 1

        spare.stop()
        durations = []
        for _ in range(4):
            for call in (rest, rpc):
                status, took = await timed(lambda call=call: call(member))  # type: ignore[misc]
                assert status == 200
                durations.append(took)
        assert max(durations) < PROMPT, durations
        assert breaker.state is BreakerState.OPEN
        assert counted(stack, "read", "error") + counted(stack, "write", "error") == FAILURES
        assert counted(stack, "read", "bypassed") >= 1

        # The member is removed while the cache hangs: task's consumer gets member.left (the streams are on the
        # shared Redis) but cannot drop the cached answer.
        invalidations = counted(stack, "invalidate", "bypassed", "membership") + counted(
            stack, "invalidate", "error", "membership"
        )
        await user_pb2_grpc.HouseholdServiceStub(user_channel).DeleteMember(
            user_pb2.DeleteMemberRequest(name=f"{home.name}/members/{member.user_id}"), metadata=owner.metadata
        )

        async def invalidation_lost() -> bool:
            lost = counted(stack, "invalidate", "bypassed", "membership") + counted(
                stack, "invalidate", "error", "membership"
            )
            return lost > invalidations

        await eventually(invalidation_lost)
        status, took = await timed(lambda: rest(member))
        assert (status, took < PROMPT) == (404, True)  # asked of the user service, not the cache

        spare.resume()
        assert await cache_redis.exists(cache_key(stack, "task", home, member))  # the stale "member" answer

        async def closed() -> bool:
            status, took = await timed(lambda: rest(owner))
            assert (status, took < PROMPT) == (200, True)
            return breaker.state is BreakerState.CLOSED

        await eventually(closed, timeout=10 * COOLDOWN, interval=0.05)
        # The breaker may have closed on a call that reads no entry (an invalidation): the flush owed is made by the
        # next read, before it reads — so the stale "member" answer is never served, and by then the cache is flushed.
        assert await rest(member) == 404
        assert await rpc(member) == 404
        assert counted(stack, "flush", "ok", "membership") == 1

        # The cache is used again: the owner's answer is cached anew and then served from it.
        assert await rest(owner) == 200
        hits = counted(stack, "read", "hit", "membership")
        assert await rest(owner) == 200
        assert counted(stack, "read", "hit", "membership") == hits + 1
