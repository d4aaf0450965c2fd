"""passwords.py as a pure unit: argon2id hashing and verification, and the password policy."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type, extract_parameters

from services.user import passwords

GOOD = "correct horse battery staple"


def test_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    hashed = passwords.hash_password(GOOD)

    assert hashed.startswith("$argon2id$")
    assert extract_parameters(hashed).type is Type.ID
    assert GOOD not in hashed
    assert passwords.verify_password(hashed, GOOD)
    assert not passwords.verify_password(hashed, GOOD + " ")
    assert not passwords.verify_password(hashed, GOOD.upper())
    assert not passwords.verify_password(hashed, "")


def test_the_same_password_hashes_differently_each_time() -> None:
    first, second = passwords.hash_password(GOOD), passwords.hash_password(GOOD)

    assert first != second  # a fresh salt per hash
    assert passwords.verify_password(first, GOOD)
    assert passwords.verify_password(second, GOOD)


def test_no_hash_never_verifies_not_even_the_dummy_password() -> None:
    # Login verifies an unknown email against a dummy hash (same time for both failures); that must never pass.
    assert not passwords.verify_password(None, "not a real password, only for timing")
    assert not passwords.verify_password(None, GOOD)


@pytest.mark.parametrize("broken", ["", "not a hash", "$argon2id$v=19$m=65536,t=3,p=4$broken"])
def test_a_malformed_hash_does_not_verify(broken: str) -> None:
    assert not passwords.verify_password(broken, GOOD)


def test_weaker_hashes_need_a_rehash_current_ones_do_not() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(GOOD)

    assert passwords.verify_password(weak, GOOD)
    assert passwords.needs_rehash(weak)
    assert not passwords.needs_rehash(passwords.hash_password(GOOD))


def test_the_default_cost_is_rfc9106_low_memory() -> None:
    parameters = extract_parameters(passwords.hash_password(GOOD))

    assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (3, 64 * 1024, 4)


def test_a_configured_cost_is_used_and_hashes_of_another_cost_still_verify() -> None:
    cheap = passwords.PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1)

    hashed = cheap.hash(GOOD)

    assert hashed.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert cheap.verify(hashed, GOOD)
    assert not cheap.verify(hashed, GOOD + "!")
    assert not cheap.verify(None, "not a real password, only for timing")
    assert passwords.verify_password(hashed, GOOD)  # the default verifies it too, and wants it upgraded
    assert passwords.needs_rehash(hashed)
    assert cheap.needs_rehash(passwords.hash_password(GOOD))
    assert not cheap.needs_rehash(hashed)


@pytest.mark.parametrize("password", [GOOD, "Tr0ub4dor&3", "x7!kq2#mzp", "ü" * 4 + "ßéàñ" + "1!"])
def test_acceptable_passwords(password: str) -> None:
    assert passwords.policy_violation(password) is None


def test_minimum_length_is_ten_characters() -> None:
    assert passwords.MIN_LENGTH == 10
    assert passwords.policy_violation("x7!kq2#mz") == "must be at least 10 characters"  # 9
    assert passwords.policy_violation("") == "must be at least 10 characters"
    assert passwords.policy_violation("x7!kq2#mzp") is None  # 10


def test_maximum_length() -> None:
    assert passwords.policy_violation("ab1!" * 64) is None  # 256
    assert passwords.policy_violation("ab1!" * 64 + "x") == "must be at most 256 characters"


@pytest.mark.parametrize(
    "password", ["password123", "Password123", "QWERTYUIOP", "correcthorsebatterystaple", "1234567890", "iloveyou12"]
)
def test_common_and_breached_passwords_are_refused_whatever_the_case(password: str) -> None:
    assert passwords.policy_violation(password) == "is too common; choose another"


def test_the_common_list_is_loaded_normalised() -> None:
    common = passwords.common_passwords()

    assert len(common) > 100
    assert all(entry == entry.strip().lower() and entry for entry in common)
    # Only entries the length rule would not already refuse are worth listing.
    assert all(len(entry) >= passwords.MIN_LENGTH for entry in common)


def test_repetitive_passwords_are_refused() -> None:
    assert passwords.policy_violation("abababababab") == "is too repetitive"
    assert passwords.policy_violation("abcabcabcabd") is None  # four distinct characters


def test_the_gate_holds_as_many_hashes_as_the_cores_hold_argon2_lanes() -> None:
    cores = passwords.available_cores()
    cheap = {"time_cost": 1, "memory_kib": 64}
    assert passwords.PasswordHashing(**cheap, parallelism=1).concurrency == cores
    # Each hash of parallelism p keeps p threads busy: a gate of one hash per core would be p times the cores.
    assert passwords.PasswordHashing(**cheap, parallelism=2 * cores).concurrency == 1
    gate = passwords.PasswordHashing(**cheap, parallelism=1, concurrency=3)
    assert (gate.concurrency, gate.capacity) == (3, 15)  # four more waiting per running one
    assert passwords.PasswordHashing(**cheap, parallelism=1, concurrency=2, queue=0).capacity == 2
