"""TOTP as a second factor, over gRPC (MfaService and the login): enrol, activate, sign in with a code or a
recovery code, each code once; disable with a code; every change only after a recent sign-in or with the password.

The real user service on real PostgreSQL; the codes come from pyotp, as an authenticator app computes them."""

from __future__ import annotations

import asyncio
import re
import urllib.parse
import uuid
from collections.abc import Awaitable
from typing import Any

import grpc
import pyotp
import pytest
import sqlalchemy as sa
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit.db import utcnow
from services.user import keys, tokens
from services.user.mfa import ENROLLMENT_TTL, SecretBox
from services.user.tests.credentials import (
    Totp,
    audit_actions,
    current_step,
    enable_totp,
    sign_in_long_ago,
    wrong_code,
)
from services.user.tests.helpers import PASSWORD, Person, Stubs, register, works
from tests.support.fixtures import stub_fixture
from tests.support.rpc import refused
from tests.support.service_tokens import service_token
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

OK = grpc.StatusCode
RECOVERY_CODE = re.compile(r"[A-Z2-7]{5}-[A-Z2-7]{5}")


mfa = stub_fixture("user", user_pb2_grpc.MfaServiceStub)
audit = stub_fixture("user", user_pb2_grpc.AuditServiceStub)


async def login(rpc: Stubs, person: Person, code: str = "") -> user_pb2.TokenPair:
    return await rpc.auth.Login(user_pb2.LoginRequest(email=person.email, password=PASSWORD, totp_code=code))


async def mfa_refused(call: Awaitable[Any], field: str = "") -> None:
    refusal = await refused(call)
    assert (refusal.code, refusal.reason) == (OK.UNAUTHENTICATED, "MFA_REQUIRED"), refusal
    if field:
        assert field in refusal.violations


async def reauthentication_refused(call: Awaitable[Any]) -> dict[str, str]:
    refusal = await refused(call)
    assert (refusal.code, refusal.reason) == (OK.PERMISSION_DENIED, "REAUTHENTICATION_REQUIRED"), refusal
    return refusal.violations


async def test_enrolment_answers_a_secret_and_its_uri_and_changes_nothing_yet(
    rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub, audit: user_pb2_grpc.AuditServiceStub
) -> None:
    person = await register(rpc, "Enrolling")

    enrollment = await mfa.StartTotpEnrollment(user_pb2.StartTotpEnrollmentRequest(), metadata=person.metadata)

    assert re.fullmatch(r"[A-Z2-7]{32}", enrollment.secret)
    uri = urllib.parse.urlsplit(enrollment.otpauth_uri)
    query = urllib.parse.parse_qs(uri.query)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert urllib.parse.unquote(uri.path) == f"/Hearth:{person.email}"
    assert (query["secret"], query["issuer"]) == ([enrollment.secret], ["Hearth"])
    # An authenticator app reads the same secret from the URI.
    assert pyotp.parse_uri(enrollment.otpauth_uri).secret == enrollment.secret
    # Not active: signing in still needs no code.
    assert (await login(rpc, person)).access_token
    assert "mfa.enrolled" in await own_audit_log(audit, person)


async def own_audit_log(audit: user_pb2_grpc.AuditServiceStub, person: Person) -> list[str]:
    """The actions of the person's own audit log, newest first, as AuditService shows it to them."""
    listed = await audit.ListAuditEvents(
        user_pb2.ListAuditEventsRequest(parent="users/me", page_size=200), metadata=person.metadata
    )
    return [event.action for event in listed.audit_events]


