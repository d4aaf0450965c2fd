"""kit.auth.TokenVerifier: EdDSA access tokens against a JWKS, the algorithm pinned, keys rotated."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time
from datetime import datetime, tzinfo
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hearth.analytics.v1 import analytics_pb2
from hearth.notify.v1 import notify_pb2
from hearth.task.v1 import task_pb2
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit.auth import API_KEY_SCOPES, JwksSource, TokenVerifier, bearer_token, grpc_jwks_source, method_scopes
from kit.context import Caller
from kit.errors import Unauthenticated
from kit.tests.grpc_helpers import AUDIENCE, ISSUER, SigningKey, StaticJwks, serving_registrations
from tests.support.wait import eventually


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def segment(value: dict[str, Any]) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def verifier(jwks: JwksSource, *, refresh_interval: float = 30.0) -> TokenVerifier:
    return TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, refresh_interval=refresh_interval)


async def refused(v: TokenVerifier, token: str) -> str:
    """The Unauthenticated message verifying `token` gives (the test fails if it is accepted)."""
    with pytest.raises(Unauthenticated) as raised:
        await v.verify(token)
    return raised.value.message


async def test_a_valid_token_gives_its_caller() -> None:
    key = SigningKey("k1")
    token = key.token(sub="user-42")
    caller = await verifier(StaticJwks(key)).verify(token)
    assert caller == Caller(
        user_id="user-42",
        token=token,
        scopes=frozenset({"chores:read", "chores:write"}),
        session_id="session-1",
        issued_at=caller.issued_at,
        auth_time=caller.issued_at,  # no auth_time claim: the token's iat
    )
    assert abs(caller.issued_at - time.time()) < 60


async def test_an_expired_token_is_refused() -> None:
    key = SigningKey("k1")
    assert await refused(verifier(StaticJwks(key)), key.token(ttl=-60)) == "access token expired"


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-else"},
        {"iss": "https://evil.example"},
        {"typ": "refresh"},  # a refresh token is not an access token
    ],
    ids=["wrong-aud", "wrong-iss", "not-access"],
)
async def test_a_token_for_someone_else_is_refused(claims: dict[str, Any]) -> None:
    key = SigningKey("k1")
    await refused(verifier(StaticJwks(key)), key.token(**claims))


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "aud", "iss"])
async def test_a_token_missing_a_required_claim_is_refused(claim: str) -> None:
    key = SigningKey("k1")
    claims = key.claims()
    del claims[claim]
    await refused(verifier(StaticJwks(key)), key.token(claims))


async def test_alg_none_is_refused_before_any_key_is_fetched() -> None:
    key, jwks = SigningKey("k1"), StaticJwks(SigningKey("k1"))
    unsigned = f"{segment({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'})}.{segment(key.claims())}."
    v = verifier(jwks)
    assert await refused(v, unsigned) == "access token algorithm not accepted"
    assert jwks.fetches == 0


async def test_hs256_signed_with_the_public_key_is_refused() -> None:
    """The classic confusion attack: the public key (which anyone has) used as an HMAC secret."""
    key = SigningKey("k1")
    jwks = StaticJwks(key)
    public_pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'})}.{segment(key.claims())}"
    forged = f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"
    v = verifier(jwks)
    assert await refused(v, forged) == "access token algorithm not accepted"
    assert jwks.fetches == 0


async def test_a_tampered_payload_is_refused() -> None:
    key = SigningKey("k1")
    header, _, signature = key.token(sub="user-1").split(".")
    tampered = f"{header}.{segment(key.claims(sub='admin'))}.{signature}"
    assert await refused(verifier(StaticJwks(key)), tampered) == "invalid access token"


async def test_a_token_signed_by_another_key_under_a_known_kid_is_refused() -> None:
    real, impostor = SigningKey("k1"), SigningKey("k1")
    assert await refused(verifier(StaticJwks(real)), impostor.token()) == "invalid access token"


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "....", segment({"alg": "EdDSA"}) + ".x.y"])
async def test_garbage_is_unauthenticated_not_a_crash(token: str) -> None:
    await refused(verifier(StaticJwks(SigningKey("k1"))), token)


async def test_an_unknown_kid_is_refused() -> None:
    known, unknown = SigningKey("k1"), SigningKey("k2")
    jwks = StaticJwks(known)
    assert await refused(verifier(jwks), unknown.token()) == "access token signed by an unknown key"
    assert jwks.fetches == 1


async def test_keys_are_fetched_once_not_per_token() -> None:
    key = SigningKey("k1")
    jwks = StaticJwks(key)
    v = verifier(jwks)
    for _ in range(5):
        await v.verify(key.token())
    assert jwks.fetches == 1


async def test_concurrent_first_verifications_share_one_fetch() -> None:
    key = SigningKey("k1")
    jwks = StaticJwks(key)
    v = verifier(jwks)
    await asyncio.gather(*(v.verify(key.token()) for _ in range(20)))
    assert jwks.fetches == 1


async def test_unknown_kids_do_not_refresh_more_often_than_the_interval() -> None:
    """A flood of tokens with made-up key ids must not turn into a flood of JWKS fetches."""
    key = SigningKey("k1")
    jwks = StaticJwks(key)
    v = verifier(jwks, refresh_interval=30.0)
    await v.verify(key.token())
    for n in range(5):
        await refused(v, SigningKey(f"made-up-{n}").token())
    assert jwks.fetches == 1


async def test_a_rotated_key_is_picked_up_by_one_refresh() -> None:
    old, new = SigningKey("k1"), SigningKey("k2")
    jwks = StaticJwks(old)
    v = verifier(jwks, refresh_interval=0.2)
    await v.verify(old.token())
    jwks.keys = [old, new]  # the user service rotates: k2 signs from now on, k1 is still published
    token = new.token()

    async def accepted() -> bool:
        try:
            await v.verify(token)
        except Unauthenticated:
            return False
        return True

    # Refused while the last fetch is younger than the interval; accepted by the first attempt after it,
    # which refreshes once.
    await eventually(accepted, timeout=5)
    assert jwks.fetches == 2
    await v.verify(old.token())  # both keys known now: no further fetch
    await v.verify(new.token())
    assert jwks.fetches == 2


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer   abc ", "abc"),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer ", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token_reads_only_the_bearer_scheme(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


class Auth(user_pb2_grpc.AuthServiceServicer):
    def __init__(self, jwks: StaticJwks) -> None:
        self.jwks = jwks

    async def GetJwks(self, request: user_pb2.GetJwksRequest, context: Any) -> user_pb2.Jwks:
        return user_pb2.Jwks(json=json.dumps(await self.jwks()))


async def test_grpc_jwks_source_reads_the_keys_from_the_user_service() -> None:
    key = SigningKey("k1")
    jwks = StaticJwks(key)
    service = "hearth.user.v1.AuthService"
    registration = (user_pb2_grpc.add_AuthServiceServicer_to_server, Auth(jwks), service)
    async with (
        serving_registrations([registration], public_methods=[f"/{service}/GetJwks"], service="user") as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        caller = await verifier(grpc_jwks_source(channel)).verify(key.token(sub="user-9"))
    assert caller.user_id == "user-9"
    assert jwks.fetches == 1


async def test_an_unreachable_jwks_source_is_unavailable_not_unauthenticated() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await verifier(grpc_jwks_source(channel)).verify(SigningKey("k1").token())
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


# --- verified tokens remembered until exp ------------------------------------------------------------


class Clock:
    """The verifier's clock and PyJWT's together (its expiry check reads datetime.now)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = time.time()
        clock = self

        class FrozenDatetime(datetime):
            @classmethod
            def now(cls, tz: tzinfo | None = None) -> FrozenDatetime:
                return cls.fromtimestamp(clock.now, tz)

        monkeypatch.setattr(jwt.api_jwt, "datetime", FrozenDatetime)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token jwt.decode (the signature and claims check) is asked about."""
    checked: list[str] = []
    decode = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return checked


async def test_a_second_verification_of_a_token_checks_no_signature(signature_checks: list[str]) -> None:
    key = SigningKey("k1")
    v = verifier(StaticJwks(key))
    token = key.token(sub="user-42")
    first = await v.verify(token)
    assert await v.verify(token) == first
    assert signature_checks == [token]
    other = key.token(sub="user-43")
    assert (await v.verify(other)).user_id == "user-43"  # another token: checked, never mistaken for the first
    assert signature_checks == [token, other]


async def test_a_refused_token_is_checked_every_time(signature_checks: list[str]) -> None:
    key = SigningKey("k1")
    v = verifier(StaticJwks(key))
    token = key.token(aud="someone-else")
    await refused(v, token)
    await refused(v, token)
    assert signature_checks == [token, token]


async def test_a_remembered_token_is_refused_at_expiry_as_ever(
    monkeypatch: pytest.MonkeyPatch, signature_checks: list[str]
) -> None:
    clock = Clock(monkeypatch)
    key = SigningKey("k1")
    v = TokenVerifier(StaticJwks(key), issuer=ISSUER, audience=AUDIENCE, clock=clock)
    claims = key.claims(ttl=60)
    token = key.token(claims)
    await v.verify(token)
    clock.now = claims["exp"] - 0.5
    await v.verify(token)
    assert len(signature_checks) == 1  # remembered until exp
    clock.now = claims["exp"]
    await v.verify(token)  # never beyond it: checked in full again (accepted within PyJWT's leeway, as ever)
    assert len(signature_checks) == 2
    clock.now = claims["exp"] + 6
    assert await refused(v, token) == "access token expired"


async def test_the_remembered_tokens_are_bounded_least_recently_used_first_out(signature_checks: list[str]) -> None:
    key = SigningKey("k1")
    v = TokenVerifier(StaticJwks(key), issuer=ISSUER, audience=AUDIENCE, cache_size=3)
    tokens = [key.token(sub=f"user-{n}") for n in range(4)]
    for token in tokens[:3]:
        await v.verify(token)
    await v.verify(tokens[0])  # used again: the most recent now
    await v.verify(tokens[3])  # a fourth: the least recently used (tokens[1]) goes
    assert signature_checks == [*tokens[:3], tokens[3]]
    await v.verify(tokens[0])
    await v.verify(tokens[2])
    assert len(signature_checks) == 4
    await v.verify(tokens[1])
    assert signature_checks[4:] == [tokens[1]]
    assert len(v._verified) == 3


async def test_a_token_whose_key_is_rotated_out_is_refused_after_the_refresh() -> None:
    old, new = SigningKey("k1"), SigningKey("k2")
    jwks = StaticJwks(old)
    v = verifier(jwks, refresh_interval=0)
    token = old.token()
    await v.verify(token)
    jwks.keys = [new]  # k1 withdrawn (compromised): its tokens must stop now, not at their exp
    await v.verify(new.token())  # an unknown kid: the refresh
    assert jwks.fetches == 2
    assert await refused(v, token) == "access token signed by an unknown key"


async def test_a_token_whose_kid_now_names_another_key_is_refused_after_the_refresh() -> None:
    old = SigningKey("k1")
    jwks = StaticJwks(old, SigningKey("k0"))
    v = verifier(jwks, refresh_interval=0)
    token = old.token()
    await v.verify(token)
    replaced = SigningKey("k1")  # the same kid, another key
    jwks.keys = [replaced, SigningKey("k2")]
    await v.verify(jwks.keys[1].token())  # k2 unknown: the refresh
    assert await refused(v, token) == "invalid access token"
    await v.verify(replaced.token())


def test_the_api_key_scopes_are_exactly_those_the_protos_give_their_methods() -> None:
    """A key may be granted a scope only if some RPC asks for it, and every scope an RPC asks for can be granted."""
    services = [
        service.full_name
        for module in (user_pb2, task_pb2, notify_pb2, analytics_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
    ]
    assert len(set(API_KEY_SCOPES)) == len(API_KEY_SCOPES)
    assert set(method_scopes(services).values()) == set(API_KEY_SCOPES)
