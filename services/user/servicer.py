"""gRPC servicers of the user service: proto ↔ use cases, nothing else.

Resource names are parsed here and nowhere else (kit.names): the use cases take ids.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import empty_pb2
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit import timestamps
from kit.errors import NotFound
from kit.ids import parse_id
from kit.names import parse_ids, parse_name
from kit.timestamps import from_proto
from kit.validation import caller_id
from services.user import converters
from services.user.accounts import Accounts
from services.user.api_keys import ApiKeys
from services.user.audit import Audit
from services.user.exports import CHUNK_BYTES, Exports
from services.user.households import Households
from services.user.mfa import Mfa
from services.user.password_reset import PasswordResets
from services.user.privacy import Privacy
from services.user.sessions import Sessions

Context = grpc.aio.ServicerContext[Any, Any]
HOUSEHOLD = "households/{household}"
MEMBER = "households/{household}/members/{member}"
AWAY = "households/{household}/members/{member}/away"
USER = "users/{user}"
SESSION = "users/{user}/sessions/{session}"
API_KEY = "users/{user}/apiKeys/{api_key}"
EXPORT = "users/{user}/exports/{export}"


def _household_id(name: str, field: str = "name") -> uuid.UUID:
    return parse_ids(name, HOUSEHOLD, field=field)["household"]


def _member_ids(name: str) -> tuple[uuid.UUID, uuid.UUID]:
    ids = parse_ids(name, MEMBER)
    return ids["household"], ids["member"]


def _away_ids(name: str, field: str = "name") -> tuple[uuid.UUID, uuid.UUID]:
    ids = parse_ids(name, AWAY, field=field)
    return ids["household"], ids["member"]


def _user_id(name: str, field: str = "name") -> uuid.UUID:
    """`users/me` is the caller; `users/{id}` that user. An id that is no UUID names nobody: NOT_FOUND, as for
    any profile but one's own (a malformed name, `people/x`, is INVALID_ARGUMENT)."""
    user = parse_name(name, USER, field=field)["user"]
    if user == "me":
        return caller_id()
    user_id = parse_id(user)
    if user_id is None:
        raise NotFound("user not found")
    return user_id


def _own_id(name: str, pattern: str, key: str, field: str = "name") -> uuid.UUID:
    """The id `key` of a resource of the caller's (`users/me/...` or `users/<caller's id>/...`); another user's
    or an id that is no UUID names nothing of theirs: NOT_FOUND (a malformed name is INVALID_ARGUMENT)."""
    parts = parse_name(name, pattern, field=field)
    owner = parts["user"]
    resource = parse_id(parts[key])
    if (owner != "me" and parse_id(owner) != caller_id()) or resource is None:
        raise NotFound(f"{key.replace('_', ' ')} not found")
    return resource


