"""The user service as other services see it: roles, and "is X a member of H, with what role?".

Every service that guards household resources asks the user service through `MembershipClient`: answers
come from user's HouseholdService.GetMember, asked with the end user's token (forwarded by kit.grpc_client)
while serving a user's request, or — in background work, where no end user is acting, and for an API key's
request — from the internal MembershipService.GetMembership, asked with this service's own service token
(kit.service_tokens). Both
answer the same fact, "is X a member of H, with what role", so both share the cache. Answers are cached
(`kit.cache.TieredCache`: in this process, and in the asking service's Redis namespace as authenticated,
invalidation-safe entries) under `{namespace}:{service}:{household}:membership:{user}:v2` for a TTL, and
dropped sooner by the user events that make them stale (`invalidation_handlers`) — on every replica of the
asking service, through the cache's invalidation feed, whichever replica consumed the event. Negative
answers are not cached, so a new member is never locked out. The cache is the runtime's
(`Runtime.cache("membership")`): short timeouts and a circuit breaker, so a hung Redis makes answers come
from the user service instead of slowing them down, and an invalidation lost meanwhile flushes the whole
cache once Redis answers again (see kit.cache for the bounds).

The window in which a removed member is still answered as one: the time from the user service's commit to
the asking service's consumer handling `member.left` (outbox relay woken by NOTIFY, stream, consumer group:
milliseconds when all is well), plus the pub/sub delivery to the other replicas. When the feed is silent,
the in-process tier stops answering after `<NAME>_CACHE_LOCAL_STALENESS_MS` (1 s).

The authorization policy lives here, beside the roles it speaks of: an outsider gets NOT_FOUND (never
reveal that a household exists), a member without the role PERMISSION_DENIED.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC

import grpc
from hearth.events.v1 import events_pb2
from hearth.user.v1 import user_pb2, user_pb2_grpc
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from kit import context
from kit.cache import SignedCache, TieredCache
from kit.errors import Internal, NotFound, PermissionDenied, Unauthenticated
from kit.events import Event, Handlers, required_id
from kit.interceptors import error_from_rpc
from kit.projection import Projection
from kit.runtime import Runtime
from kit.service_tokens import ServiceTokens
from services.deployment import DeploymentSettings
from services.user.roles import ADULT_ROLES, PERMISSIONS, ROLES

# Bumped when the cached form of a Membership changes, so old entries are simply never read.
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Membership:
    household_id: str
    user_id: str
    role: str
    display_name: str
    time_zone: str


def role_name(role: user_pb2.Role) -> str:
    """ROLE_ADMIN → "admin"."""
    return user_pb2.Role.Name(role).removeprefix("ROLE_").lower()


class MembershipClient:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        cache: TieredCache | SignedCache,
        service_tokens: ServiceTokens | None = None,
    ) -> None:
        self._stub = user_pb2_grpc.HouseholdServiceStub(channel)
        self._internal = user_pb2_grpc.MembershipServiceStub(channel)
        # A bare Redis-tier cache (tests) is used without an in-process tier.
        self._cache = cache if isinstance(cache, TieredCache) else TieredCache(cache)
        self._service_tokens = service_tokens

    async def _ask(self, name: str) -> user_pb2.Member:
        caller = context.caller.get()
        if caller is not None and not caller.is_service and not (caller.is_api_key and self._service_tokens):
            # Acting for an end user: their token goes along (kit.grpc_client), user checks they may see H.
            return await self._stub.GetMember(user_pb2.GetMemberRequest(name=name))
        # Background work (or serving another service): this service's own identity, on the internal RPC. So too
        # for an API key's call: this service has checked the key's scope for what it was asked; the membership
        # question is this service's own authorization step, which a key scoped to chores alone must not fail
        # for want of households:read.
        if self._service_tokens is None:
            raise Internal("no end user is acting and this service has no service identity to ask with")
        metadata = await self._service_tokens.metadata("user")
        return await self._internal.GetMembership(user_pb2.GetMembershipRequest(name=name), metadata=metadata)

    def _key(self, household_id: uuid.UUID | str, user_id: uuid.UUID | str) -> str:
        return self._cache.key(household_id, "membership", user_id, f"v{SCHEMA_VERSION}")

    async def get(
        self, household_id: uuid.UUID | str, user_id: uuid.UUID | str, *, fresh: bool = False
    ) -> Membership | None:
        """`fresh`: ask the user service, not the cache (for an answer that opens something long-lived, which must
        not rest on an entry whose member.left is still on its way)."""
        key = self._key(household_id, user_id)

        async def ask() -> bytes | None:
            try:
                member = await self._ask(f"households/{household_id}/members/{user_id}")
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return None  # not cached: a new member is never locked out
                raise error_from_rpc(exc) from exc
            found = Membership(
                household_id=str(household_id),
                user_id=str(user_id),
                role=role_name(member.role),
                display_name=member.display_name,
                time_zone=member.household_time_zone or "UTC",
            )
            return json.dumps(asdict(found)).encode()

        answer = await ask() if fresh else await self._cache.fetch(key, ask)
        if answer is None:
            return None
        try:
            return Membership(**json.loads(answer))
        except (ValueError, TypeError):
            # An entry of another shape (it verified, so ours): drop it and ask again.
            await self._cache.invalidate(key)
            answer = await ask()
            return None if answer is None else Membership(**json.loads(answer))

    async def require(
        self, household_id: uuid.UUID | str, *, roles: Iterable[str] | None = None, fresh: bool = False
    ) -> Membership:
        """The caller's membership. Not a member → NOT_FOUND (never reveal the household exists);
        a member whose role is not in `roles` → PERMISSION_DENIED. `fresh`: as `get`'s."""
        caller = context.caller.get()
        if caller is None:
            raise Unauthenticated("authentication required")
        membership = await self.get(household_id, caller.user_id, fresh=fresh)
        if membership is None:
            raise NotFound("household not found")
        if roles is not None and membership.role not in set(roles):
            raise PermissionDenied(f"a {membership.role} may not do this")
        return membership

    async def invalidate(self, household_id: uuid.UUID | str, user_id: uuid.UUID | str) -> None:
        await self._cache.invalidate(self._key(household_id, user_id))

    def invalidation_handlers(self) -> Handlers:
        """Event handlers (for the user stream) that drop cached answers the user service says are stale: a
        member's role changed or they left; a household changed (a cached answer carries its time zone), which
        drops the answer of every member the event lists. Invalidation is idempotent, so redelivery is harmless."""

        async def on_member_updated(session: AsyncSession, event: Event[events_pb2.MemberUpdated]) -> None:
            await self.invalidate(event.payload.household_id or event.household_id, event.payload.user_id)

        async def on_member_left(session: AsyncSession, event: Event[events_pb2.MemberLeft]) -> None:
            await self.invalidate(event.payload.household_id or event.household_id, event.payload.user_id)

        async def on_household_updated(session: AsyncSession, event: Event[events_pb2.HouseholdUpdated]) -> None:
            for member_id in event.payload.member_ids:
                await self.invalidate(event.payload.household_id or event.household_id, member_id)

        return {
            events_pb2.MemberUpdated: on_member_updated,
            events_pb2.MemberLeft: on_member_left,
            events_pb2.HouseholdUpdated: on_household_updated,
        }


