"""The user service's events, as the payloads (hearth.events.v1) its use cases write to the outbox.

Each builder takes what the change left behind (the rows as they are after it) and names nothing else:
`kit.outbox.add_event(session, payload, household_id=..., actor_id=...)` derives the event type from the
payload (kit.catalogue), so a use case writes `await add_event(session, events.member_left(h, u), household_id=h)`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from hearth.events.v1 import events_pb2

from services.user.converters import timestamp
from services.user.models import Away, Household, User


def user_registered(user: User) -> events_pb2.UserRegistered:
    return events_pb2.UserRegistered(
        user_id=str(user.id),
        display_name=user.display_name,
        time_zone=user.time_zone,
        locale=user.locale,
        # notify mails the person what they asked to get by email (services.notify.preferences).
        email=user.email,
    )


def user_updated(user: User, changed: Iterable[str]) -> events_pb2.UserUpdated:
    """The profile after the change; `changed` the fields whose value is new."""
    return events_pb2.UserUpdated(
        user_id=str(user.id),
        display_name=user.display_name,
        time_zone=user.time_zone,
        locale=user.locale,
        email=user.email,
        changed=list(changed),
    )


def household_created(household: Household, owner_id: uuid.UUID) -> events_pb2.HouseholdCreated:
    return events_pb2.HouseholdCreated(
        household_id=str(household.id),
        display_name=household.name,
        time_zone=household.time_zone,
        owner_id=str(owner_id),
    )


def household_updated(
    household: Household, changed: Iterable[str], member_ids: Iterable[uuid.UUID]
) -> events_pb2.HouseholdUpdated:
    """The household after the change, with every current member (sorted), so consumers drop what they cache per
    member (the household's time zone)."""
    return events_pb2.HouseholdUpdated(
        household_id=str(household.id),
        display_name=household.name,
        time_zone=household.time_zone,
        changed=list(changed),
        member_ids=[str(user_id) for user_id in sorted(member_ids)],
    )


def member_joined(household_id: uuid.UUID, user: User, role: str, joined_at: datetime) -> events_pb2.MemberJoined:
    return events_pb2.MemberJoined(
        household_id=str(household_id),
        user_id=str(user.id),
        display_name=user.display_name,
        role=role,
        joined_at=timestamp(joined_at),
    )


def member_updated(household_id: uuid.UUID, user_id: uuid.UUID, role: str) -> events_pb2.MemberUpdated:
    return events_pb2.MemberUpdated(household_id=str(household_id), user_id=str(user_id), role=role)


def member_left(household_id: uuid.UUID, user_id: uuid.UUID) -> events_pb2.MemberLeft:
    return events_pb2.MemberLeft(household_id=str(household_id), user_id=str(user_id))


def household_deleted(household_id: uuid.UUID) -> events_pb2.HouseholdDeleted:
    return events_pb2.HouseholdDeleted(household_id=str(household_id))


def member_away_set(away: Away) -> events_pb2.MemberAwaySet:
    return events_pb2.MemberAwaySet(
        household_id=str(away.household_id),
        user_id=str(away.user_id),
        start_time=timestamp(away.start_time),
        end_time=timestamp(away.end_time),
    )


def member_away_cleared(household_id: uuid.UUID, user_id: uuid.UUID) -> events_pb2.MemberAwayCleared:
    return events_pb2.MemberAwayCleared(household_id=str(household_id), user_id=str(user_id))


def user_deleted(user_id: uuid.UUID, household_ids: Iterable[uuid.UUID]) -> events_pb2.UserDeleted:
    """The account is gone; `household_ids`: the households it was a member of until then."""
    return events_pb2.UserDeleted(user_id=str(user_id), household_ids=[str(h) for h in household_ids])


__all__ = [
    "household_created",
    "household_deleted",
    "household_updated",
    "member_away_cleared",
    "member_away_set",
    "member_joined",
    "member_left",
    "member_updated",
    "user_deleted",
    "user_registered",
    "user_updated",
]