class AuthServicer(user_pb2_grpc.AuthServiceServicer):
    def __init__(
        self, accounts: Accounts, sessions: Sessions, password_resets: PasswordResets, *, api_keys: ApiKeys
    ) -> None:
        self._accounts = accounts
        self._sessions = sessions
        self._password_resets = password_resets
        self._api_keys = api_keys

    async def Register(self, request: user_pb2.RegisterRequest, context: Context) -> user_pb2.User:
        user = await self._accounts.register(
            email=request.email,
            password=request.password,
            display_name=request.display_name,
            time_zone=request.time_zone,
            locale=request.locale,
            request_id=request.request_id,
        )
        return converters.user_to_proto(user)

    async def Login(self, request: user_pb2.LoginRequest, context: Context) -> user_pb2.TokenPair:
        pair = await self._accounts.login(email=request.email, password=request.password, totp_code=request.totp_code)
        return converters.tokens_to_proto(pair)

    async def RefreshToken(self, request: user_pb2.RefreshTokenRequest, context: Context) -> user_pb2.TokenPair:
        return converters.tokens_to_proto(await self._accounts.refresh(request.refresh_token))

    async def Logout(self, request: user_pb2.LogoutRequest, context: Context) -> empty_pb2.Empty:
        await self._accounts.logout(request.refresh_token)
        return empty_pb2.Empty()

    async def GetJwks(self, request: user_pb2.GetJwksRequest, context: Context) -> user_pb2.Jwks:
        return user_pb2.Jwks(json=json.dumps(self._accounts.jwks()))

    async def ListSessions(
        self, request: user_pb2.ListSessionsRequest, context: Context
    ) -> user_pb2.ListSessionsResponse:
        listed = await self._sessions.list_sessions(size=request.page_size, token=request.page_token)
        return user_pb2.ListSessionsResponse(
            sessions=[converters.session_to_proto(s) for s in listed.items], next_page_token=listed.next_page_token
        )

    async def RevokeSession(self, request: user_pb2.RevokeSessionRequest, context: Context) -> empty_pb2.Empty:
        await self._sessions.revoke_session(_own_id(request.name, SESSION, "session"))
        return empty_pb2.Empty()

    async def RevokeOtherSessions(
        self, request: user_pb2.RevokeOtherSessionsRequest, context: Context
    ) -> user_pb2.RevokeOtherSessionsResponse:
        ended = await self._sessions.revoke_other_sessions()
        return user_pb2.RevokeOtherSessionsResponse(revoked=[f"users/me/sessions/{s}" for s in ended])

    async def ExchangeApiKey(self, request: user_pb2.ExchangeApiKeyRequest, context: Context) -> user_pb2.TokenPair:
        token, expires_in = await self._api_keys.exchange(request.key)
        return user_pb2.TokenPair(access_token=token, token_type="Bearer", expires_in=expires_in)

    async def ChangePassword(self, request: user_pb2.ChangePasswordRequest, context: Context) -> empty_pb2.Empty:
        await self._accounts.change_password(
            current_password=request.current_password, new_password=request.new_password, totp_code=request.totp_code
        )
        return empty_pb2.Empty()

    async def ForgotPassword(self, request: user_pb2.ForgotPasswordRequest, context: Context) -> empty_pb2.Empty:
        await self._password_resets.forgot(request.email)
        return empty_pb2.Empty()

    async def ResetPassword(self, request: user_pb2.ResetPasswordRequest, context: Context) -> empty_pb2.Empty:
        await self._password_resets.reset(
            token=request.token, new_password=request.new_password, totp_code=request.totp_code
        )
        return empty_pb2.Empty()


class ApiKeyServicer(user_pb2_grpc.ApiKeyServiceServicer):
    def __init__(self, api_keys: ApiKeys) -> None:
        self._api_keys = api_keys

    async def CreateApiKey(self, request: user_pb2.CreateApiKeyRequest, context: Context) -> user_pb2.ApiKey:
        key = request.api_key
        expire_time = timestamps.from_proto(key, "expire_time", path="api_key.expire_time")
        created = await self._api_keys.create(
            name=key.display_name, scopes=list(key.scopes), expire_time=expire_time, request_id=request.request_id
        )
        return converters.api_key_to_proto(created.key, created.secret)

    async def ListApiKeys(self, request: user_pb2.ListApiKeysRequest, context: Context) -> user_pb2.ListApiKeysResponse:
        listed = await self._api_keys.list_keys(size=request.page_size, token=request.page_token)
        return user_pb2.ListApiKeysResponse(
            api_keys=[converters.api_key_to_proto(k) for k in listed.items], next_page_token=listed.next_page_token
        )

    async def DeleteApiKey(self, request: user_pb2.DeleteApiKeyRequest, context: Context) -> empty_pb2.Empty:
        await self._api_keys.delete(_own_id(request.name, API_KEY, "api_key"))
        return empty_pb2.Empty()


