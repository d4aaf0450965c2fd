"""API keys over gRPC: created once-shown and stored hashed, listed without the key, exchanged for a short-lived
token limited to the key's scopes, deleted so that the key and its tokens stop at once; every refusal of a key
the same; keys cannot manage credentials; the audit log records creation, first use and revocation."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import jwt
import pytest
import pytest_asyncio
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from hearth.user.v1 import user_pb2, user_pb2_grpc
from sqlalchemy.ext.asyncio import create_async_engine

from kit.auth import API_KEY_SCOPES
from services.user.api_keys import MAX_KEYS_PER_USER
from services.user.tests.helpers import Person, Stubs, register
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def keys(stack: Stack) -> AsyncIterator[user_pb2_grpc.ApiKeyServiceStub]:
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        yield user_pb2_grpc.ApiKeyServiceStub(channel)


def stamp(moment: datetime) -> Timestamp:
    message = Timestamp()
    message.FromDatetime(moment)
    return message


async def create(
    keys: user_pb2_grpc.ApiKeyServiceStub,
    person: Person,
    *scopes: str,
    name: str = "Script",
    expire_time: datetime | None = None,
    request_id: str = "",
) -> user_pb2.ApiKey:
    key = user_pb2.ApiKey(display_name=name, scopes=list(scopes))
    if expire_time is not None:
        key.expire_time.CopyFrom(stamp(expire_time))
    return await keys.CreateApiKey(
        user_pb2.CreateApiKeyRequest(api_key=key, request_id=request_id), metadata=person.metadata
    )


async def exchanged(rpc: Stubs, key: str) -> user_pb2.TokenPair:
    return await rpc.auth.ExchangeApiKey(user_pb2.ExchangeApiKeyRequest(key=key))


async def code_of(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def stored_keys(stack: Stack, user_id: str) -> list[dict[str, object]]:
    engine = create_async_engine(stack.databases["user"])
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT prefix, key_hash, name FROM api_keys WHERE user_id = :id"), {"id": user_id}
            )
            return [dict(row._mapping) for row in rows]
    finally:
        await engine.dispose()


async def test_a_key_is_shown_once_stored_hashed_and_listed_without_it(
    rpc: Stubs, keys: user_pb2_grpc.ApiKeyServiceStub, stack: Stack
) -> None:
    person = await register(rpc, "KeyMaker")
    created = await create(keys, person, "chores:write", "chores:read", name="Home Assistant")

    assert created.key.startswith("hk_")
    assert len(created.key) >= 3 + 43  # 32 random bytes, URL-safe base64
    assert created.prefix == created.key[:11]
    assert list(created.scopes) == ["chores:read", "chores:write"]  # the catalogue's order, no repeats
    assert created.name.startswith("users/me/apiKeys/")
    assert not created.HasField("last_use_time")

    [row] = await stored_keys(stack, person.user_id)
    assert row["key_hash"] == hashlib.sha256(created.key.encode()).digest()
    assert created.key.encode() not in bytes(row["key_hash"])  # type: ignore[arg-type]
    assert row["name"] == "Home Assistant"

    listed = await keys.ListApiKeys(user_pb2.ListApiKeysRequest(), metadata=person.metadata)
    [shown] = listed.api_keys
    assert shown.name == created.name
    assert shown.key == ""  # never again
    assert shown.prefix == created.prefix


async def test_the_exchanged_token_carries_the_key_s_scopes_and_its_id(
    rpc: Stubs, keys: user_pb2_grpc.ApiKeyServiceStub
) -> None:
    person = await register(rpc, "Exchanger")
    created = await create(keys, person, "households:read")
    pair = await exchanged(rpc, created.key)

    assert pair.refresh_token == ""  # a key renews by exchanging again
    assert 0 < pair.expires_in <= 15 * 60
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    key_id = created.name.rsplit("/", 1)[-1]
    assert claims["sub"] == person.user_id
    assert claims["akid"] == key_id
    assert claims["sid"] == key_id
    assert claims["scope"] == "households:read"
    [listed_key] = (await keys.ListApiKeys(user_pb2.ListApiKeysRequest(), metadata=person.metadata)).api_keys
    assert listed_key.HasField("last_use_time")

    # Within its scope the token acts as the user.
    listed = await rpc.households.ListHouseholds(user_pb2.ListHouseholdsRequest(), metadata=bearer(pair.access_token))
    assert list(listed.households) == []
    # Outside it: PERMISSION_DENIED, reason INSUFFICIENT_SCOPE.
    refusal = await refused(
        rpc.households.CreateHousehold(
            user_pb2.CreateHouseholdRequest(household=user_pb2.Household(display_name="Nope", time_zone="UTC")),
            metadata=bearer(pair.access_token),
        )
    )
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    assert refusal.reason == "INSUFFICIENT_SCOPE"
    assert "households:write" in refusal.message


async def test_a_key_s_token_cannot_manage_credentials(rpc: Stubs, keys: user_pb2_grpc.ApiKeyServiceStub) -> None:
    """Every scope at once still opens no credential RPC: a leaked key cannot mint keys or end sessions."""
    person = await register(rpc, "Mighty")
    created = await create(keys, person, *API_KEY_SCOPES)
    token = (await exchanged(rpc, created.key)).access_token
    calls = [
        keys.CreateApiKey(
            user_pb2.CreateApiKeyRequest(api_key=user_pb2.ApiKey(display_name="More", scopes=["chores:read"])),
            metadata=bearer(token),
        ),
        keys.ListApiKeys(user_pb2.ListApiKeysRequest(), metadata=bearer(token)),
        keys.DeleteApiKey(user_pb2.DeleteApiKeyRequest(name=created.name), metadata=bearer(token)),
        rpc.auth.ListSessions(user_pb2.ListSessionsRequest(), metadata=bearer(token)),
        rpc.auth.RevokeOtherSessions(user_pb2.RevokeOtherSessionsRequest(), metadata=bearer(token)),
    ]
    for call in calls:
        refusal = await refused(call)
        assert (refusal.code, refusal.reason) == (grpc.StatusCode.PERMISSION_DENIED, "INSUFFICIENT_SCOPE")
    # profile:read does read the profile.
    me = await rpc.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=bearer(token))
    assert me.name == f"users/{person.user_id}"


async def test_deleting_a_key_stops_it_and_its_tokens_at_once(
    rpc: Stubs, keys: user_pb2_grpc.ApiKeyServiceStub
) -> None:
    person = await register(rpc, "Revoker")
    created = await create(keys, person, "profile:read")
    token = (await exchanged(rpc, created.key)).access_token
    me = user_pb2.GetUserRequest(name="users/me")
    assert await code_of(rpc.users.GetUser(me, metadata=bearer(token))) == grpc.StatusCode.OK

    await keys.DeleteApiKey(user_pb2.DeleteApiKeyRequest(name=created.name), metadata=person.metadata)

    assert await code_of(rpc.users.GetUser(me, metadata=bearer(token))) == grpc.StatusCode.UNAUTHENTICATED
    assert await code_of(exchanged(rpc, created.key)) == grpc.StatusCode.UNAUTHENTICATED
    listed = await keys.ListApiKeys(user_pb2.ListApiKeysRequest(), metadata=person.metadata)
    assert list(listed.api_keys) == []
    again = await refused(keys.DeleteApiKey(user_pb2.DeleteApiKeyRequest(name=created.name), metadata=person.metadata))
    assert again.code == grpc.StatusCode.NOT_FOUND


async def test_every_bad_key_gets_the_same_answer(rpc: Stubs, keys: user_pb2_grpc.ApiKeyServiceStub) -> None:
    person = await register(rpc, "Guessed")
    created = await create(keys, person, "chores:read")
    deleted = await create(keys, person, "chores:read")
    await keys.DeleteApiKey(user_pb2.DeleteApiKeyRequest(name=deleted.name), metadata=person.metadata)
    candidates = [
        "",
        "hk_",
        "hk_" + "A" * 43,  # well-formed, unknown
        created.key[:-1],  # one character short
        created.key + "x",
        created.key.upper(),
        "HK_" + created.key[3:],
        created.key[3:],  # without its prefix
        "hk_" + "x" * 5000,  # huge: refused before any lookup
        deleted.key,
    ]
    answers = set()
    for candidate in candidates:
        refusal = await refused(exchanged(rpc, candidate))
        answers.add((refusal.code, refusal.message))
    assert answers == {(grpc.StatusCode.UNAUTHENTICATED, "invalid API key")}


async def test_an_expiring_key_gives_tokens_that_end_with_it(rpc: Stubs, keys: user_pb2_grpc.ApiKeyServiceStub) -> None:
    person = await register(rpc, "Temporary")
    ends = datetime.now(UTC) + timedelta(minutes=2)
    created = await create(keys, person, "chores:read", expire_time=ends)
    pair = await exchanged(rpc, created.key)
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    assert claims["exp"] <= ends.timestamp() + 1
    assert pair.expires_in <= 120


@pytest.mark.parametrize(
    ("scopes", "name", "expire_in", "field"),
    [
        ([], "Script", None, "api_key.scopes"),
        (["chores:delete"], "Script", None, "api_key.scopes"),
        (["chores:read", "admin"], "Script", None, "api_key.scopes"),
        (["chores:read"], "", None, "api_key.display_name"),
        (["chores:read"], "   ", None, "api_key.display_name"),
        (["chores:read"], "x" * 101, None, "api_key.display_name"),
        (["chores:read"], "bad\x00name", None, "api_key.display_name"),
        (["chores:read"], "Script", timedelta(minutes=-1), "api_key.expire_time"),
        (["chores:read"], "Script", timedelta(days=4 * 365), "api_key.expire_time"),
    ],
)
async def test_a_bad_key_request_is_refused_and_creates_nothing(
    rpc: Stubs,
    keys: user_pb2_grpc.ApiKeyServiceStub,
    stack: Stack,
    scopes: list[str],
    name: str,
    expire_in: timedelta | None,
    field: str,
) -> None:
    person = await register(rpc, "Careless")
    expire_time = datetime.now(UTC) + expire_in if expire_in is not None else None
    refusal = await refused(create(keys, person, *scopes, name=name, expire_time=expire_time))
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in refusal.violations
    assert await stored_keys(stack, person.user_id) == []


async def test_a_retried_create_names_the_key_it_made_instead_of_a_second_one(
    rpc: Stubs, keys: user_pb2_grpc.ApiKeyServiceStub, stack: Stack
) -> None:
    person = await register(rpc, "Retrier")
    first = await create(keys, person, "chores:read", request_id="retry-1")
    again = await refused(create(keys, person, "chores:read", request_id="retry-1"))
    assert again.code == grpc.StatusCode.ALREADY_EXISTS
    assert first.name.rsplit("/", 1)[-1] in again.message
    assert first.key not in again.message
    assert len(await stored_keys(stack, person.user_id)) == 1


async def test_another_user_s_key_is_not_found(rpc: Stubs, keys: user_pb2_grpc.ApiKeyServiceStub) -> None:
    owner, other = await register(rpc, "Owner"), await register(rpc, "Other")
    created = await create(keys, owner, "chores:read")
    key_id = created.name.rsplit("/", 1)[-1]
    for name in (created.name, f"users/{owner.user_id}/apiKeys/{key_id}", "users/me/apiKeys/not-a-uuid"):
        refusal = await refused(keys.DeleteApiKey(user_pb2.DeleteApiKeyRequest(name=name), metadata=other.metadata))
        assert refusal.code == grpc.StatusCode.NOT_FOUND
    # Still the owner's, still working.
    assert (await exchanged(rpc, created.key)).access_token
    listed = await keys.ListApiKeys(user_pb2.ListApiKeysRequest(), metadata=other.metadata)
    assert list(listed.api_keys) == []


async def test_a_user_holds_a_bounded_number_of_keys_even_when_creating_at_once(
    rpc: Stubs, keys: user_pb2_grpc.ApiKeyServiceStub, stack: Stack
) -> None:
    person = await register(rpc, "Hoarder")
    outcomes = await asyncio.gather(
        *(create(keys, person, "chores:read", name=f"k{n}") for n in range(MAX_KEYS_PER_USER + 5)),
        return_exceptions=True,
    )
    made = [o for o in outcomes if isinstance(o, user_pb2.ApiKey)]
    refusals = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(made) == MAX_KEYS_PER_USER
    assert len(refusals) == 5
    assert {r.code() for r in refusals} == {grpc.StatusCode.ABORTED}
    assert len(await stored_keys(stack, person.user_id)) == MAX_KEYS_PER_USER


async def test_the_audit_log_records_creation_first_use_and_revocation(
    rpc: Stubs, keys: user_pb2_grpc.ApiKeyServiceStub, stack: Stack
) -> None:
    person = await register(rpc, "Audited")
    created = await create(keys, person, "chores:read")
    for _ in range(3):  # three exchanges, one first use
        await exchanged(rpc, created.key)
    await keys.DeleteApiKey(user_pb2.DeleteApiKeyRequest(name=created.name), metadata=person.metadata)

    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        audit = user_pb2_grpc.AuditServiceStub(channel)
        events = (
            await audit.ListAuditEvents(user_pb2.ListAuditEventsRequest(parent="users/me"), metadata=person.metadata)
        ).audit_events
    key_events = [e for e in events if e.action.startswith("api_key.")]
    assert [e.action for e in key_events] == ["api_key.revoked", "api_key.first_used", "api_key.created"]
    key_id = created.name.rsplit("/", 1)[-1]
    assert {e.target for e in key_events} == {f"users/{person.user_id}/apiKeys/{key_id}"}
    assert json.loads(key_events[-1].details_json) == {"scopes": ["chores:read"]}
    assert all(created.key not in e.details_json for e in events)

    listed_after = await keys.ListApiKeys(user_pb2.ListApiKeysRequest(), metadata=person.metadata)
    assert list(listed_after.api_keys) == []
