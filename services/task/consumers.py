"""Event handlers of the task service, run by `kit.events.EventConsumer` inside its transaction.

The task service caches "is X a member of H, with what role" (kit.membership) for a short TTL; when
the user service says a membership changed or ended, the cached answer is dropped at once, so a
demoted or departed member loses their rights now rather than when the TTL runs out. A cached answer
also carries the household's time zone, so a household.updated drops the answer of every member it
lists. Invalidation is idempotent, so redelivery is harmless.
"""

from __future__ import annotations

from hearth.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession

from kit.events import Handler, unpack
from kit.membership import MembershipClient

MEMBER_UPDATED = "member.updated"
MEMBER_LEFT = "member.left"
HOUSEHOLD_UPDATED = "household.updated"


def handlers(membership: MembershipClient) -> dict[str, Handler]:
    async def on_member_updated(session: AsyncSession, envelope: events_pb2.Envelope) -> None:
        updated = unpack(envelope, events_pb2.MemberUpdated)
        await membership.invalidate(updated.household_id or envelope.household_id, updated.user_id)

    async def on_member_left(session: AsyncSession, envelope: events_pb2.Envelope) -> None:
        left = unpack(envelope, events_pb2.MemberLeft)
        await membership.invalidate(left.household_id or envelope.household_id, left.user_id)

    async def on_household_updated(session: AsyncSession, envelope: events_pb2.Envelope) -> None:
        updated = unpack(envelope, events_pb2.HouseholdUpdated)
        for member_id in updated.member_ids:
            await membership.invalidate(updated.household_id or envelope.household_id, member_id)

    return {
        MEMBER_UPDATED: on_member_updated,
        MEMBER_LEFT: on_member_left,
        HOUSEHOLD_UPDATED: on_household_updated,
    }