class MfaServicer(user_pb2_grpc.MfaServiceServicer):
    def __init__(self, mfa: Mfa) -> None:
        self._mfa = mfa

    async def StartTotpEnrollment(
        self, request: user_pb2.StartTotpEnrollmentRequest, context: Context
    ) -> user_pb2.TotpEnrollment:
        enrollment = await self._mfa.start_enrollment(request.password)
        return user_pb2.TotpEnrollment(secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri)

    async def ActivateTotp(self, request: user_pb2.ActivateTotpRequest, context: Context) -> user_pb2.RecoveryCodes:
        return user_pb2.RecoveryCodes(codes=await self._mfa.activate(request.code))

    async def DisableTotp(self, request: user_pb2.DisableTotpRequest, context: Context) -> empty_pb2.Empty:
        await self._mfa.disable(request.code, request.password)
        return empty_pb2.Empty()


class UserServicer(user_pb2_grpc.UserServiceServicer):
    def __init__(self, accounts: Accounts, privacy: Privacy, exports: Exports) -> None:
        self._accounts = accounts
        self._privacy = privacy
        self._exports = exports

    async def GetUser(self, request: user_pb2.GetUserRequest, context: Context) -> user_pb2.User:
        return converters.user_to_proto(await self._accounts.get_user(_user_id(request.name)))

    async def UpdateUser(self, request: user_pb2.UpdateUserRequest, context: Context) -> user_pb2.User:
        changes = {
            "display_name": request.user.display_name,
            "time_zone": request.user.time_zone,
            "locale": request.user.locale,
            "email": request.user.email,
        }
        user = await self._accounts.update_user(
            _user_id(request.user.name or "users/me", "user.name"),
            changes,
            list(request.update_mask.paths),
            etag=request.user.etag,
        )
        return converters.user_to_proto(user)

    async def DeleteUser(self, request: user_pb2.DeleteUserRequest, context: Context) -> empty_pb2.Empty:
        await self._privacy.delete_user(_user_id(request.name), password=request.password, totp_code=request.totp_code)
        return empty_pb2.Empty()

    async def CreateExport(self, request: user_pb2.CreateExportRequest, context: Context) -> user_pb2.Export:
        return converters.export_to_proto(await self._exports.create_export(request_id=request.request_id))

    async def GetExport(self, request: user_pb2.GetExportRequest, context: Context) -> user_pb2.Export:
        return converters.export_to_proto(*await self._exports.get_export(_own_id(request.name, EXPORT, "export")))

    async def DownloadExport(
        self, request: user_pb2.DownloadExportRequest, context: Context
    ) -> AsyncIterator[user_pb2.ExportChunk]:
        archive = await self._exports.archive(_own_id(request.name, EXPORT, "export"))
        for offset in range(0, len(archive), CHUNK_BYTES):
            yield user_pb2.ExportChunk(data=archive[offset : offset + CHUNK_BYTES])


