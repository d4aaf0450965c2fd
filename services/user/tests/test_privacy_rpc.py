"""Deleting an account, over gRPC (UserService.DeleteUser), against the real user service and its database.

- The rules: the caller's own account only (another's id, or one already gone: NOT_FOUND), with its password
  (UNAUTHENTICATED otherwise) and, with MFA on, a TOTP or recovery code (MFA_REQUIRED), never with an API key's
  token; two deletions at once delete once.
- What it does: every session and API key ends at once; households lose the person — one they were alone in is
  deleted, one they owned passes to the longest-standing admin, else member, else child; the events say so, in
  order, user.deleted last; the email can sign up again.
- What is left: nothing in any table of the user database names the person (id, email, display name) once the
  service has consumed its own user.deleted — its outbox rewritten too — while a household's audit log keeps its
  events, attributed to the deleted-user marker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import jwt
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from hearth.user.v1 import user_pb2, user_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kit import context
from kit.context import Caller
from kit.db import utcnow
from kit.erasure import DELETED_USER
from kit.errors import MfaRequired, NotFound
from kit.ids import new_id
from kit.interceptors import CORRELATION_HEADER
from services.user import keys, tokens
from services.user.mfa import Mfa
from services.user.models import AuditEvent, User
from services.user.passwords import PasswordHashing
from services.user.privacy import Privacy
from services.user.revocation import Revoker
from services.user.tests.credentials import Totp, wrong_code
from services.user.tests.credentials import enable_totp as enable_mfa
from services.user.tests.helpers import PASSWORD, Home, Person, Stubs, household, new_email, register, works
from tests.support.events import outbox_events, payload, settled
from tests.support.fixtures import redis_fixture
from tests.support.infra import unique
from tests.support.rows import rows_naming
from tests.support.rpc import refused
from tests.support.service_tokens import bearer
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

redis = redis_fixture()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def db(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(stack.databases["user"])
    yield engine
    await engine.dispose()


async def delete(
    rpc: Stubs, person: Person, *, password: str = PASSWORD, code: str = "", name: str = "", correlation: str = ""
) -> None:
    """DeleteUser as `person`; `correlation`: the call's correlation id, which every event it writes carries (so a
    test finds them once their ids are anonymised)."""
    request = user_pb2.DeleteUserRequest(name=name or "users/me", password=password, totp_code=code)
    metadata = (*person.metadata, *(((CORRELATION_HEADER, correlation),) if correlation else ()))
    await rpc.users.DeleteUser(request, metadata=metadata)


async def written_by(stack: Stack, correlation: str, event_type: str) -> list[events_pb2.Envelope]:
    """The events of `event_type` a call with this correlation id wrote, oldest first."""
    return [e for e in await outbox_events(stack, "user", event_type) if e.correlation_id == correlation]


def session_id(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


def privacy_of(stack: Stack) -> Privacy:
    """The DeleteUser use case over the stack's database, as a second process of the service would run it."""
    runtime = stack.servers["user"].runtime
    return Privacy(
        runtime.sessions,
        hashing=PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1),
        revoker=Revoker(None, stack.namespace, access_ttl=timedelta(minutes=15)),
        second_factor=mfa_of(stack),
    )


def mfa_of(stack: Stack) -> Mfa:
    return Mfa.under(
        stack.servers["user"].runtime.sessions,
        signing_key(stack),
        hashing=PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1),
    )


async def roles(rpc: Stubs, home: Home, by: Person) -> dict[str, str]:
    reply = await rpc.households.ListMembers(user_pb2.ListMembersRequest(parent=home.name), metadata=by.metadata)
    return {
        m.user.removeprefix("users/"): user_pb2.Role.Name(m.role).removeprefix("ROLE_").lower() for m in reply.members
    }


def signing_key(stack: Stack) -> keys.SigningKey:
    return keys.load_or_create(stack.servers["user"].runtime.settings.keys_dir)


async def enable_totp(stack: Stack, person: Person) -> Totp:
    """MFA on for `person`, through MfaService as the app turns it on (the activation code is spent)."""
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        return await enable_mfa(user_pb2_grpc.MfaServiceStub(channel), person.metadata)


