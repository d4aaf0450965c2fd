"""gRPC servicers of the user service: proto ↔ use cases, nothing else."""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc
from google.protobuf import empty_pb2
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit.names import parse_ids, parse_name
from services.user import converters
from services.user.service import UserService

Context = grpc.aio.ServicerContext[Any, Any]
HOUSEHOLD = "households/{household}"
MEMBER = "households/{household}/members/{member}"


def _household_id(name: str, field: str = "name") -> uuid.UUID:
    return parse_ids(name, HOUSEHOLD, field=field)["household"]


def _member_ids(name: str) -> tuple[uuid.UUID, uuid.UUID]:
    ids = parse_ids(name, MEMBER)
    return ids["household"], ids["member"]


def _user_ref(name: str, field: str = "name") -> str:
    return parse_name(name, "users/{user}", field=field)["user"]


class AuthServicer(user_pb2_grpc.AuthServiceServicer):
    def __init__(self, service: UserService) -> None:
        self._service = service

    async def Register(self, request: user_pb2.RegisterRequest, context: Context) -> user_pb2.User:
        user = await self._service.register(
            email=request.email,
            password=request.password,
            display_name=request.display_name,
            time_zone=request.time_zone,
            locale=request.locale,
            request_id=request.request_id,
        )
        return converters.user_to_proto(user)

    async def Login(self, request: user_pb2.LoginRequest, context: Context) -> user_pb2.TokenPair:
        pair = await self._service.login(
            email=request.email,
            password=request.password,
            user_agent=request.user_agent,
            ip_address=request.ip_address or (context.peer() or ""),
        )
        return converters.tokens_to_proto(pair)

    async def RefreshToken(self, request: user_pb2.RefreshTokenRequest, context: Context) -> user_pb2.TokenPair:
        return converters.tokens_to_proto(await self._service.refresh(request.refresh_token))

    async def Logout(self, request: user_pb2.LogoutRequest, context: Context) -> empty_pb2.Empty:
        await self._service.logout(request.refresh_token)
        return empty_pb2.Empty()

    async def GetJwks(self, request: user_pb2.GetJwksRequest, context: Context) -> user_pb2.Jwks:
        return user_pb2.Jwks(json=json.dumps(self._service.jwks()))


class UserServicer(user_pb2_grpc.UserServiceServicer):
    def __init__(self, service: UserService) -> None:
        self._service = service

    async def GetUser(self, request: user_pb2.GetUserRequest, context: Context) -> user_pb2.User:
        return converters.user_to_proto(await self._service.get_user(_user_ref(request.name)))

    async def UpdateUser(self, request: user_pb2.UpdateUserRequest, context: Context) -> user_pb2.User:
        changes = {
            "display_name": request.user.display_name,
            "time_zone": request.user.time_zone,
            "locale": request.user.locale,
        }
        user = await self._service.update_user(
            _user_ref(request.user.name or "users/me", "user.name"),
            changes,
            list(request.update_mask.paths),
            etag=request.user.etag,
        )
        return converters.user_to_proto(user)


class HouseholdServicer(user_pb2_grpc.HouseholdServiceServicer):
    def __init__(self, service: UserService) -> None:
        self._service = service

    async def CreateHousehold(self, request: user_pb2.CreateHouseholdRequest, context: Context) -> user_pb2.Household:
        household, role = await self._service.create_household(
            name=request.household.display_name, time_zone=request.household.time_zone, request_id=request.request_id
        )
        return converters.household_to_proto(household, role)

    async def GetHousehold(self, request: user_pb2.GetHouseholdRequest, context: Context) -> user_pb2.Household:
        return converters.household_to_proto(*await self._service.get_household(_household_id(request.name)))

    async def ListHouseholds(
        self, request: user_pb2.ListHouseholdsRequest, context: Context
    ) -> user_pb2.ListHouseholdsResponse:
        rows, token = await self._service.list_households(size=request.page_size, token=request.page_token)
        return user_pb2.ListHouseholdsResponse(
            households=[converters.household_to_proto(h, role) for h, role in rows], next_page_token=token
        )

    async def UpdateHousehold(self, request: user_pb2.UpdateHouseholdRequest, context: Context) -> user_pb2.Household:
        changes = {"display_name": request.household.display_name, "time_zone": request.household.time_zone}
        household, role = await self._service.update_household(
            _household_id(request.household.name, "household.name"),
            changes,
            list(request.update_mask.paths),
            etag=request.household.etag,
        )
        return converters.household_to_proto(household, role)

    async def DeleteHousehold(self, request: user_pb2.DeleteHouseholdRequest, context: Context) -> empty_pb2.Empty:
        await self._service.delete_household(_household_id(request.name), etag=request.etag)
        return empty_pb2.Empty()

    async def CreateInvite(self, request: user_pb2.CreateInviteRequest, context: Context) -> user_pb2.Invite:
        invite, code = await self._service.create_invite(
            _household_id(request.parent, "parent"),
            role=converters.role_from_proto(request.invite.role),
            email=request.invite.email,
            request_id=request.request_id,
        )
        return converters.invite_to_proto(invite, code)

    async def AcceptInvite(self, request: user_pb2.AcceptInviteRequest, context: Context) -> user_pb2.Member:
        return converters.member_to_proto(await self._service.accept_invite(request.code))

    async def ListMembers(self, request: user_pb2.ListMembersRequest, context: Context) -> user_pb2.ListMembersResponse:
        members, token = await self._service.list_members(
            _household_id(request.parent, "parent"), size=request.page_size, token=request.page_token
        )
        return user_pb2.ListMembersResponse(
            members=[converters.member_to_proto(m) for m in members], next_page_token=token
        )

    async def GetMember(self, request: user_pb2.GetMemberRequest, context: Context) -> user_pb2.Member:
        return converters.member_to_proto(await self._service.get_member(*_member_ids(request.name)))

    async def UpdateMember(self, request: user_pb2.UpdateMemberRequest, context: Context) -> user_pb2.Member:
        household_id, user_id = _member_ids(request.member.name)
        member = await self._service.update_member(
            household_id,
            user_id,
            role=converters.role_from_proto(request.member.role),
            mask=list(request.update_mask.paths),
        )
        return converters.member_to_proto(member)

    async def DeleteMember(self, request: user_pb2.DeleteMemberRequest, context: Context) -> empty_pb2.Empty:
        await self._service.delete_member(*_member_ids(request.name))
        return empty_pb2.Empty()
