"""Sessions end for good, over gRPC: logout, revoking one or all others, a refresh token's reuse — each stops the
session's access tokens at once, not at their expiry; the sessions list; where a session came from is the call's
own unless the gateway proves it forwards someone else's."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit.interceptors import CLIENT_IP_HEADER, CLIENT_USER_AGENT_HEADER, GATEWAY_TOKEN_HEADER
from services.user.sessions import device_name
from services.user.tests.helpers import PASSWORD, Person, Stubs, register, works
from tests.support.rpc import refused
from tests.support.service_tokens import bearer, issue
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


async def second_login(rpc: Stubs, person: Person, **metadata: str) -> user_pb2.TokenPair:
    return await rpc.auth.Login(
        user_pb2.LoginRequest(email=person.email, password=PASSWORD), metadata=tuple(metadata.items())
    )


async def sessions_of(rpc: Stubs, token: str) -> list[user_pb2.Session]:
    return list((await rpc.auth.ListSessions(user_pb2.ListSessionsRequest(), metadata=bearer(token))).sessions)


async def test_logout_stops_the_access_token_at_once(rpc: Stubs) -> None:
    person = await register(rpc, "Leaving")
    assert await works(rpc, person.token)

    await rpc.auth.Logout(user_pb2.LogoutRequest(), metadata=person.metadata)

    assert not await works(rpc, person.token)
    refusal = await refused(rpc.auth.RefreshToken(user_pb2.RefreshTokenRequest(refresh_token=person.refresh_token)))
    assert refusal.code == grpc.StatusCode.UNAUTHENTICATED


async def test_a_reused_refresh_token_kills_the_session_and_its_access_tokens(rpc: Stubs) -> None:
    person = await register(rpc, "Robbed")
    fresh = await rpc.auth.RefreshToken(user_pb2.RefreshTokenRequest(refresh_token=person.refresh_token))
    assert await works(rpc, fresh.access_token)

    # The thief presents the spent token: the whole session ends, the owner's new access token with it.
    reuse = await refused(rpc.auth.RefreshToken(user_pb2.RefreshTokenRequest(refresh_token=person.refresh_token)))
    assert reuse.code == grpc.StatusCode.UNAUTHENTICATED

    assert not await works(rpc, fresh.access_token)
    assert not await works(rpc, person.token)
    again = await refused(rpc.auth.RefreshToken(user_pb2.RefreshTokenRequest(refresh_token=fresh.refresh_token)))
    assert again.code == grpc.StatusCode.UNAUTHENTICATED


async def test_sessions_are_listed_newest_first_with_the_current_one_marked(rpc: Stubs, stack: Stack) -> None:
    person = await register(rpc, "Lister")
    # A client's User-Agent is its channel's (gRPC puts its own product token after it).
    async with grpc.aio.insecure_channel(stack.addr("user"), options=[("grpc.primary_user_agent", FIREFOX)]) as ch:
        laptop = await user_pb2_grpc.AuthServiceStub(ch).Login(
            user_pb2.LoginRequest(email=person.email, password=PASSWORD)
        )

    listed = await sessions_of(rpc, laptop.access_token)

    assert len(listed) == 2
    assert [s.current for s in listed] == [True, False]
    assert listed[0].create_time.ToDatetime() >= listed[1].create_time.ToDatetime()
    assert listed[0].user_agent.startswith(FIREFOX)  # grpc appends its own product token
    assert listed[0].device == "Firefox on Linux"
    assert listed[0].ip_address == "127.0.0.1"


async def test_revoking_another_device_stops_it_and_leaves_this_one(rpc: Stubs) -> None:
    person = await register(rpc, "Careful")
    phone = await second_login(rpc, person)
    phone_session = next(s for s in await sessions_of(rpc, phone.access_token) if s.current)

    await rpc.auth.RevokeSession(user_pb2.RevokeSessionRequest(name=phone_session.name), metadata=person.metadata)

    assert not await works(rpc, phone.access_token)
    assert await works(rpc, person.token)
    assert [s.name for s in await sessions_of(rpc, person.token)] != [phone_session.name]


async def test_another_users_session_is_not_found_and_stays_alive(rpc: Stubs) -> None:
    victim, attacker = await asyncio.gather(register(rpc, "Victim"), register(rpc, "Attacker"))
    target = (await sessions_of(rpc, victim.token))[0]
    session_id = target.name.rsplit("/", 1)[-1]

    for name in (target.name, f"users/{victim.user_id}/sessions/{session_id}", "users/me/sessions/not-a-uuid"):
        refusal = await refused(
            rpc.auth.RevokeSession(user_pb2.RevokeSessionRequest(name=name), metadata=attacker.metadata)
        )
        assert refusal.code == grpc.StatusCode.NOT_FOUND, name
    assert await works(rpc, victim.token)


async def test_revoking_all_others_keeps_only_the_current_session(rpc: Stubs) -> None:
    person = await register(rpc, "Tidy")
    others = await asyncio.gather(second_login(rpc, person), second_login(rpc, person))

    ended = await rpc.auth.RevokeOtherSessions(user_pb2.RevokeOtherSessionsRequest(), metadata=person.metadata)

    assert len(ended.revoked) == 2
    for pair in others:
        assert not await works(rpc, pair.access_token)
    assert await works(rpc, person.token)
    assert [s.current for s in await sessions_of(rpc, person.token)] == [True]


async def test_a_direct_caller_cannot_forge_where_it_signs_in_from(rpc: Stubs) -> None:
    """Forwarded-client metadata without the gateway's token (or with a wrong one) is ignored."""
    person = await register(rpc, "Spoofer")
    for forged in ("", "not-a-token", person.token):
        metadata = {CLIENT_IP_HEADER: "203.0.113.9", CLIENT_USER_AGENT_HEADER: "Forged/1.0"}
        if forged:
            metadata[GATEWAY_TOKEN_HEADER] = forged
        pair = await second_login(rpc, person, **metadata)
        current = next(s for s in await sessions_of(rpc, pair.access_token) if s.current)
        assert (current.ip_address, current.user_agent.startswith("Forged")) == ("127.0.0.1", False), forged


async def test_the_gateway_proving_itself_records_the_client_it_forwards(rpc: Stubs, stack: Stack) -> None:
    assert stack.credentials is not None
    token = await issue(stack, "gateway", "hearth:user")
    person = await register(rpc, "Forwarded")

    pair = await second_login(
        rpc,
        person,
        **{GATEWAY_TOKEN_HEADER: token, CLIENT_IP_HEADER: "203.0.113.9", CLIENT_USER_AGENT_HEADER: FIREFOX},
    )

    current = next(s for s in await sessions_of(rpc, pair.access_token) if s.current)
    assert (current.ip_address, current.user_agent, current.device) == ("203.0.113.9", FIREFOX, "Firefox on Linux")


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (FIREFOX, "Firefox on Linux"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.5 Mobile/15E148 Safari/604.1",
            "Mobile Safari on iOS",
        ),
        ("curl/8.5.0", "curl"),
        ("", "Unknown device"),
    ],
)
async def test_device_names(user_agent: str, device: str) -> None:
    assert device_name(user_agent) == device
