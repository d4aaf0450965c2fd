"""Service callers through the real kit server and client stack: where service tokens are accepted, and that a
service caller's token is never passed on to the next service."""

from __future__ import annotations

import grpc
import pytest
from hearth.task.v1 import task_pb2, task_pb2_grpc

from kit import context, errors
from kit.auth import TokenVerifier
from kit.grpc_client import make_channel
from kit.tests.grpc_helpers import AUDIENCE, CHORES, ISSUER, Chores, SigningKey, StaticJwks, bearer, serving

KEY = SigningKey("k1")


def verifier() -> TokenVerifier:
    return TokenVerifier(StaticJwks(KEY), issuer=ISSUER, audience=AUDIENCE, service_audience=f"{AUDIENCE}:task")


def service_token(service: str = "notify", audience: str = f"{AUDIENCE}:task") -> str:
    return KEY.token(sub=f"service:{service}", typ="service", aud=audience)


async def test_a_service_token_is_refused_on_a_method_not_marked_internal() -> None:
    servicer = Chores()
    async with (
        serving(servicer, verifier=verifier()) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        stub = task_pb2_grpc.ChoreServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetChore(
                task_pb2.GetChoreRequest(name="households/h/chores/c"), metadata=bearer(service_token())
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # The same server still serves its users.
        await stub.GetChore(task_pb2.GetChoreRequest(name="households/h/chores/c"), metadata=bearer(KEY.token()))
    assert [seen.caller.user_id for seen in servicer.seen if seen.caller] == ["user-1"]


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "service:notify", "typ": "service", "aud": AUDIENCE},  # the users' audience
        {"sub": "service:notify", "typ": "service", "aud": f"{AUDIENCE}:user"},  # another callee
        {"sub": "notify", "typ": "service", "aud": f"{AUDIENCE}:task"},  # not a service subject
        {"sub": "service:", "typ": "service", "aud": f"{AUDIENCE}:task"},  # no name
        {"sub": "service:notify", "typ": "access", "aud": f"{AUDIENCE}:task"},  # an access token, service audience
        {"sub": "service:notify", "typ": "access", "aud": AUDIENCE},  # an access token with a service subject
    ],
)
async def test_tokens_that_mix_the_two_kinds_are_refused(claims: dict[str, str]) -> None:
    with pytest.raises(errors.Unauthenticated):
        await verifier().verify(KEY.token(KEY.claims(**claims)))


async def test_a_service_token_names_the_service() -> None:
    caller = await verifier().verify(service_token("analytics"))
    assert caller.is_service
    assert caller.service == "analytics"
    assert caller.user_id == ""


async def test_a_service_callers_token_is_not_passed_on() -> None:
    servicer = Chores()
    async with serving(servicer, verifier=verifier(), public_methods=[f"/{CHORES}/GetChore"]) as server:
        channel = make_channel(f"127.0.0.1:{server.port}")
        try:
            stub = task_pb2_grpc.ChoreServiceStub(channel)
            reset = context.caller.set(context.Caller(user_id="", token=service_token(), service="notify"))
            try:
                await stub.GetChore(task_pb2.GetChoreRequest(name="households/h/chores/c"))
            finally:
                context.caller.reset(reset)
        finally:
            await channel.close(None)
    assert "authorization" not in servicer.seen[0].metadata