# --- the rules ---------------------------------------------------------------------------------------------


async def test_only_the_caller_with_their_password_deletes_their_account(rpc: Stubs) -> None:
    person, other = await register(rpc, "Careful"), await register(rpc, "Other")

    wrong = await refused(delete(rpc, person, password="not my password"))
    assert (wrong.code, wrong.reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
    missing = await refused(delete(rpc, person, password=""))
    assert missing.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "password" in missing.violations
    for name in (f"users/{other.user_id}", f"users/{uuid.uuid4()}", "users/not-an-id"):
        assert (await refused(delete(rpc, person, name=name))).code == grpc.StatusCode.NOT_FOUND, name
    malformed = await refused(delete(rpc, person, name="people/me"))
    assert malformed.code == grpc.StatusCode.INVALID_ARGUMENT

    assert await works(rpc, person.token)  # none of it deleted anything
    assert await works(rpc, other.token)


async def test_an_api_key_cannot_delete_the_account(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Keyed")
    settings = stack.servers["user"].runtime.settings
    key_token = tokens.issue_access_token(
        signing_key(stack),
        user_id=uuid.UUID(person.user_id),
        session_id=new_id(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl=timedelta(minutes=5),
        now=utcnow(),
        scope="profile:read households:write chores:write",
        api_key_id=new_id(),
    )
    request = user_pb2.DeleteUserRequest(name="users/me", password=PASSWORD)
    refusal = await refused(rpc.users.DeleteUser(request, metadata=bearer(key_token)))
    assert (refusal.code, refusal.reason) == (grpc.StatusCode.PERMISSION_DENIED, "INSUFFICIENT_SCOPE")
    export = await refused(rpc.users.CreateExport(user_pb2.CreateExportRequest(), metadata=bearer(key_token)))
    assert export.reason == "INSUFFICIENT_SCOPE"
    assert await works(rpc, person.token)


async def test_with_mfa_on_a_second_factor_is_needed_too(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Guarded")
    totp = await enable_totp(stack, person)

    for code in ("", wrong_code(totp.activation_code, totp.next_code), "not a code"):
        refusal = await refused(delete(rpc, person, code=code))
        assert (refusal.code, refusal.reason) == (grpc.StatusCode.UNAUTHENTICATED, "MFA_REQUIRED"), code
    # The password is checked first: a wrong one with a good code spends nothing and says nothing of the code.
    wrong = await refused(delete(rpc, person, password="not my password", code=totp.next_code))
    assert wrong.reason == "UNAUTHENTICATED"
    assert await works(rpc, person.token)

    await delete(rpc, person, code=totp.next_code)
    assert not await works(rpc, person.token)


async def test_a_totp_code_counts_once_and_a_recovery_code_once(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Twice")
    totp = await enable_totp(stack, person)
    mfa = mfa_of(stack)
    sessions = stack.servers["user"].runtime.sessions
    recovery = totp.recovery_codes[0]

    async def accepted(code: str) -> bool:
        async with sessions() as session, session.begin():
            user = await session.get(User, uuid.UUID(person.user_id), with_for_update=True)
            assert user is not None
            try:
                await mfa.check_login(session, user.id, code)
            except MfaRequired:
                return False
            return True

    code = totp.next_code
    # Each good once; the same code a second time is a replay.
    assert [await accepted(c) for c in (code, code, recovery, recovery)] == [True, False, True, False]


async def test_a_replayed_deletion_finds_nothing_to_delete(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Once")
    first, replay = unique("first"), unique("replay")
    await delete(rpc, person, correlation=first)

    # Its token ended with the account: the replay is refused before it reaches the use case...
    assert (await refused(delete(rpc, person, correlation=replay))).code == grpc.StatusCode.UNAUTHENTICATED
    # ... and one that gets there anyway (a process that has not heard of the revocation yet) finds no account.
    reset = context.caller.set(Caller(user_id=person.user_id, token=person.token))
    try:
        with pytest.raises(NotFound):
            await privacy_of(stack).delete_user(uuid.UUID(person.user_id), password=PASSWORD)
    finally:
        context.caller.reset(reset)
    assert len(await written_by(stack, first, "user.deleted")) == 1
    assert await written_by(stack, replay, "user.deleted") == []


async def test_two_deletions_at_once_delete_once(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Racing")
    calls = [unique("racing") for _ in range(2)]
    outcomes = await asyncio.gather(*(delete(rpc, person, correlation=c) for c in calls), return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failures) == 1, outcomes
    assert isinstance(failures[0], grpc.aio.AioRpcError)
    assert failures[0].code() in {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED}
    assert sum([len(await written_by(stack, c, "user.deleted")) for c in calls]) == 1


# --- what it does ------------------------------------------------------------------------------------------


async def test_every_session_and_token_ends_and_the_email_is_free_again(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Leaver")
    other_device = await rpc.auth.Login(user_pb2.LoginRequest(email=person.email, password=PASSWORD))
    call = unique("leaving")

    await delete(rpc, person, correlation=call)

    for token in (person.token, other_device.access_token):
        assert not await works(rpc, token)
    for refresh in (person.refresh_token, other_device.refresh_token):
        refusal = await refused(rpc.auth.RefreshToken(user_pb2.RefreshTokenRequest(refresh_token=refresh)))
        assert refusal.code == grpc.StatusCode.UNAUTHENTICATED
    login = await refused(rpc.auth.Login(user_pb2.LoginRequest(email=person.email, password=PASSWORD)))
    assert login.code == grpc.StatusCode.UNAUTHENTICATED
    revoked = [payload(e, events_pb2.SessionRevoked) for e in await written_by(stack, call, "session.revoked")]
    assert {r.session_id for r in revoked} == {session_id(person.token), session_id(other_device.access_token)}
    assert {r.reason for r in revoked} == {"user_deleted"}

    again = await register(rpc, "Leaver again", email=person.email)
    assert again.user_id != person.user_id


async def test_households_lose_the_person_and_keep_an_owner(stack: Stack, rpc: Stubs, db: AsyncEngine) -> None:
    gone = await register(rpc, "Departing")
    admin, senior, junior, kid, kid2, owner = [
        await register(rpc, name) for name in ("Admin", "Senior", "Junior", "Kid", "Kid2", "Owner")
    ]
    alone = await household(rpc, gone, display_name="Just me")
    with_admin = await household(rpc, gone, (senior, "member"), (admin, "admin"))
    with_members = await household(rpc, gone, (kid, "child"), (senior, "member"), (junior, "member"))
    with_children = await household(rpc, gone, (kid2, "child"), (kid, "child"))
    theirs = await household(rpc, owner, (gone, "admin"), (junior, "member"))
    call = unique("households")

    await delete(rpc, gone, correlation=call)

    assert await roles(rpc, with_admin, admin) == {admin.user_id: "owner", senior.user_id: "member"}
    assert await roles(rpc, with_members, senior) == {
        senior.user_id: "owner",
        junior.user_id: "member",
        kid.user_id: "child",
    }
    assert await roles(rpc, with_children, kid2) == {kid2.user_id: "owner", kid.user_id: "child"}
    assert await roles(rpc, theirs, owner) == {owner.user_id: "owner", junior.user_id: "member"}
    assert (await refused(roles(rpc, alone, senior))).code == grpc.StatusCode.NOT_FOUND

    everyone = {h.id for h in (alone, with_admin, with_members, with_children, theirs)}
    [deleted] = await written_by(stack, call, "user.deleted")
    assert set(payload(deleted, events_pb2.UserDeleted).household_ids) == everyone
    assert {e.household_id for e in await written_by(stack, call, "member.left")} == everyone
    [household_deleted] = await written_by(stack, call, "household.deleted")
    assert household_deleted.household_id == alone.id
    promoted = {
        e.household_id: payload(e, events_pb2.MemberUpdated) for e in await written_by(stack, call, "member.updated")
    }
    assert {h: (m.user_id, m.role) for h, m in promoted.items()} == {
        with_admin.id: (admin.user_id, "owner"),
        with_members.id: (senior.user_id, "owner"),
        with_children.id: (kid2.user_id, "owner"),
    }
    # user.deleted comes after everything else the deletion wrote (ids are UUIDv7: in the order written).
    others = [
        e
        for t in ("member.left", "member.updated", "household.deleted", "session.revoked")
        for e in await written_by(stack, call, t)
    ]
    assert all(uuid.UUID(e.event_id) < uuid.UUID(deleted.event_id) for e in others)

    # Each household's log says what happened to it, naming nobody but the deleted-user marker.
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(AuditEvent.household_id, AuditEvent.action, AuditEvent.actor_id, AuditEvent.target).where(
                    AuditEvent.household_id.in_([uuid.UUID(h.id) for h in (alone, with_admin)])
                )
            )
        ).all()
    assert {(str(h), action, actor) for h, action, actor, _ in rows} == {
        (alone.id, "household.deleted", DELETED_USER),
        (with_admin.id, "household.ownership_transferred", DELETED_USER),
    }


async def test_nothing_in_the_user_database_names_them_afterwards(
    stack: Stack, rpc: Stubs, db: AsyncEngine, redis: aioredis.Redis
) -> None:
    gone = await register(rpc, "Zephyrine Quillfeather", email=new_email("zephyrine"))
    owner, member = await register(rpc, "Keeper"), await register(rpc, "Stayer")
    home = await household(rpc, owner, (gone, "admin"))
    # As an admin they act in the household (its log names them), invite someone, and are invited by email.
    invited = await rpc.households.CreateInvite(
        user_pb2.CreateInviteRequest(parent=home.name, invite=user_pb2.Invite(role=user_pb2.ROLE_MEMBER)),
        metadata=gone.metadata,
    )
    await rpc.households.AcceptInvite(user_pb2.AcceptInviteRequest(code=invited.code), metadata=member.metadata)
    await rpc.households.CreateInvite(
        user_pb2.CreateInviteRequest(
            parent=(await household(rpc, member)).name,
            invite=user_pb2.Invite(role=user_pb2.ROLE_MEMBER, email=gone.email),
        ),
        metadata=member.metadata,
    )
    await rpc.users.UpdateUser(
        user_pb2.UpdateUserRequest(user=user_pb2.User(display_name=f"{gone.display_name} II")),
        metadata=gone.metadata,
    )
    await rpc.households.CreateHousehold(  # with a request id: kept for retries, keyed by their id
        user_pb2.CreateHouseholdRequest(
            household=user_pb2.Household(display_name="Their own", time_zone="Europe/Berlin"), request_id=unique("r")
        ),
        metadata=gone.metadata,
    )
    await refused(rpc.auth.Login(user_pb2.LoginRequest(email=gone.email, password="a wrong password")))
    needles = (gone.user_id, gone.email, gone.display_name)
    await settled(stack, redis)
    assert await rows_naming(stack.databases["user"], *needles)  # the search finds them before

    call = unique("erasure")
    await delete(rpc, gone, correlation=call)
    await settled(stack, redis)

    assert await rows_naming(stack.databases["user"], *needles) == {}
    # The events it wrote are kept, naming the deleted-user marker instead.
    [deleted] = await written_by(stack, call, "user.deleted")
    assert (payload(deleted, events_pb2.UserDeleted).user_id, deleted.actor_id) == (str(DELETED_USER),) * 2
    # The household goes on: the member the deleted admin invited is in it, its owner keeps it.
    assert await roles(rpc, home, owner) == {owner.user_id: "owner", member.user_id: "member"}
    # One row records that an account was erased, naming nobody, not even where the request came from.
    async with db.connect() as conn:
        erased = (
            await conn.execute(
                sa.select(AuditEvent.user_id, AuditEvent.actor_id, AuditEvent.ip_address, AuditEvent.user_agent).where(
                    AuditEvent.action == "user.deleted", AuditEvent.correlation_id == call
                )
            )
        ).all()
    assert erased == [(None, None, "", "")]