async def test_activation_needs_a_code_of_the_new_secret_and_answers_ten_single_use_recovery_codes(
    rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub, audit: user_pb2_grpc.AuditServiceStub
) -> None:
    person = await register(rpc, "Activating")
    enrollment = await mfa.StartTotpEnrollment(user_pb2.StartTotpEnrollmentRequest(), metadata=person.metadata)
    totp = Totp(enrollment.secret, current_step())

    wrong = await refused(
        mfa.ActivateTotp(user_pb2.ActivateTotpRequest(code=wrong_code(totp.activation_code)), metadata=person.metadata)
    )
    assert (wrong.code, wrong.reason, list(wrong.violations)) == (OK.UNAUTHENTICATED, "MFA_REQUIRED", ["code"])
    missing = await refused(mfa.ActivateTotp(user_pb2.ActivateTotpRequest(code=" "), metadata=person.metadata))
    assert (missing.code, list(missing.violations)) == (OK.INVALID_ARGUMENT, ["code"])
    assert (await login(rpc, person)).access_token  # still off

    codes = await mfa.ActivateTotp(user_pb2.ActivateTotpRequest(code=totp.activation_code), metadata=person.metadata)

    assert len(codes.codes) == len(set(codes.codes)) == 10
    assert all(RECOVERY_CODE.fullmatch(code) for code in codes.codes)
    await mfa_refused(login(rpc, person), "totp_code")
    again = await refused(mfa.ActivateTotp(user_pb2.ActivateTotpRequest(code=totp.next_code), metadata=person.metadata))
    assert again.code == OK.ABORTED  # on already: a second activation would replace the codes unasked
    assert "mfa.enabled" in await own_audit_log(audit, person)


async def test_with_totp_on_a_login_needs_a_fresh_code_and_each_code_works_once(
    stack: Stack, rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub
) -> None:
    person = await register(rpc, "Twofold")
    totp = await enable_totp(mfa, person.metadata)

    await mfa_refused(login(rpc, person), "totp_code")
    await mfa_refused(login(rpc, person, wrong_code(totp.activation_code, totp.next_code)), "totp_code")
    # The code activation used is spent: a replay of it is refused, and so is a code of that step or before.
    await mfa_refused(login(rpc, person, totp.activation_code))
    await mfa_refused(login(rpc, person, totp.code(totp.step - 1)))

    pair = await login(rpc, person, totp.next_code)
    assert await works(rpc, pair.access_token)

    await mfa_refused(login(rpc, person, totp.next_code))  # replayed
    # A wrong password is still the plain answer, code or not: nothing says the account has MFA.
    wrong_password = await refused(
        rpc.auth.Login(user_pb2.LoginRequest(email=person.email, password="not the password", totp_code="123456"))
    )
    assert (wrong_password.code, wrong_password.reason) == (OK.UNAUTHENTICATED, "UNAUTHENTICATED")
    failed = await audit_details(stack, person, "login.failed")
    assert failed.count({"reason": "mfa_required"}) == 5


async def audit_details(stack: Stack, person: Person, action: str) -> list[dict[str, object]]:
    async with stack.servers["user"].runtime.sessions() as session:
        rows = await session.scalars(
            sa.text("SELECT details FROM audit_events WHERE user_id = :id AND action = :action ORDER BY id"),
            {"id": uuid.UUID(person.user_id), "action": action},
        )
        return list(rows)


async def test_codes_typed_with_spaces_and_recovery_codes_in_any_case_are_accepted(
    rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub
) -> None:
    person = await register(rpc, "Typist")
    totp = await enable_totp(mfa, person.metadata)

    assert await login(rpc, person, f" {totp.next_code[:3]} {totp.next_code[3:]} ")
    assert await login(rpc, person, totp.recovery_codes[0].lower().replace("-", ""))


async def test_a_recovery_code_signs_in_once_and_only_for_its_own_account(
    stack: Stack, rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub
) -> None:
    person, other = await register(rpc, "Recovering"), await register(rpc, "Other")
    totp = await enable_totp(mfa, person.metadata)
    others = await enable_totp(mfa, other.metadata)

    await mfa_refused(login(rpc, person, others.recovery_codes[0]))
    pair = await login(rpc, person, totp.recovery_codes[0])
    assert await works(rpc, pair.access_token)

    await mfa_refused(login(rpc, person, totp.recovery_codes[0]))
    assert await login(rpc, person, totp.recovery_codes[1])  # the others still work
    assert await login(rpc, other, others.recovery_codes[0])  # and the other account's are untouched
    assert (await audit_actions(stack, person.user_id)).count("mfa.recovery_code_used") == 2


