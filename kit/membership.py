""" "Is X a member of H, with what role?" — asked of the user service over gRPC, cached in Redis.

Used by every service that guards household resources (authorization lives in the services).
Positive answers are cached for `ttl` seconds under
`{namespace}:{service}:{household}:membership:{user}:v1`; membership events invalidate them
(`invalidate`). Negative answers are not cached, so a new member is never locked out. When Redis
is down the cache is bypassed (degraded, not dead).

An answer fetched while an invalidation happens must not be written back over it (a demoted member
would keep the old role until the TTL ends): `invalidate` bumps a generation counter beside the
entry, and `get` writes its answer only if the generation is still the one it read before asking.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import grpc
import redis.asyncio as aioredis
from hearth.events.v1 import events_pb2
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from kit import context
from kit.errors import NotFound, PermissionDenied, Unauthenticated
from kit.events import Handler, unpack
from kit.interceptors import error_from_rpc

log = logging.getLogger("hearth.membership")

ROLES = ("owner", "admin", "member", "child")
ADULT_ROLES = frozenset({"owner", "admin", "member"})


@dataclass(frozen=True)
class Membership:
    household_id: str
    user_id: str
    role: str
    display_name: str
    time_zone: str


# SET the entry only if the generation is unchanged since the reader looked (atomic in Redis).
_SET_IF_GENERATION = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
# How long a generation counter outlives its last invalidation (far longer than any read in flight).
_GENERATION_TTL = 24 * 3600


class MembershipClient:
    def __init__(
        self, channel: grpc.aio.Channel, redis: aioredis.Redis, *, namespace: str, service: str, ttl: int = 60
    ) -> None:
        from hearth.user.v1 import user_pb2, user_pb2_grpc

        self._pb = user_pb2
        self._stub = user_pb2_grpc.HouseholdServiceStub(channel)
        self._redis = redis
        self._prefix = f"{namespace}:{service}"
        self._ttl = ttl
        self._set_if_generation = redis.register_script(_SET_IF_GENERATION)

    def _key(self, household_id: uuid.UUID | str, user_id: uuid.UUID | str) -> str:
        return f"{self._prefix}:{household_id}:membership:{user_id}:v1"

    async def get(self, household_id: uuid.UUID | str, user_id: uuid.UUID | str) -> Membership | None:
        key = self._key(household_id, user_id)
        generation_key = f"{key}:gen"
        cached, generation = None, None
        try:
            cached, generation = await self._redis.mget(key, generation_key)
        except RedisError:
            log.warning("membership cache unavailable; asking the user service")
        if cached:
            return Membership(**json.loads(cached))
        try:
            member = await self._stub.GetMember(
                self._pb.GetMemberRequest(name=f"households/{household_id}/members/{user_id}")
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise error_from_rpc(exc) from exc
        found = Membership(
            household_id=str(household_id),
            user_id=str(user_id),
            role=self._pb.Role.Name(member.role).removeprefix("ROLE_").lower(),
            display_name=member.display_name,
            time_zone=member.household_time_zone or "UTC",
        )
        with contextlib.suppress(RedisError):
            await self._set_if_generation(
                keys=[key, generation_key], args=[generation or b"", json.dumps(asdict(found)), self._ttl]
            )
        return found

    async def require(self, household_id: uuid.UUID | str, *, roles: Iterable[str] | None = None) -> Membership:
        """The caller's membership. Not a member → NOT_FOUND (never reveal the household exists);
        a member whose role is not in `roles` → PERMISSION_DENIED."""
        caller = context.caller.get()
        if caller is None:
            raise Unauthenticated("authentication required")
        membership = await self.get(household_id, caller.user_id)
        if membership is None:
            raise NotFound("household not found")
        if roles is not None and membership.role not in set(roles):
            raise PermissionDenied(f"a {membership.role} may not do this")
        return membership

    def invalidation_handlers(self) -> dict[str, Handler]:
        """Event handlers (for kit.events.EventConsumer on the user stream) that drop cached answers the
        user service says are stale: a member's role changed or they left; a household changed (a cached
        answer carries its time zone), which drops the answer of every member the event lists.
        Invalidation is idempotent, so redelivery is harmless."""

        async def on_member_changed(session: AsyncSession, envelope: events_pb2.Envelope) -> None:
            changed: events_pb2.MemberUpdated | events_pb2.MemberLeft = (
                unpack(envelope, events_pb2.MemberUpdated)
                if envelope.type == "member.updated"
                else unpack(envelope, events_pb2.MemberLeft)
            )
            await self.invalidate(changed.household_id or envelope.household_id, changed.user_id)

        async def on_household_updated(session: AsyncSession, envelope: events_pb2.Envelope) -> None:
            updated = unpack(envelope, events_pb2.HouseholdUpdated)
            for member_id in updated.member_ids:
                await self.invalidate(updated.household_id or envelope.household_id, member_id)

        return {
            "member.updated": on_member_changed,
            "member.left": on_member_changed,
            "household.updated": on_household_updated,
        }

    async def invalidate(self, household_id: uuid.UUID | str, user_id: uuid.UUID | str) -> None:
        key = self._key(household_id, user_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(f"{key}:gen")
                pipe.expire(f"{key}:gen", _GENERATION_TTL)
                pipe.delete(key)
                await pipe.execute()
        except RedisError:
            log.warning("could not invalidate membership cache entry")
