"""Changing and resetting a password, and changing the email, over gRPC: ChangePassword needs the current password
(and a code with MFA on) and ends every other session; ResetPassword spends a token once, before it expires, ends
every session and never bypasses MFA; a new email needs a recent sign-in.

Reset tokens here are stored as the worker stores them (services/user/tests/credentials.py); the mail that carries
them is test_password_reset_mail.py's."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import field_mask_pb2
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit.jobs import QUEUE_SCHEMA
from services.user.password_reset import SEND_PASSWORD_RESET
from services.user.tests.credentials import (
    audit_actions,
    enable_totp,
    sign_in_long_ago,
    stored_reset_token,
    wrong_code,
)
from services.user.tests.helpers import PASSWORD, Stubs, new_email, register, works
from tests.support.fixtures import stub_fixture
from tests.support.rpc import refused
from tests.support.service_tokens import service_token
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

OK = grpc.StatusCode
NEW_PASSWORD = "a quite different passphrase"
mfa = stub_fixture("user", user_pb2_grpc.MfaServiceStub)


async def login(rpc: Stubs, email: str, password: str, code: str = "") -> user_pb2.TokenPair:
    return await rpc.auth.Login(user_pb2.LoginRequest(email=email, password=password, totp_code=code))


async def can_login(rpc: Stubs, email: str, password: str) -> bool:
    try:
        await login(rpc, email, password)
    except grpc.aio.AioRpcError as exc:
        if exc.code() != OK.UNAUTHENTICATED:
            raise
        return False
    return True


def change(current: str = PASSWORD, new: str = NEW_PASSWORD, code: str = "") -> user_pb2.ChangePasswordRequest:
    return user_pb2.ChangePasswordRequest(current_password=current, new_password=new, totp_code=code)


def reset(token: str, new: str = NEW_PASSWORD, code: str = "") -> user_pb2.ResetPasswordRequest:
    return user_pb2.ResetPasswordRequest(token=token, new_password=new, totp_code=code)


# --- ChangePassword ---------------------------------------------------------------------------------------


async def test_changing_the_password_ends_every_other_session_and_keeps_this_one(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Changer")
    laptop = await login(rpc, person.email, PASSWORD)

    await rpc.auth.ChangePassword(change(), metadata=person.metadata)

    assert await works(rpc, person.token)  # the session that changed it goes on
    assert not await works(rpc, laptop.access_token)  # at once, not when it expires
    spent = await refused(rpc.auth.RefreshToken(user_pb2.RefreshTokenRequest(refresh_token=laptop.refresh_token)))
    assert spent.code == OK.UNAUTHENTICATED
    assert await rpc.auth.RefreshToken(user_pb2.RefreshTokenRequest(refresh_token=person.refresh_token))
    assert not await can_login(rpc, person.email, PASSWORD)
    assert await can_login(rpc, person.email, NEW_PASSWORD)
    assert "password.changed" in await audit_actions(stack, person.user_id)


async def test_a_wrong_current_password_changes_nothing(rpc: Stubs) -> None:
    person = await register(rpc, "Guesser")
    other = await login(rpc, person.email, PASSWORD)

    refusal = await refused(rpc.auth.ChangePassword(change(current="not my password"), metadata=person.metadata))

    assert (refusal.code, refusal.reason) == (OK.PERMISSION_DENIED, "REAUTHENTICATION_REQUIRED")
    assert list(refusal.violations) == ["current_password"]
    assert await works(rpc, other.access_token)
    assert await can_login(rpc, person.email, PASSWORD)


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (change(new="short"), ["new_password"]),
        (change(new="password123"), ["new_password"]),  # a common one
        (change(new=PASSWORD), ["new_password"]),  # the same
        (change(new="x" * 129), ["new_password"]),
        (change(current="", new=""), ["current_password", "new_password"]),
    ],
)
async def test_a_new_password_must_follow_the_rules(
    rpc: Stubs, request_: user_pb2.ChangePasswordRequest, fields: list[str]
) -> None:
    person = await register(rpc, "Ruled")

    refusal = await refused(rpc.auth.ChangePassword(request_, metadata=person.metadata))

    assert (refusal.code, sorted(refusal.violations)) == (OK.INVALID_ARGUMENT, fields)
    assert await can_login(rpc, person.email, PASSWORD)


async def test_with_mfa_on_changing_the_password_needs_a_code(rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub) -> None:
    person = await register(rpc, "Guarded")
    totp = await enable_totp(mfa, person.metadata)

    for code in ("", wrong_code(totp.activation_code, totp.next_code), totp.activation_code):
        refusal = await refused(rpc.auth.ChangePassword(change(code=code), metadata=person.metadata))
        assert (refusal.code, refusal.reason) == (OK.UNAUTHENTICATED, "MFA_REQUIRED")
    assert await can_login(rpc, person.email, PASSWORD) is False  # MFA on: a login needs the code too
    await rpc.auth.ChangePassword(change(code=totp.next_code), metadata=person.metadata)

    assert await login(rpc, person.email, NEW_PASSWORD, totp.recovery_codes[0])


async def test_only_a_signed_in_person_changes_a_password(stack: Stack, rpc: Stubs) -> None:

    anonymous = await refused(rpc.auth.ChangePassword(change()))
    assert anonymous.code == OK.UNAUTHENTICATED
    as_task = await service_token(stack, "task", callee="user")
    service = await refused(rpc.auth.ChangePassword(change(), metadata=as_task))
    assert service.code == OK.PERMISSION_DENIED


async def test_changing_the_password_kills_unused_reset_links(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Tidy")
    token = await stored_reset_token(stack, person.user_id)

    await rpc.auth.ChangePassword(change(), metadata=person.metadata)

    used = await refused(rpc.auth.ResetPassword(reset(token, "yet another passphrase")))
    assert (used.code, used.reason) == (OK.FAILED_PRECONDITION, "GONE")
    assert await can_login(rpc, person.email, NEW_PASSWORD)


# --- ResetPassword ----------------------------------------------------------------------------------------


async def test_a_reset_sets_the_password_and_ends_every_session(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Forgetful")
    phone = await login(rpc, person.email, PASSWORD)
    token = await stored_reset_token(stack, person.user_id)

    await rpc.auth.ResetPassword(reset(token))

    assert not await works(rpc, person.token)
    assert not await works(rpc, phone.access_token)
    for ended in (person.refresh_token, phone.refresh_token):
        refusal = await refused(rpc.auth.RefreshToken(user_pb2.RefreshTokenRequest(refresh_token=ended)))
        assert refusal.code == OK.UNAUTHENTICATED
    assert not await can_login(rpc, person.email, PASSWORD)
    assert await can_login(rpc, person.email, NEW_PASSWORD)
    assert "password.reset" in await audit_actions(stack, person.user_id)


async def test_a_reset_token_works_once_even_when_sent_twice_at_once(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Double")
    token = await stored_reset_token(stack, person.user_id)
    other = await stored_reset_token(stack, person.user_id)

    results = await asyncio.gather(
        rpc.auth.ResetPassword(reset(token, "first new passphrase")),
        rpc.auth.ResetPassword(reset(token, "second new passphrase")),
        return_exceptions=True,
    )

    failures = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(failures) == 1, results
    assert failures[0].code() == OK.FAILED_PRECONDITION
    assert "used" in (failures[0].details() or "")
    assert [await can_login(rpc, person.email, p) for p in ("first new passphrase", "second new passphrase")].count(
        True
    ) == 1
    # Using one token spends every other link of the account too.
    spent = await refused(rpc.auth.ResetPassword(reset(other)))
    assert (spent.code, spent.reason) == (OK.FAILED_PRECONDITION, "GONE")


async def test_an_expired_or_unknown_token_is_refused_with_a_clear_error(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Late")
    expired = await stored_reset_token(stack, person.user_id, expires_in=timedelta(seconds=-1))

    late = await refused(rpc.auth.ResetPassword(reset(expired)))
    unknown = await refused(rpc.auth.ResetPassword(reset("hr_not-a-token")))

    assert (late.code, late.reason) == (OK.FAILED_PRECONDITION, "GONE")
    assert "expired" in late.message
    assert unknown.code == OK.NOT_FOUND
    assert await can_login(rpc, person.email, PASSWORD)


async def test_a_reset_never_bypasses_mfa(stack: Stack, rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub) -> None:
    person = await register(rpc, "Careful")
    totp = await enable_totp(mfa, person.metadata)
    token = await stored_reset_token(stack, person.user_id)

    for code in ("", wrong_code(totp.activation_code, totp.next_code), totp.activation_code, "ABCDE-FGHJK"):
        refusal = await refused(rpc.auth.ResetPassword(reset(token, code=code)))
        assert (refusal.code, refusal.reason) == (OK.UNAUTHENTICATED, "MFA_REQUIRED")
    # None of those spent the token, nor changed the password.
    assert await login(rpc, person.email, PASSWORD, totp.recovery_codes[0])

    await rpc.auth.ResetPassword(reset(token, code=totp.recovery_codes[1]))

    assert await login(rpc, person.email, NEW_PASSWORD, totp.next_code)


@pytest.mark.parametrize(
    ("token", "new_password", "fields"),
    [
        ("", NEW_PASSWORD, ["token"]),
        ("whatever", "short", ["new_password"]),
        ("  ", "", ["new_password", "token"]),
        ("x" * 100_000, NEW_PASSWORD, None),
    ],
)
async def test_bad_reset_requests_are_refused_and_change_nothing(
    stack: Stack, rpc: Stubs, token: str, new_password: str, fields: list[str] | None
) -> None:
    person = await register(rpc, "Untouched")
    await stored_reset_token(stack, person.user_id)

    refusal = await refused(rpc.auth.ResetPassword(reset(token, new_password)))

    if fields is None:
        assert refusal.code == OK.NOT_FOUND
    else:
        assert (refusal.code, sorted(refusal.violations)) == (OK.INVALID_ARGUMENT, fields)
    assert await can_login(rpc, person.email, PASSWORD)


# --- ForgotPassword ---------------------------------------------------------------------------------------


async def queued_requests(stack: Stack) -> list[str]:
    async with stack.servers["user"].runtime.sessions() as session:
        rows = await session.scalars(
            sa.text(
                f"SELECT args ->> 'request' FROM {QUEUE_SCHEMA}.procrastinate_jobs WHERE task_name = :task ORDER BY id"
            ),
            {"task": SEND_PASSWORD_RESET},
        )
        return list(rows)


async def test_forgot_answers_alike_for_any_address_and_only_queues_a_sealed_job(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Known")
    before = len(await queued_requests(stack))
    addresses = [person.email, new_email("nobody"), "not an address", person.email.upper()]

    answers = [await rpc.auth.ForgotPassword(user_pb2.ForgotPasswordRequest(email=a)) for a in addresses]

    assert all(answer == answers[0] for answer in answers)
    queued = (await queued_requests(stack))[before:]
    assert len(queued) == len(addresses)  # one job each, whether or not the address has an account
    for sealed in queued:
        assert "@" not in sealed
        with pytest.raises(json.JSONDecodeError):
            json.loads(sealed)  # not readable as the JSON it seals
    empty = await refused(rpc.auth.ForgotPassword(user_pb2.ForgotPasswordRequest(email=" ")))
    assert (empty.code, list(empty.violations)) == (OK.INVALID_ARGUMENT, ["email"])


# --- a new email ------------------------------------------------------------------------------------------


def new_address(address: str) -> user_pb2.UpdateUserRequest:
    return user_pb2.UpdateUserRequest(
        user=user_pb2.User(name="users/me", email=address), update_mask=field_mask_pb2.FieldMask(paths=["email"])
    )


async def test_a_new_email_needs_a_recent_sign_in_and_is_used_from_then_on(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Moving")
    address = new_email("moved")

    updated = await rpc.users.UpdateUser(new_address(f" {address.upper()} "), metadata=person.metadata)

    assert updated.email == address
    assert await can_login(rpc, address, PASSWORD)
    assert not await can_login(rpc, person.email, PASSWORD)
    assert "email.changed" in await audit_actions(stack, person.user_id)

    await sign_in_long_ago(stack, person.user_id)
    stale = await rpc.auth.RefreshToken(user_pb2.RefreshTokenRequest(refresh_token=person.refresh_token))
    refusal = await refused(
        rpc.users.UpdateUser(
            new_address(new_email("again")), metadata=(("authorization", f"Bearer {stale.access_token}"),)
        )
    )
    assert (refusal.code, refusal.reason) == (OK.PERMISSION_DENIED, "REAUTHENTICATION_REQUIRED")
    # The other fields need no recent sign-in.
    renamed = await rpc.users.UpdateUser(
        user_pb2.UpdateUserRequest(user=user_pb2.User(name="users/me", display_name="Moved")),
        metadata=(("authorization", f"Bearer {stale.access_token}"),),
    )
    assert (renamed.display_name, renamed.email) == ("Moved", address)


async def test_a_new_email_must_be_an_address_and_no_one_elses(rpc: Stubs) -> None:
    person, other = await register(rpc, "Claimer"), await register(rpc, "Holder")

    taken = await refused(rpc.users.UpdateUser(new_address(other.email.upper()), metadata=person.metadata))
    malformed = await refused(rpc.users.UpdateUser(new_address("no-at-sign"), metadata=person.metadata))

    assert (taken.code, list(taken.violations)) == (OK.ALREADY_EXISTS, ["user.email"])
    assert (malformed.code, list(malformed.violations)) == (OK.INVALID_ARGUMENT, ["user.email"])
    assert await can_login(rpc, person.email, PASSWORD)


async def test_a_new_email_kills_reset_links_mailed_to_the_old_one(stack: Stack, rpc: Stubs) -> None:
    person = await register(rpc, "Relocated")
    token = await stored_reset_token(stack, person.user_id)

    await rpc.users.UpdateUser(new_address(new_email("relocated")), metadata=person.metadata)

    refusal = await refused(rpc.auth.ResetPassword(reset(token)))
    assert refusal.code == OK.FAILED_PRECONDITION