async def test_one_code_sent_twice_at_once_signs_in_once(rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub) -> None:
    person = await register(rpc, "Racing")
    totp = await enable_totp(mfa, person.metadata)

    results = await asyncio.gather(
        *(login(rpc, person, code) for code in [totp.next_code] * 4 + [totp.recovery_codes[0]] * 4),
        return_exceptions=True,
    )

    succeeded = [r for r in results if isinstance(r, user_pb2.TokenPair)]
    assert len(succeeded) == 2, results  # one by the TOTP code, one by the recovery code
    assert all(
        isinstance(r, grpc.aio.AioRpcError) and r.code() == OK.UNAUTHENTICATED for r in results if r not in succeeded
    )


async def test_disabling_needs_a_code_and_then_signing_in_needs_none(
    rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub, audit: user_pb2_grpc.AuditServiceStub
) -> None:
    person = await register(rpc, "Disabling")
    totp = await enable_totp(mfa, person.metadata)

    missing = await refused(mfa.DisableTotp(user_pb2.DisableTotpRequest(), metadata=person.metadata))
    assert (missing.code, list(missing.violations)) == (OK.INVALID_ARGUMENT, ["code"])
    await mfa_refused(
        mfa.DisableTotp(user_pb2.DisableTotpRequest(code=totp.activation_code), metadata=person.metadata), "code"
    )
    await mfa.DisableTotp(user_pb2.DisableTotpRequest(code=totp.next_code), metadata=person.metadata)

    assert await login(rpc, person)
    gone = await refused(mfa.DisableTotp(user_pb2.DisableTotpRequest(code="123456"), metadata=person.metadata))
    assert gone.code == OK.NOT_FOUND
    # On again, with a new secret: the old recovery codes went with the old secret.
    renewed = await enable_totp(mfa, person.metadata)
    assert not set(renewed.recovery_codes) & set(totp.recovery_codes)
    await mfa_refused(login(rpc, person, totp.recovery_codes[0]))
    assert "mfa.disabled" in await own_audit_log(audit, person)


async def test_disabling_with_a_recovery_code(rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub) -> None:
    person = await register(rpc, "Phoneless")
    totp = await enable_totp(mfa, person.metadata)

    await mfa.DisableTotp(user_pb2.DisableTotpRequest(code=totp.recovery_codes[3]), metadata=person.metadata)

    assert await login(rpc, person)


async def test_changing_mfa_long_after_signing_in_needs_the_password(
    stack: Stack, rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub
) -> None:
    person = await register(rpc, "Stale")
    await sign_in_long_ago(stack, person.user_id)
    stale = await rpc.auth.RefreshToken(user_pb2.RefreshTokenRequest(refresh_token=person.refresh_token))
    metadata = (("authorization", f"Bearer {stale.access_token}"),)

    assert (
        await reauthentication_refused(
            mfa.StartTotpEnrollment(user_pb2.StartTotpEnrollmentRequest(), metadata=metadata)
        )
        == {}
    )
    wrong = await reauthentication_refused(
        mfa.StartTotpEnrollment(user_pb2.StartTotpEnrollmentRequest(password="not the password"), metadata=metadata)
    )
    assert list(wrong) == ["password"]
    totp = await enable_totp(mfa, metadata, password=PASSWORD)

    assert (
        await reauthentication_refused(
            mfa.DisableTotp(user_pb2.DisableTotpRequest(code=totp.next_code), metadata=metadata)
        )
        == {}
    )
    await mfa.DisableTotp(user_pb2.DisableTotpRequest(code=totp.next_code, password=PASSWORD), metadata=metadata)
    assert await login(rpc, person)