class HouseholdServicer(user_pb2_grpc.HouseholdServiceServicer):
    def __init__(self, households: Households) -> None:
        self._households = households

    async def CreateHousehold(self, request: user_pb2.CreateHouseholdRequest, context: Context) -> user_pb2.Household:
        household, role = await self._households.create_household(
            name=request.household.display_name, time_zone=request.household.time_zone, request_id=request.request_id
        )
        return converters.household_to_proto(household, role)

    async def GetHousehold(self, request: user_pb2.GetHouseholdRequest, context: Context) -> user_pb2.Household:
        return converters.household_to_proto(*await self._households.get_household(_household_id(request.name)))

    async def ListHouseholds(
        self, request: user_pb2.ListHouseholdsRequest, context: Context
    ) -> user_pb2.ListHouseholdsResponse:
        listed = await self._households.list_households(size=request.page_size, token=request.page_token)
        return user_pb2.ListHouseholdsResponse(
            households=[converters.household_to_proto(h, role) for h, role in listed.items],
            next_page_token=listed.next_page_token,
        )

    async def UpdateHousehold(self, request: user_pb2.UpdateHouseholdRequest, context: Context) -> user_pb2.Household:
        changes = {"display_name": request.household.display_name, "time_zone": request.household.time_zone}
        household, role = await self._households.update_household(
            _household_id(request.household.name, "household.name"),
            changes,
            list(request.update_mask.paths),
            etag=request.household.etag,
        )
        return converters.household_to_proto(household, role)

    async def DeleteHousehold(self, request: user_pb2.DeleteHouseholdRequest, context: Context) -> empty_pb2.Empty:
        await self._households.delete_household(_household_id(request.name), etag=request.etag)
        return empty_pb2.Empty()

    async def CreateInvite(self, request: user_pb2.CreateInviteRequest, context: Context) -> user_pb2.Invite:
        invite, code = await self._households.create_invite(
            _household_id(request.parent, "parent"),
            role=converters.role_from_proto(request.invite.role),
            email=request.invite.email,
            request_id=request.request_id,
        )
        return converters.invite_to_proto(invite, code)

    async def AcceptInvite(self, request: user_pb2.AcceptInviteRequest, context: Context) -> user_pb2.Member:
        return converters.member_to_proto(await self._households.accept_invite(request.code))

    async def ListMembers(self, request: user_pb2.ListMembersRequest, context: Context) -> user_pb2.ListMembersResponse:
        listed = await self._households.list_members(
            _household_id(request.parent, "parent"), size=request.page_size, token=request.page_token
        )
        return user_pb2.ListMembersResponse(
            members=[converters.member_to_proto(m) for m in listed.items], next_page_token=listed.next_page_token
        )

    async def GetMember(self, request: user_pb2.GetMemberRequest, context: Context) -> user_pb2.Member:
        return converters.member_to_proto(await self._households.get_member(*_member_ids(request.name)))

    async def UpdateMember(self, request: user_pb2.UpdateMemberRequest, context: Context) -> user_pb2.Member:
        household_id, user_id = _member_ids(request.member.name)
        member = await self._households.update_member(
            household_id,
            user_id,
            role=converters.role_from_proto(request.member.role),
            mask=list(request.update_mask.paths),
        )
        return converters.member_to_proto(member)

    async def DeleteMember(self, request: user_pb2.DeleteMemberRequest, context: Context) -> empty_pb2.Empty:
        await self._households.delete_member(*_member_ids(request.name))
        return empty_pb2.Empty()

    async def SetAway(self, request: user_pb2.SetAwayRequest, context: Context) -> user_pb2.Away:
        away = await self._households.set_away(
            *_away_ids(request.away.name, "away.name"),
            start=from_proto(request.away, "start_time"),
            end=from_proto(request.away, "end_time"),
        )
        return converters.away_to_proto(away)

    async def GetAway(self, request: user_pb2.GetAwayRequest, context: Context) -> user_pb2.Away:
        return converters.away_to_proto(await self._households.get_away(*_away_ids(request.name)))

    async def DeleteAway(self, request: user_pb2.DeleteAwayRequest, context: Context) -> empty_pb2.Empty:
        await self._households.delete_away(*_away_ids(request.name))
        return empty_pb2.Empty()


class AuditServicer(user_pb2_grpc.AuditServiceServicer):
    def __init__(self, audit: Audit) -> None:
        self._audit = audit

    async def ListAuditEvents(
        self, request: user_pb2.ListAuditEventsRequest, context: Context
    ) -> user_pb2.ListAuditEventsResponse:
        if request.parent.startswith("households/"):
            listed = await self._audit.list_events(
                household_id=_household_id(request.parent, "parent"), size=request.page_size, token=request.page_token
            )
        else:
            listed = await self._audit.list_events(
                user_id=_user_id(request.parent, "parent"), size=request.page_size, token=request.page_token
            )
        return user_pb2.ListAuditEventsResponse(
            audit_events=[converters.audit_event_to_proto(e) for e in listed.items],
            next_page_token=listed.next_page_token,
        )
