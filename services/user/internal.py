"""Internal RPCs of the user service: questions other services ask with a service token, for background work.

`MembershipService` is marked `(hearth.user.v1.internal)` in the proto, so kit's ServerInterceptor lets only
service callers in (and refuses them on every user-facing method). It answers from the database directly:
no end user is acting, so there is no "may the caller see this household" check — the service token is the
authorization, and what it grants is the membership fact, nothing to change.
"""

from __future__ import annotations

from typing import Any

from hearth.user.v1 import user_pb2, user_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.errors import NotFound
from kit.names import parse_ids
from services.user.converters import role_to_proto, timestamp
from services.user.repository import HouseholdRepository, MemberRepository

MEMBER = "households/{household}/members/{member}"


class MembershipServicer(user_pb2_grpc.MembershipServiceServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def GetMembership(self, request: user_pb2.GetMembershipRequest, context: Any) -> user_pb2.Member:
        ids = parse_ids(request.name, MEMBER)
        household_id, user_id = ids["household"], ids["member"]
        async with self._sessions() as session:
            live = await HouseholdRepository(session).with_membership(household_id, user_id)  # a live household
            named = await MemberRepository(session).with_name(household_id, user_id) if live else None
        if live is None or named is None:
            raise NotFound("member not found")
        household, _ = live
        membership, display_name = named
        return user_pb2.Member(
            name=request.name,
            user=f"users/{user_id}",
            display_name=display_name,
            role=role_to_proto(membership.role),
            join_time=timestamp(membership.join_time),
            household_time_zone=household.time_zone,
        )


__all__ = ["MembershipServicer"]