async def test_an_enrolment_left_longer_than_ten_minutes_cannot_be_activated(
    stack: Stack, rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub
) -> None:
    person = await register(rpc, "Slow")
    enrollment = await mfa.StartTotpEnrollment(user_pb2.StartTotpEnrollmentRequest(), metadata=person.metadata)
    # The pending secret as it is eleven minutes later: sealed (with its time) that long ago.
    key = keys.load_or_create(stack.servers["user"].runtime.settings.keys_dir)
    box = SecretBox(tokens.derived_secret(key, b"hearth.user.totp-secret.v1"))
    async with stack.servers["user"].runtime.sessions() as session, session.begin():
        await session.execute(
            sa.text("UPDATE users SET totp_pending_secret = :sealed WHERE id = :id"),
            {
                "sealed": box.seal(enrollment.secret, at=utcnow() - ENROLLMENT_TTL - ENROLLMENT_TTL / 10),
                "id": uuid.UUID(person.user_id),
            },
        )

    late = await refused(
        mfa.ActivateTotp(
            user_pb2.ActivateTotpRequest(code=Totp(enrollment.secret, current_step()).activation_code),
            metadata=person.metadata,
        )
    )

    assert (late.code, late.reason) == (OK.FAILED_PRECONDITION, "GONE")
    assert await login(rpc, person)


async def test_states_that_forbid_the_change(rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub) -> None:
    person = await register(rpc, "Ordered")

    nothing = await refused(mfa.ActivateTotp(user_pb2.ActivateTotpRequest(code="123456"), metadata=person.metadata))
    assert nothing.code == OK.ABORTED  # no enrolment to activate
    await enable_totp(mfa, person.metadata)
    twice = await refused(mfa.StartTotpEnrollment(user_pb2.StartTotpEnrollmentRequest(), metadata=person.metadata))
    assert twice.code == OK.ABORTED  # on already: enrolling anew would be turning it off without a code


async def test_the_secret_is_stored_encrypted_and_the_recovery_codes_as_keyed_hashes(
    stack: Stack, rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub
) -> None:
    person = await register(rpc, "Stored")
    totp = await enable_totp(mfa, person.metadata)

    async with stack.servers["user"].runtime.sessions() as session:
        secret = await session.scalar(
            sa.text("SELECT totp_secret FROM users WHERE id = :id"), {"id": uuid.UUID(person.user_id)}
        )
        hashes = list(
            await session.scalars(
                sa.text("SELECT code_hash FROM recovery_codes WHERE user_id = :id"), {"id": uuid.UUID(person.user_id)}
            )
        )
    assert secret is not None
    assert totp.secret.encode() not in secret
    assert len(hashes) == 10
    assert not {tokens.secret_hash(c.replace("-", "")) for c in totp.recovery_codes} & set(hashes)


@pytest.mark.parametrize(
    "code",
    ["1234567", "12345", "12345a", "x" * 100_000, "١٢٣٤٥٦", "ABCDE-FGHJK", "\x00" * 6, "' OR 1=1 --"],
)
async def test_hostile_codes_are_refused_as_wrong_codes(
    rpc: Stubs, mfa: user_pb2_grpc.MfaServiceStub, code: str
) -> None:
    person = await register(rpc, "Hostile")
    await enable_totp(mfa, person.metadata)

    await mfa_refused(login(rpc, person, code))


async def test_a_service_token_cannot_change_anyones_mfa(stack: Stack, mfa: user_pb2_grpc.MfaServiceStub) -> None:

    as_task = await service_token(stack, "task", callee="user")
    refusal = await refused(mfa.StartTotpEnrollment(user_pb2.StartTotpEnrollmentRequest(), metadata=as_task))
    assert refusal.code == OK.PERMISSION_DENIED
    anonymous = await refused(mfa.StartTotpEnrollment(user_pb2.StartTotpEnrollmentRequest()))
    assert anonymous.code == OK.UNAUTHENTICATED
