"""AuthService and UserService over real gRPC: registration, login, refresh-token rotation, logout, the JWKS,
and the caller's own profile. Every test registers its own people, so tests share the module's stack only."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import jwt
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from google.protobuf import field_mask_pb2
from hearth.events.v1 import events_pb2
from hearth.user.v1 import user_pb2
from sqlalchemy.ext.asyncio import create_async_engine

from kit.auth import TokenVerifier, grpc_jwks_source
from services.user.tests.helpers import (
    Person,
    Stubs,
    days,
    new_email,
    register,
    stubs,
    until_past,
    user_stack,
)
from tests.support.events import outbox_events, payload
from tests.support.people import PASSWORD
from tests.support.rpc import refused
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

OK = grpc.StatusCode
REFRESH_TTL = timedelta(milliseconds=1)


ME = user_pb2.GetUserRequest(name="users/me")


async def login(rpc: Stubs, person: Person) -> user_pb2.TokenPair:
    return await rpc.auth.Login(user_pb2.LoginRequest(email=person.email, password=PASSWORD))


async def refresh(rpc: Stubs, token: str) -> user_pb2.TokenPair:
    return await rpc.auth.RefreshToken(user_pb2.RefreshTokenRequest(refresh_token=token))


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def claims(access_token: str) -> dict[str, Any]:
    return dict(jwt.decode(access_token, options={"verify_signature": False}))


# --- Register --------------------------------------------------------------------------------------


async def test_register_round_trips_the_fields_and_normalises_the_email(rpc: Stubs) -> None:
    local = uuid.uuid4().hex[:10]
    before = datetime.now(UTC)

    user = await rpc.auth.Register(
        user_pb2.RegisterRequest(
            email=f"  Ada.{local}@Example.COM ",
            password=PASSWORD,
            display_name="  Ada Lovelace ",
            time_zone="Europe/Berlin",
            locale="de",
        )
    )

    assert user.name.startswith("users/")
    assert uuid.UUID(user.name.removeprefix("users/")).version == 7
    assert user.email == f"ada.{local}@example.com"
    assert user.display_name == "Ada Lovelace"
    assert user.time_zone == "Europe/Berlin"
    assert user.locale == "de"
    assert before - timedelta(seconds=1) <= user.create_time.ToDatetime(tzinfo=UTC) <= datetime.now(UTC)
    assert user.update_time == user.create_time
    assert user.etag
    tokens = await rpc.auth.Login(user_pb2.LoginRequest(email=user.email, password=PASSWORD))
    assert await rpc.users.GetUser(ME, metadata=bearer(tokens.access_token)) == user


async def test_register_defaults_time_zone_and_locale(rpc: Stubs) -> None:
    user = await rpc.auth.Register(
        user_pb2.RegisterRequest(email=new_email(), password=PASSWORD, display_name="Defaults")
    )

    assert (user.time_zone, user.locale) == ("UTC", "en")


async def test_register_writes_a_user_registered_event(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Eventful")

    [event] = [e for e in await outbox_events(stack, "user", "user.registered") if e.actor_id == person.user_id]
    registered = payload(event, events_pb2.UserRegistered)
    assert (registered.user_id, registered.display_name, registered.time_zone) == (person.user_id, "Eventful", "UTC")
    # notify mails the person at it (services.notify.dispatch).
    assert registered.email == person.email
    assert event.source == "user"
    assert event.household_id == ""


async def test_a_duplicate_email_is_already_exists_whatever_its_case_and_spacing(rpc: Stubs) -> None:
    person = await register(rpc, "First")

    refusal = await refused(
        rpc.auth.Register(
            user_pb2.RegisterRequest(email=f"  {person.email.upper()}  ", password=PASSWORD, display_name="Second")
        )
    )

    assert refusal.code == OK.ALREADY_EXISTS
    assert refusal.reason == "CONFLICT"
    assert refusal.domain == "hearth.dev"
    assert "email" in refusal.violations
    # The first account is untouched: its password still logs in.
    assert (await login(rpc, person)).access_token


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"email": "not-an-email"}, "email", ""),
        ({"email": "two@@example.com"}, "email", ""),
        ({"email": ""}, "email", ""),
        ({"password": "short1!"}, "password", "at least 10 characters"),
        ({"password": "Password123"}, "password", "too common"),
        ({"password": "1234567890"}, "password", "too common"),
        ({"display_name": ""}, "display_name", "required"),
        ({"display_name": "   "}, "display_name", "required"),
        ({"display_name": "x" * 101}, "display_name", "at most 100"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "IANA"),
    ],
)
async def test_invalid_registrations_name_the_field(rpc: Stubs, fields: dict[str, str], field: str, text: str) -> None:
    request = {"email": new_email(), "password": PASSWORD, "display_name": "Valid", **fields}

    refusal = await refused(rpc.auth.Register(user_pb2.RegisterRequest(**request)))

    assert refusal.code == OK.INVALID_ARGUMENT
    assert refusal.reason == "VALIDATION_FAILED"
    assert list(refusal.violations) == [field]
    assert text in refusal.violations[field]


async def test_every_problem_of_a_registration_is_reported_at_once(rpc: Stubs) -> None:
    refusal = await refused(
        rpc.auth.Register(user_pb2.RegisterRequest(email="nope", password="short", display_name=" "))
    )

    assert refusal.code == OK.INVALID_ARGUMENT
    assert set(refusal.violations) == {"email", "password", "display_name"}


async def test_an_invalid_registration_creates_nothing(rpc: Stubs) -> None:
    email = new_email()
    await refused(rpc.auth.Register(user_pb2.RegisterRequest(email=email, password="short", display_name="X")))

    user = await rpc.auth.Register(user_pb2.RegisterRequest(email=email, password=PASSWORD, display_name="X"))

    assert user.email == email


async def test_the_password_never_appears_in_any_response(rpc: Stubs) -> None:
    secret = "unique-secret-Passw0rd-" + uuid.uuid4().hex
    email = new_email()
    responses: list[bytes] = []

    user = await rpc.auth.Register(user_pb2.RegisterRequest(email=email, password=secret, display_name="Secretive"))
    tokens = await rpc.auth.Login(user_pb2.LoginRequest(email=email, password=secret))
    responses += [user.SerializeToString(), tokens.SerializeToString()]
    responses.append((await rpc.users.GetUser(ME, metadata=bearer(tokens.access_token))).SerializeToString())
    updated = await rpc.users.UpdateUser(
        user_pb2.UpdateUserRequest(user=user_pb2.User(display_name="Still secretive")),
        metadata=bearer(tokens.access_token),
    )
    responses.append(updated.SerializeToString())
    duplicate = await refused(
        rpc.auth.Register(user_pb2.RegisterRequest(email=email, password=secret, display_name="Again"))
    )
    wrong = await refused(rpc.auth.Login(user_pb2.LoginRequest(email=email, password=secret + "x")))
    responses += [duplicate.message.encode(), wrong.message.encode(), json.dumps(duplicate.violations).encode()]

    for body in responses:
        assert secret.encode() not in body
        assert b"argon2" not in body  # nor its hash
    assert {f.name for f in user_pb2.User.DESCRIPTOR.fields}.isdisjoint({"password", "password_hash"})
    assert "password" not in json.dumps(claims(tokens.access_token))


async def test_register_with_a_request_id_is_done_once(rpc: Stubs) -> None:
    email, request_id = new_email(), str(uuid.uuid4())
    request = user_pb2.RegisterRequest(email=email, password=PASSWORD, display_name="Retry", request_id=request_id)

    first = await rpc.auth.Register(request)
    retry = await rpc.auth.Register(request)

    assert retry == first
    # The same key with another body is refused, not answered with the first account.
    other = await refused(
        rpc.auth.Register(
            user_pb2.RegisterRequest(email=email, password=PASSWORD + "!", display_name="Retry", request_id=request_id)
        )
    )
    assert other.code == OK.INVALID_ARGUMENT
    assert "request_id" in other.violations
    # Without the key, the same email is a duplicate.
    plain = await refused(
        rpc.auth.Register(user_pb2.RegisterRequest(email=email, password=PASSWORD, display_name="Retry"))
    )
    assert plain.code == OK.ALREADY_EXISTS


async def stored_hash(stack: Stack, person: Person) -> str:
    engine = create_async_engine(stack.databases["user"])
    try:
        async with engine.connect() as conn:
            query = sa.text("SELECT password_hash FROM users WHERE id = :id")
            return str((await conn.execute(query, {"id": person.user_id})).scalar_one())
    finally:
        await engine.dispose()


async def store_hash(stack: Stack, person: Person, password_hash: str) -> None:
    engine = create_async_engine(stack.databases["user"])
    try:
        async with engine.begin() as conn:
            query = sa.text("UPDATE users SET password_hash = :hash WHERE id = :id")
            await conn.execute(query, {"hash": password_hash, "id": person.user_id})
    finally:
        await engine.dispose()


async def test_passwords_are_stored_at_the_configured_cost_and_older_hashes_upgraded_at_login(
    stack: Stack, rpc: Stubs
) -> None:
    person = await register(rpc, "Hashed")
    configured = "$argon2id$v=19$m=1024,t=1,p=1$"  # FAST_PASSWORDS, what this stack is configured with
    assert (await stored_hash(stack, person)).startswith(configured)
    older = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1).hash(PASSWORD)
    await store_hash(stack, person, older)

    await refused(rpc.auth.Login(user_pb2.LoginRequest(email=person.email, password="wrong password!")))
    assert await stored_hash(stack, person) == older  # a failed login changes nothing
    await login(rpc, person)

    upgraded = await stored_hash(stack, person)
    assert upgraded.startswith(configured)
    assert upgraded != older
    assert (await login(rpc, person)).access_token  # and it still verifies


# --- Login and tokens ------------------------------------------------------------------------------


async def test_login_issues_a_token_pair_the_services_verifier_accepts(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Verified")

    pair = await rpc.auth.Login(user_pb2.LoginRequest(email=f" {person.email.upper()} ", password=PASSWORD))

    assert pair.token_type == "Bearer"
    assert pair.expires_in == 15 * 60
    assert pair.refresh_token.startswith("hr_")
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        verifier = TokenVerifier(grpc_jwks_source(channel), issuer="https://hearth.dev", audience="hearth")
        caller = await verifier.verify(pair.access_token)
    assert caller.user_id == person.user_id
    assert caller.session_id
    assert caller.session_id != claims(person.token)["sid"]  # every login is its own session
    token_claims = claims(pair.access_token)
    assert token_claims["exp"] - token_claims["iat"] == 15 * 60
    user = await rpc.users.GetUser(ME, metadata=bearer(pair.access_token))
    assert user.name == person.name


async def test_the_jwks_is_public_and_holds_the_key_that_signs(rpc: Stubs) -> None:
    person = await register(rpc, "Keyholder")

    jwks = json.loads((await rpc.auth.GetJwks(user_pb2.GetJwksRequest())).json)

    [key] = jwks["keys"]
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert "d" not in key
    assert key["kid"] == jwt.get_unverified_header(person.token)["kid"]
    assert jwt.decode(person.token, jwt.PyJWK(key).key, algorithms=["EdDSA"], audience="hearth")["sub"] == (
        person.user_id
    )


async def test_wrong_password_and_unknown_email_get_the_same_answer(rpc: Stubs) -> None:
    person = await register(rpc, "Careful")

    wrong_password = await refused(rpc.auth.Login(user_pb2.LoginRequest(email=person.email, password="wrong " * 3)))
    unknown_email = await refused(rpc.auth.Login(user_pb2.LoginRequest(email=new_email(), password=PASSWORD)))
    malformed_email = await refused(rpc.auth.Login(user_pb2.LoginRequest(email="nobody", password=PASSWORD)))
    empty_password = await refused(rpc.auth.Login(user_pb2.LoginRequest(email=person.email, password="")))

    assert wrong_password.code == OK.UNAUTHENTICATED
    assert wrong_password.reason == "UNAUTHENTICATED"
    assert unknown_email == wrong_password
    assert malformed_email == wrong_password
    assert empty_password == wrong_password


@pytest.mark.parametrize("metadata", [(), (("authorization", "Bearer not.a.jwt"),), (("authorization", "Basic x"),)])
async def test_account_rpcs_need_a_valid_access_token(rpc: Stubs, metadata: tuple[tuple[str, str], ...]) -> None:
    refusal = await refused(rpc.users.GetUser(ME, metadata=metadata))

    assert refusal.code == OK.UNAUTHENTICATED


async def test_refresh_rotates_and_a_reused_token_revokes_the_whole_session(rpc: Stubs) -> None:
    person = await register(rpc, "Rotating")
    other_session = await login(rpc, person)

    second = await refresh(rpc, person.refresh_token)
    third = await refresh(rpc, second.refresh_token)

    assert len({person.refresh_token, second.refresh_token, third.refresh_token}) == 3
    assert claims(second.access_token)["sid"] == claims(person.token)["sid"]  # the same session, rotated
    assert claims(second.access_token)["jti"] != claims(person.token)["jti"]
    # A spent token is refused, and its reuse ends the session: the current token stops working too.
    reused = await refused(refresh(rpc, person.refresh_token))
    assert reused.code == OK.UNAUTHENTICATED
    assert "reuse" in reused.message
    revoked = await refused(refresh(rpc, third.refresh_token))
    assert revoked.code == OK.UNAUTHENTICATED
    assert (await refused(refresh(rpc, second.refresh_token))).code == OK.UNAUTHENTICATED
    # Only that session: the person's other login still refreshes.
    assert (await refresh(rpc, other_session.refresh_token)).refresh_token


async def test_refresh_with_an_unknown_or_missing_token(rpc: Stubs) -> None:
    unknown = await refused(refresh(rpc, "hr_" + "A" * 43))
    missing = await refused(refresh(rpc, ""))

    assert unknown.code == OK.UNAUTHENTICATED
    assert missing.code == OK.INVALID_ARGUMENT
    assert list(missing.violations) == ["refresh_token"]


async def test_logout_with_a_refresh_token_ends_that_session_only(rpc: Stubs) -> None:
    person = await register(rpc, "Leaving")
    laptop = await login(rpc, person)

    await rpc.auth.Logout(user_pb2.LogoutRequest(refresh_token=person.refresh_token), metadata=person.metadata)

    assert (await refused(refresh(rpc, person.refresh_token))).code == OK.UNAUTHENTICATED
    assert (await refresh(rpc, laptop.refresh_token)).refresh_token


async def test_logout_without_a_refresh_token_ends_the_access_tokens_session(rpc: Stubs) -> None:
    person = await register(rpc, "Leaving")
    laptop = await login(rpc, person)
    rotated = await refresh(rpc, laptop.refresh_token)  # the session outlives its rotations

    await rpc.auth.Logout(user_pb2.LogoutRequest(), metadata=bearer(rotated.access_token))

    assert (await refused(refresh(rpc, rotated.refresh_token))).code == OK.UNAUTHENTICATED
    assert (await refresh(rpc, person.refresh_token)).refresh_token


async def test_logout_cannot_end_someone_elses_session(rpc: Stubs) -> None:
    victim, attacker = await register(rpc, "Victim"), await register(rpc, "Attacker")

    await rpc.auth.Logout(user_pb2.LogoutRequest(refresh_token=victim.refresh_token), metadata=attacker.metadata)

    assert (await refresh(rpc, victim.refresh_token)).refresh_token


async def test_logout_needs_an_access_token(rpc: Stubs) -> None:
    person = await register(rpc, "Anonymous")

    refusal = await refused(rpc.auth.Logout(user_pb2.LogoutRequest(refresh_token=person.refresh_token)))

    assert refusal.code == OK.UNAUTHENTICATED
    assert (await refresh(rpc, person.refresh_token)).refresh_token


async def test_an_expired_refresh_token_is_refused() -> None:
    overrides = {"refresh_token_ttl_days": days(REFRESH_TTL.total_seconds())}
    async with user_stack(**overrides) as short, stubs(short) as rpc:
        person = await register(rpc, "Expiring")
        await until_past(datetime.now(UTC) + REFRESH_TTL)  # the session was created before now

        refusal = await refused(refresh(rpc, person.refresh_token))

    assert refusal.code == OK.UNAUTHENTICATED
    assert "ended" in refusal.message


# --- GetUser / UpdateUser ---------------------------------------------------------------------------


async def test_get_user_by_me_and_by_own_id(rpc: Stubs) -> None:
    person = await register(rpc, "Self")

    by_me = await rpc.users.GetUser(ME, metadata=person.metadata)
    by_id = await rpc.users.GetUser(user_pb2.GetUserRequest(name=person.name), metadata=person.metadata)

    assert by_me == by_id
    assert (by_me.name, by_me.email, by_me.display_name) == (person.name, person.email, "Self")


async def test_other_peoples_profiles_are_not_found(rpc: Stubs) -> None:
    person, other = await register(rpc, "Curious"), await register(rpc, "Private")

    for name in (other.name, f"users/{uuid.uuid4()}"):
        refusal = await refused(rpc.users.GetUser(user_pb2.GetUserRequest(name=name), metadata=person.metadata))
        assert refusal.code == OK.NOT_FOUND
    malformed = await refused(rpc.users.GetUser(user_pb2.GetUserRequest(name="people/me"), metadata=person.metadata))
    assert malformed.code == OK.INVALID_ARGUMENT
    assert "name" in malformed.violations


async def test_update_user_changes_only_the_masked_fields(rpc: Stubs) -> None:
    person = await register(rpc, "Before")
    original = await rpc.users.GetUser(ME, metadata=person.metadata)

    updated = await rpc.users.UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(name="users/me", display_name=" After ", time_zone="Asia/Tokyo", locale="fr"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name", "locale"]),
        ),
        metadata=person.metadata,
    )

    assert (updated.display_name, updated.locale) == ("After", "fr")
    assert updated.time_zone == original.time_zone  # not in the mask
    assert (updated.email, updated.create_time) == (original.email, original.create_time)
    assert updated.update_time.ToDatetime() > original.update_time.ToDatetime()
    assert updated.etag != original.etag
    assert await rpc.users.GetUser(ME, metadata=person.metadata) == updated


async def test_update_user_without_a_mask_changes_the_fields_given(rpc: Stubs) -> None:
    person = await register(rpc, "Unmasked")

    updated = await rpc.users.UpdateUser(
        user_pb2.UpdateUserRequest(user=user_pb2.User(name=person.name, time_zone="America/New_York")),
        metadata=person.metadata,
    )

    assert (updated.display_name, updated.time_zone, updated.locale) == ("Unmasked", "America/New_York", "en")


@pytest.mark.parametrize(
    ("user", "paths", "field"),
    [
        (user_pb2.User(display_name="x"), ["create_time"], "update_mask"),
        (user_pb2.User(display_name="x"), ["display_name", "password_hash"], "update_mask"),
        (user_pb2.User(display_name="  "), ["display_name"], "user.display_name"),
        (user_pb2.User(time_zone="Nowhere/Special"), ["time_zone"], "user.time_zone"),
    ],
)
async def test_update_user_refuses_unknown_paths_and_invalid_values(
    rpc: Stubs, user: user_pb2.User, paths: list[str], field: str
) -> None:
    person = await register(rpc, "Stable")

    refusal = await refused(
        rpc.users.UpdateUser(
            user_pb2.UpdateUserRequest(user=user, update_mask=field_mask_pb2.FieldMask(paths=paths)),
            metadata=person.metadata,
        )
    )

    assert refusal.code == OK.INVALID_ARGUMENT
    assert list(refusal.violations) == [field]
    after = await rpc.users.GetUser(ME, metadata=person.metadata)
    assert (after.display_name, after.email, after.etag) == ("Stable", person.email, 'W/"1"')


async def test_update_user_with_the_wildcard_mask_sets_every_updatable_field(rpc: Stubs) -> None:
    """AIP-134 (kit.field_mask): `*` alone is every updatable field — a full replacement, so each must be given."""
    person = await register(rpc, "Wild")

    def replace(paths: list[str], **fields: str) -> Any:
        return rpc.users.UpdateUser(
            user_pb2.UpdateUserRequest(user=user_pb2.User(**fields), update_mask=field_mask_pb2.FieldMask(paths=paths)),
            metadata=person.metadata,
        )

    updated = await replace(["*"], display_name="Card", time_zone="Asia/Tokyo", locale="fr", email=person.email)
    partial = await refused(replace(["*"], display_name="Only the name"))
    combined = await refused(replace(["*", "display_name"], display_name="Mixed"))

    assert (updated.display_name, updated.time_zone, updated.locale) == ("Card", "Asia/Tokyo", "fr")
    # Every missing field is reported at once.
    assert (partial.code, set(partial.violations)) == (
        OK.INVALID_ARGUMENT,
        {"user.time_zone", "user.locale", "user.email"},
    )
    assert (combined.code, list(combined.violations)) == (OK.INVALID_ARGUMENT, ["update_mask"])
    assert await rpc.users.GetUser(ME, metadata=person.metadata) == updated


async def test_update_user_reports_every_invalid_field_at_once(rpc: Stubs) -> None:
    person = await register(rpc, "Careful")

    refusal = await refused(
        rpc.users.UpdateUser(
            user_pb2.UpdateUserRequest(
                user=user_pb2.User(display_name=" ", time_zone="Nowhere/Special", locale="x" * 36),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name", "time_zone", "locale"]),
            ),
            metadata=person.metadata,
        )
    )

    assert refusal.code == OK.INVALID_ARGUMENT
    assert set(refusal.violations) == {"user.display_name", "user.time_zone", "user.locale"}


async def test_update_user_honours_the_etag(rpc: Stubs) -> None:
    person = await register(rpc, "Etag")
    current = await rpc.users.GetUser(ME, metadata=person.metadata)

    def rename(display_name: str, etag: str) -> user_pb2.UpdateUserRequest:
        return user_pb2.UpdateUserRequest(
            user=user_pb2.User(display_name=display_name, etag=etag),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        )

    first = await rpc.users.UpdateUser(rename("First", current.etag), metadata=person.metadata)
    stale = await refused(rpc.users.UpdateUser(rename("Second", current.etag), metadata=person.metadata))
    unquoted = await rpc.users.UpdateUser(rename("Third", first.etag[3:-1]), metadata=person.metadata)  # W/"2" → 2

    assert stale.code == OK.FAILED_PRECONDITION
    assert stale.reason == "PRECONDITION_FAILED"
    assert unquoted.display_name == "Third"


async def test_update_user_cannot_touch_someone_else(rpc: Stubs) -> None:
    person, other = await register(rpc, "Meddler"), await register(rpc, "Target")

    refusal = await refused(
        rpc.users.UpdateUser(
            user_pb2.UpdateUserRequest(user=user_pb2.User(name=other.name, display_name="Hacked")),
            metadata=person.metadata,
        )
    )

    assert refusal.code == OK.NOT_FOUND
    target = await rpc.users.GetUser(ME, metadata=other.metadata)
    assert target.display_name == "Target"