class MembershipSettings(DeploymentSettings):
    """Settings of a service that caches membership answers (task, analytics)."""

    # <NAME>_MEMBERSHIP_TTL_SECONDS: how long an answer is cached (membership events drop it sooner).
    membership_ttl_seconds: int = Field(default=60, ge=1)


def membership_mirror(projection: Projection) -> Handlers:
    """Handlers that keep a service's own copy of who is in which household with what role, from user's
    member.joined / member.updated / member.left, into `projection` (keyed by household_id, user_id; fields
    `role`, and `joined_at` where the table has it; `left_at` as the tombstone). Order-independent and
    idempotent: see kit.projection."""
    keeps_joined_at = projection.has_field("joined_at")

    def key(household_id: str, envelope_household: str, user_id: str) -> dict[str, uuid.UUID]:
        return {"household_id": required_id(household_id, envelope_household), "user_id": required_id(user_id)}

    async def on_joined(session: AsyncSession, event: Event[events_pb2.MemberJoined]) -> None:
        joined = event.payload
        values: dict[str, object] = {"role": joined.role}
        if keeps_joined_at:
            has_time = joined.HasField("joined_at")
            values["joined_at"] = joined.joined_at.ToDatetime(tzinfo=UTC) if has_time else event.occurred_at
        where = key(joined.household_id, event.household_id, joined.user_id)
        await projection.apply(session, where, at=event.occurred_at, values=values)

    async def on_updated(session: AsyncSession, event: Event[events_pb2.MemberUpdated]) -> None:
        updated = event.payload
        where = key(updated.household_id, event.household_id, updated.user_id)
        await projection.apply(session, where, at=event.occurred_at, values={"role": updated.role})

    async def on_left(session: AsyncSession, event: Event[events_pb2.MemberLeft]) -> None:
        left = event.payload
        where = key(left.household_id, event.household_id, left.user_id)
        await projection.apply(session, where, at=event.occurred_at, removed=True)

    return {events_pb2.MemberJoined: on_joined, events_pb2.MemberUpdated: on_updated, events_pb2.MemberLeft: on_left}


def membership_client(runtime: Runtime, *, ttl: int) -> MembershipClient:
    """The client a service's server.py wires: user's channel and the runtime's cache (namespace, secret, breaker,
    in-process tier)."""
    return MembershipClient(runtime.channels["user"], runtime.cache("membership", ttl=ttl), runtime.service_tokens)


__all__ = [
    "ADULT_ROLES",
    "PERMISSIONS",
    "ROLES",
    "Membership",
    "MembershipClient",
    "MembershipSettings",
    "membership_client",
    "membership_mirror",
    "role_name",
]
