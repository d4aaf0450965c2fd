"""Models of the user service ↔ hearth.user.v1 messages."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from google.protobuf.timestamp_pb2 import Timestamp
from hearth.user.v1 import user_pb2

from kit.names import household_name, user_name
from services.user.etags import etag_of
from services.user.models import ApiKey, AuditEvent, Export, Household, Invite, User

if TYPE_CHECKING:  # only named in annotations: the use cases import this module (events.py its timestamps)
    from services.user.accounts import TokenPair
    from services.user.households import Member
    from services.user.models import Away
    from services.user.sessions import ListedSession


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def role_to_proto(role: str) -> user_pb2.Role:
    return user_pb2.Role.Value(f"ROLE_{role.upper()}")  # type: ignore[return-value]


def role_from_proto(role: user_pb2.Role) -> str:
    """ROLE_UNSPECIFIED → ""; ROLE_ADMIN → "admin"; a number the enum does not know (proto3 enums are open) → that
    number as text, which the service's validation refuses as INVALID_ARGUMENT on the field."""
    if role == user_pb2.ROLE_UNSPECIFIED:
        return ""
    try:
        return user_pb2.Role.Name(role).removeprefix("ROLE_").lower()
    except ValueError:
        return str(int(role))


def user_to_proto(user: User) -> user_pb2.User:
    return user_pb2.User(
        name=user_name(user.id),
        email=user.email,
        display_name=user.display_name,
        time_zone=user.time_zone,
        locale=user.locale,
        create_time=timestamp(user.create_time),
        update_time=timestamp(user.update_time),
        etag=etag_of(user.version),
    )


def household_to_proto(household: Household, role: str) -> user_pb2.Household:
    return user_pb2.Household(
        name=household_name(household.id),
        display_name=household.name,
        time_zone=household.time_zone,
        create_time=timestamp(household.create_time),
        update_time=timestamp(household.update_time),
        etag=etag_of(household.version),
        caller_role=role_to_proto(role),
    )


def invite_to_proto(invite: Invite, code: str) -> user_pb2.Invite:
    return user_pb2.Invite(
        name=f"{household_name(invite.household_id)}/invites/{invite.id}",
        role=role_to_proto(invite.role),
        email=invite.email,
        code=code,
        expire_time=timestamp(invite.expire_time),
        create_time=timestamp(invite.create_time),
        creator=user_name(invite.creator_id),
    )


def member_to_proto(member: Member) -> user_pb2.Member:
    membership = member.membership
    return user_pb2.Member(
        name=f"{household_name(membership.household_id)}/members/{membership.user_id}",
        user=user_name(membership.user_id),
        display_name=member.display_name,
        role=role_to_proto(membership.role),
        join_time=timestamp(membership.join_time),
        household_time_zone=member.household_time_zone,
    )


def away_to_proto(away: Away) -> user_pb2.Away:
    return user_pb2.Away(
        name=f"{household_name(away.household_id)}/members/{away.user_id}/away",
        start_time=timestamp(away.start_time),
        end_time=timestamp(away.end_time),
    )


def tokens_to_proto(pair: TokenPair) -> user_pb2.TokenPair:
    return user_pb2.TokenPair(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type="Bearer",
        expires_in=pair.expires_in,
    )


def session_to_proto(listed: ListedSession) -> user_pb2.Session:
    login = listed.session
    return user_pb2.Session(
        name=f"users/me/sessions/{login.id}",
        device=listed.device,
        user_agent=login.user_agent,
        ip_address=login.ip_address,
        create_time=timestamp(login.create_time),
        last_use_time=timestamp(login.last_used_time),
        expire_time=timestamp(login.expire_time),
        current=listed.current,
    )


def api_key_to_proto(key: ApiKey, secret: str = "") -> user_pb2.ApiKey:
    message = user_pb2.ApiKey(
        name=f"users/me/apiKeys/{key.id}",
        display_name=key.name,
        scopes=key.scopes,
        key=secret,
        prefix=key.prefix,
        create_time=timestamp(key.create_time),
    )
    if key.expire_time is not None:
        message.expire_time.CopyFrom(timestamp(key.expire_time))
    if key.last_use_time is not None:
        message.last_use_time.CopyFrom(timestamp(key.last_use_time))
    return message


def audit_event_to_proto(event: AuditEvent) -> user_pb2.AuditEvent:
    parent = f"households/{event.household_id}" if event.household_id else f"users/{event.user_id}"
    return user_pb2.AuditEvent(
        name=f"{parent}/auditEvents/{event.id}",
        action=event.action,
        actor=f"users/{event.actor_id}" if event.actor_id else "",
        target=event.target,
        ip_address=event.ip_address,
        user_agent=event.user_agent,
        correlation_id=event.correlation_id,
        create_time=timestamp(event.create_time),
        details_json=json.dumps(event.details, sort_keys=True),
    )


def export_to_proto(export: Export, size_bytes: int = 0) -> user_pb2.Export:
    state: user_pb2.Export.State = user_pb2.Export.State.Value(export.state.upper())  # type: ignore[assignment]
    message = user_pb2.Export(
        name=f"users/{export.user_id}/exports/{export.id}",
        state=state,
        create_time=timestamp(export.create_time),
        size_bytes=size_bytes,
        error=export.error,
    )
    if export.expire_time is not None:
        message.expire_time.CopyFrom(timestamp(export.expire_time))
    return message
