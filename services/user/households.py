"""Use cases of households: the households themselves, invites, members, their roles, the ownership and members'
away periods.

Authorization is here, over the caller's membership: an outsider asking about a household gets NOT_FOUND
(never reveal that it exists); a member whose role the table does not allow the action PERMISSION_DENIED (the
table is services/user/roles.PERMISSIONS, the rules over it services/user/permissions.py). Every state change
commits together with its event (`kit.outbox.add_event`, payloads from services/user/events.py), and the
security-relevant ones — role changes, ownership transfers, removals, deleting the household — with their audit
event (services/user/audit.py). Requests are validated whole (`kit.validation.Violations`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.db import utcnow
from kit.errors import AlreadyExists, Gone, NotFound, PermissionDenied, invalid
from kit.field_mask import UpdateMask
from kit.ids import new_id
from kit.names import household_name
from kit.outbox import add_event
from kit.pagination import CursorPart, Uuid, fingerprint
from kit.pagination import Timestamp as TimestampPart
from kit.repository import Page, page
from kit.timestamps import RANGE_MESSAGE, in_range
from kit.validation import REQUIRED_MESSAGE, Violations, caller_id
from services.user import audit, events, permissions, request_ids, tokens, validation
from services.user.etags import check_etag
from services.user.models import Away, Household, Invite, Membership
from services.user.repository import (
    AwayRepository,
    HouseholdRepository,
    InviteRepository,
    MemberRepository,
    UserRepository,
)
from services.user.roles import INVITABLE_ROLES, ROLES

# What UpdateHousehold and UpdateMember may change. Nothing is output-only: a mask naming any other field
# (caller_role, create_time) is refused, not ignored.
HOUSEHOLD_MASK = UpdateMask(updatable=("display_name", "time_zone"))
MEMBER_MASK = UpdateMask(updatable=("role",))
# Household fields as the API names them → the model's columns.
HOUSEHOLD_COLUMNS = {"display_name": "name", "time_zone": "time_zone"}
# Page-token cursors: ListHouseholds by household id, ListMembers by (join time, user id).
HOUSEHOLD_CURSOR: Sequence[CursorPart] = (Uuid(),)
MEMBER_CURSOR: Sequence[CursorPart] = (TimestampPart(), Uuid())
# An away period is [from, to) with `to` still ahead, at most a year long and starting at most a year ahead: a
# typo (2062 for 2026) or a hostile client cannot take a member out of every rotation for good.
AWAY_MAX_SPAN = timedelta(days=366)
AWAY_MAX_LEAD = timedelta(days=366)


@dataclass(frozen=True)
class Member:
    membership: Membership
    display_name: str
    household_time_zone: str


class Households:
    """HouseholdService's use cases."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, invite_secret: bytes, invite_ttl: timedelta
    ) -> None:
        self._sessions = sessions
        self._invite_secret = invite_secret
        self._invite_ttl = invite_ttl

    # --- the caller's access --------------------------------------------------------------------------

    async def _membership(
        self,
        session: AsyncSession,
        household_id: uuid.UUID,
        *,
        action: str | None = None,
        lock: bool = False,
    ) -> tuple[Household, Membership]:
        """The household and the caller's membership; NOT_FOUND for outsiders, PERMISSION_DENIED when the table
        does not let the caller's role do `action`.

        `lock` locks both rows (FOR UPDATE) for a change that depends on the caller's role: concurrent membership
        changes in one household queue up and each sees the roles the previous one left."""
        row = await HouseholdRepository(session).with_membership(household_id, caller_id(), lock=lock)
        if row is None:
            raise NotFound("household not found")
        household, membership = row
        if action is not None:
            permissions.require(membership.role, action)
        return household, membership

    # --- households -----------------------------------------------------------------------------------

    async def create_household(self, *, name: str, time_zone: str, request_id: str = "") -> tuple[Household, str]:
        """A new household, with the caller as its owner."""
        me = caller_id()
        with Violations() as errors:
            name = validation.name(errors, "household.display_name", name)
            zone = errors.time_zone("household.time_zone", time_zone)
            errors.request_id(request_id)
        async with self._sessions() as session, session.begin():
            households = HouseholdRepository(session)
            household_id = new_id()
            replayed = await request_ids.claim(
                session,
                caller=me,
                request_id=request_id,
                operation="CreateHousehold",
                request=(name, zone),
                resource_id=household_id,
            )
            if replayed is not None:
                earlier = await households.get(replayed)
                if earlier is None:  # pragma: no cover - households are only ever soft-deleted
                    raise NotFound("household not found")
                return earlier, "owner"
            user = await UserRepository(session).get(me)
            if user is None:
                raise NotFound("user not found")
            now = utcnow()
            household = Household(
                id=household_id, name=name, time_zone=zone, version=1, create_time=now, update_time=now
            )
            households.add(household)
            await session.flush()
            MemberRepository(session).add(
                Membership(household_id=household.id, user_id=me, role="owner", join_time=now)
            )
            await add_event(session, events.household_created(household, me), household_id=household.id)
            await add_event(session, events.member_joined(household.id, user, "owner", now), household_id=household.id)
        return household, "owner"

    async def get_household(self, household_id: uuid.UUID) -> tuple[Household, str]:
        async with self._sessions() as session:
            household, membership = await self._membership(session, household_id, action="household.read")
        return household, membership.role

    async def list_households(self, *, size: int, token: str) -> Page[tuple[Household, str]]:
        """The caller's households with the caller's role in each, in creation order."""
        me = caller_id()
        async with self._sessions() as session:
            # Tokens are not signed (anyone can build one): page() checks every part, INVALID_ARGUMENT otherwise.
            return await page(
                lambda after, limit: HouseholdRepository(session).page_for_user(me, after=after, limit=limit),
                page_size=size,
                page_token=token,
                query=fingerprint("households", str(me)),
                cursor=HOUSEHOLD_CURSOR,
                key=lambda row: (row[0].id,),
            )

    async def update_household(
        self, household_id: uuid.UUID, changes: Mapping[str, str], mask: Sequence[str], *, etag: str = ""
    ) -> tuple[Household, str]:
        """Change the fields `mask` names (AIP-134, kit.field_mask), or those given; owner or admin."""
        paths = HOUSEHOLD_MASK.paths(mask, present=[path for path, value in changes.items() if value])
        values: dict[str, str] = {}
        with Violations() as errors:
            for path in paths:
                value = changes.get(path, "")
                if path == "display_name":
                    values[path] = validation.name(errors, "household.display_name", value)
                else:
                    values[path] = errors.time_zone("household.time_zone", value)
        async with self._sessions() as session, session.begin():
            household, membership = await self._membership(session, household_id, action="household.update", lock=True)
            check_etag(etag, household.version, "household")
            changed = [path for path in paths if getattr(household, HOUSEHOLD_COLUMNS[path]) != values[path]]
            for path, value in values.items():
                setattr(household, HOUSEHOLD_COLUMNS[path], value)
            if values:
                household.version += 1
                household.update_time = utcnow()
            if changed:  # set to what it was already: nothing to announce
                await session.flush()
                members = await MemberRepository(session).user_ids(household_id)
                await add_event(
                    session, events.household_updated(household, changed, members), household_id=household.id
                )
        return household, membership.role

    async def delete_household(self, household_id: uuid.UUID, *, etag: str = "") -> None:
        """Owner only. Everyone leaves a deleted household (member.left each), then household.deleted tells every
        service to erase what it holds for it. The household row stays, marked deleted, for its audit log."""
        async with self._sessions() as session, session.begin():
            household, mine = await self._membership(session, household_id, action="household.delete", lock=True)
            check_etag(etag, household.version, "household")
            household.delete_time = utcnow()
            memberships = MemberRepository(session)
            for user_id in sorted(await memberships.user_ids(household_id)):
                await add_event(session, events.member_left(household_id, user_id), household_id=household_id)
            await memberships.delete_all(household_id)
            await AwayRepository(session).delete_household(household_id)
            await add_event(session, events.household_deleted(household_id), household_id=household_id)
            # In the owner's own log too: the household's is closed to everyone once it is gone.
            await audit.record(
                session,
                "household.deleted",
                household_id=household_id,
                user_id=mine.user_id,
                target=household_name(household_id),
                details={"display_name": household.name},
            )

    # --- invites --------------------------------------------------------------------------------------

    async def create_invite(
        self, household_id: uuid.UUID, *, role: str, email: str, request_id: str = ""
    ) -> tuple[Invite, str]:
        """An invite to join with `role` (for one address, when `email` is given), and its code; owner or admin."""
        with Violations() as errors:
            validation.role(errors, "invite.role", role, INVITABLE_ROLES)
            address = validation.email(errors, email, "invite.email") if email.strip() else ""
            errors.request_id(request_id)
        async with self._sessions() as session, session.begin():
            _, membership = await self._membership(session, household_id)
            permissions.check_invite(membership.role, role)
            invite_id = new_id()
            replayed = await request_ids.claim(
                session,
                caller=membership.user_id,
                request_id=request_id,
                operation="CreateInvite",
                request=(household_id, role, address),
                resource_id=invite_id,
            )
            if replayed is not None:
                return await self._replayed_invite(session, replayed)
            # Derived from the invite id under a server secret (tokens.invite_code): only its hash is stored, and a
            # retry with the same request id can still show the same code.
            code = tokens.invite_code(self._invite_secret, invite_id)
            now = utcnow()
            invite = Invite(
                id=invite_id,
                household_id=household_id,
                code_hash=tokens.secret_hash(code),
                role=role,
                email=address,
                creator_id=membership.user_id,
                create_time=now,
                expire_time=now + self._invite_ttl,
            )
            InviteRepository(session).add(invite)
        return invite, code

    async def _replayed_invite(self, session: AsyncSession, invite_id: uuid.UUID) -> tuple[Invite, str]:
        """The invite a retried CreateInvite made (to the same household: it is in the fingerprint), with its code
        computed again."""
        invite = await InviteRepository(session).get(invite_id)
        if invite is None:  # pragma: no cover - invites are never deleted
            raise NotFound("invite not found")
        code = tokens.invite_code(self._invite_secret, invite.id)
        if tokens.secret_hash(code) != invite.code_hash:
            # Made under another signing key (rotated since): the code cannot be shown again.
            raise AlreadyExists(
                "this request_id already created an invite whose code can no longer be shown; "
                "create a new invite with a new request_id"
            )
        return invite, code

    async def accept_invite(self, code: str) -> Member:
        """The caller joins the invite's household with the invite's role; a code works once, until it expires."""
        me = caller_id()
        if not code.strip():
            raise invalid("code", "is required")
        now = utcnow()
        async with self._sessions() as session, session.begin():
            invite = await InviteRepository(session).by_code_hash(tokens.secret_hash(code.strip()))
            household = await HouseholdRepository(session).get(invite.household_id) if invite else None
            if invite is None or household is None or household.delete_time is not None:
                raise NotFound("invite not found")
            if invite.accept_time is not None:
                raise Gone("this invite has already been used")
            if invite.expire_time <= now:
                raise Gone("this invite has expired")
            user = await UserRepository(session).get(me)
            if user is None:
                raise NotFound("user not found")
            if invite.email and invite.email != user.email.lower():
                raise PermissionDenied("this invite is for another email address")
            memberships = MemberRepository(session)
            already = AlreadyExists("you are already a member of this household")
            if await memberships.get(invite.household_id, me) is not None:
                raise already
            membership = Membership(household_id=invite.household_id, user_id=me, role=invite.role, join_time=now)
            memberships.add(membership)
            try:
                # Alone in this flush: a violation here is the membership's key. Accepting two invites to one
                # household at once, the second insert waits for the first and then finds the membership there.
                await session.flush()
            except IntegrityError as exc:
                raise already from exc
            invite.accept_time = now
            invite.accepted_by = me
            await add_event(
                session, events.member_joined(invite.household_id, user, invite.role, now), household_id=household.id
            )
        return Member(membership, user.display_name, household.time_zone)

    # --- members --------------------------------------------------------------------------------------

    async def list_members(self, household_id: uuid.UUID, *, size: int, token: str) -> Page[Member]:
        """The household's members in joining order; members only."""
        async with self._sessions() as session:
            household, _ = await self._membership(session, household_id, action="member.list")
            rows = await page(
                lambda after, limit: MemberRepository(session).page_with_names(household_id, after=after, limit=limit),
                page_size=size,
                page_token=token,
                query=fingerprint("members", str(household_id)),
                cursor=MEMBER_CURSOR,
                key=lambda row: (row[0].join_time, row[0].user_id),
            )
        members = [Member(membership, name, household.time_zone) for membership, name in rows.items]
        return Page(members, rows.next_page_token)

    async def get_member(self, household_id: uuid.UUID, user_id: uuid.UUID) -> Member:
        """The membership check every other service relies on: only members may ask."""
        async with self._sessions() as session:
            household, _ = await self._membership(session, household_id, action="member.list")
            return await self._member(session, household, user_id)

    async def _member(
        self, session: AsyncSession, household: Household, user_id: uuid.UUID, *, lock: bool = False
    ) -> Member:
        row = await MemberRepository(session).with_name(household.id, user_id, lock=lock)
        if row is None:
            raise NotFound("member not found")
        membership, name = row
        return Member(membership, name, household.time_zone)

    async def update_member(
        self, household_id: uuid.UUID, user_id: uuid.UUID, *, role: str, mask: Sequence[str] = ()
    ) -> Member:
        """Change a member's role (owner or admin); the owner naming another member "owner" hands the household
        over. `role` is the one updatable field: it is always what the request carries."""
        with Violations() as errors:
            with errors.collecting():
                MEMBER_MASK.paths(mask, present=["role"])
            validation.role(errors, "member.role", role, ROLES)
        async with self._sessions() as session, session.begin():
            household, mine = await self._membership(session, household_id, lock=True)
            # Who may is the table's (member.change_role, household.transfer_ownership): a role that may neither
            # learns no more of the target than the member list shows it.
            if role == "owner":
                permissions.check_transfer(mine.role)
            else:
                permissions.require(mine.role, "member.change_role")
            target = await self._member(session, household, user_id, lock=True)
            if role == "owner":
                await self._transfer_ownership(session, household_id, mine, target.membership)
                return target
            permissions.check_role_change(mine.role, target.membership.role, role)
            before = target.membership.role
            if before != role:
                target.membership.role = role
                await add_event(session, events.member_updated(household_id, user_id, role), household_id=household_id)
                await audit.record(
                    session,
                    "member.role_changed",
                    household_id=household_id,
                    target=_member_name(household_id, user_id),
                    details={"from": before, "to": role},
                )
        return target

    async def _transfer_ownership(
        self, session: AsyncSession, household_id: uuid.UUID, mine: Membership, target: Membership
    ) -> None:
        """The owner hands the household to another member and stays on as an admin (one owner, always)."""
        permissions.check_transfer(mine.role)
        if target.user_id == mine.user_id:
            return
        previous = target.role
        mine.role = "admin"
        # Step down before the new owner steps up: uq_memberships_owner allows one owner at any moment.
        await session.flush()
        target.role = "owner"
        for membership in (mine, target):
            await add_event(
                session,
                events.member_updated(household_id, membership.user_id, membership.role),
                household_id=household_id,
            )
        await audit.record(
            session,
            "household.ownership_transferred",
            household_id=household_id,
            target=_member_name(household_id, target.user_id),
            # The actor is the previous owner, the target the new one (ids stay in the columns erasure rewrites).
            details={"previous_role": previous},
        )

    async def delete_member(self, household_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Remove a member (owner or admin), or leave (anyone but the owner). Their away period goes with them
        (member.away_cleared first, so the task service's copy does not outlive the membership)."""
        me = caller_id()
        async with self._sessions() as session, session.begin():
            household, mine = await self._membership(session, household_id, lock=True)
            target = await self._member(session, household, user_id, lock=True)
            permissions.check_removal(mine.role, target.membership.role, oneself=user_id == me)
            if await AwayRepository(session).delete(household_id, user_id):
                await add_event(session, events.member_away_cleared(household_id, user_id), household_id=household_id)
            await MemberRepository(session).delete(target.membership)
            await add_event(session, events.member_left(household_id, user_id), household_id=household_id)
            await audit.record(
                session,
                "member.removed",
                household_id=household_id,
                target=_member_name(household_id, user_id),
                details={"role": target.membership.role, "left": user_id == me},
            )

    # --- away periods ---------------------------------------------------------------------------------

    async def set_away(
        self, household_id: uuid.UUID, user_id: uuid.UUID, *, start: datetime | None, end: datetime | None
    ) -> Away:
        """Mark a member away in [start, end), replacing any earlier period: oneself, or an owner/admin for anyone.
        Setting the period it already has changes nothing and announces nothing (a retried PUT)."""
        with Violations() as errors:
            start, end = away_period(errors, start, end, now=utcnow())
        async with self._sessions() as session, session.begin():
            household, mine = await self._membership(session, household_id)
            # Locked: concurrent changes to one member's period queue up (and a removal in between is seen).
            target = await self._member(session, household, user_id, lock=True)
            permissions.check_away(mine.role, target.membership.role, oneself=user_id == mine.user_id)
            periods = AwayRepository(session)
            current = await periods.get(household_id, user_id)
            if current is not None and (current.start_time, current.end_time) == (start, end):
                return current
            away = await periods.put(Away(household_id=household_id, user_id=user_id, start_time=start, end_time=end))
            await add_event(session, events.member_away_set(away), household_id=household_id)
        return away

    async def get_away(self, household_id: uuid.UUID, user_id: uuid.UUID) -> Away:
        """A member's away period (the last one set, also once it has passed); NOT_FOUND when there is none."""
        async with self._sessions() as session:
            household, _ = await self._membership(session, household_id, action="member.read_away")
            await self._member(session, household, user_id)
            away = await AwayRepository(session).get(household_id, user_id)
        if away is None:
            raise NotFound("this member has no away period")
        return away

    async def delete_away(self, household_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Clear a member's away period (whoever may set it); NOT_FOUND when there is none."""
        async with self._sessions() as session, session.begin():
            household, mine = await self._membership(session, household_id)
            target = await self._member(session, household, user_id, lock=True)
            permissions.check_away(mine.role, target.membership.role, oneself=user_id == mine.user_id)
            if not await AwayRepository(session).delete(household_id, user_id):
                raise NotFound("this member has no away period")
            await add_event(session, events.member_away_cleared(household_id, user_id), household_id=household_id)


def away_period(
    errors: Violations, start: datetime | None, end: datetime | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """[start, end) checked (AWAY_MAX_SPAN, AWAY_MAX_LEAD): both required, start before end, end still ahead.
    Returns the values to use, valid or not (nothing acts on them unless `errors` stays empty)."""
    for field, value in (("start_time", start), ("end_time", end)):
        if value is None:
            errors.add(field, REQUIRED_MESSAGE)
        elif not in_range(value):
            errors.add(field, RANGE_MESSAGE)
    if start is None or end is None or errors:
        return start or now, end or now
    if end <= start:
        errors.add("end_time", "must be after the start of the away period")
    elif end <= now:
        errors.add("end_time", "must be in the future")
    elif end - start > AWAY_MAX_SPAN:
        errors.add("end_time", "an away period may last at most 366 days")
    if start - now > AWAY_MAX_LEAD:
        errors.add("start_time", "an away period may start at most 366 days ahead")
    return start, end


def _member_name(household_id: uuid.UUID, user_id: uuid.UUID) -> str:
    return f"{household_name(household_id)}/members/{user_id}"


__all__ = ["AWAY_MAX_LEAD", "AWAY_MAX_SPAN", "HOUSEHOLD_MASK", "MEMBER_MASK", "Households", "Member", "away_period"]
