"""passwords.py as a pure unit: argon2id hashing and verification, and the password policy."""

from __future__ import annotations

import gzip
import hashlib
import unicodedata

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from hypothesis import given, settings
from hypothesis import strategies as st

from services.user import passwords

GOOD = "correct horse battery staple"
# Django 5.2.19's django/contrib/auth/common-passwords.txt.gz (password_lists/README.md).
DJANGO_LIST_SHA256 = "3c1baed62596de36860824eb3f436d5932d37ca8b06e59df78f5a44ec175afe4"
# Cheap enough to hash in a property test's hundred examples.
CHEAP = passwords.PasswordHashing(time_cost=1, memory_kib=64, parallelism=1)


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


def test_maximum_length_is_128_characters() -> None:
    assert passwords.MAX_LENGTH == 128
    assert passwords.policy_violation("ab1!" * 32) is None  # 128
    assert passwords.policy_violation("ab1!" * 32 + "x") == "must be at most 128 characters"
    assert passwords.policy_violation("ab1!" * 64) == "must be at most 128 characters"


def test_lengths_count_code_points_of_the_nfc_form() -> None:
    composed, decomposed = "\u00e9", "e\u0301"  # é, one code point or two
    assert passwords.policy_violation(composed * 10) == TOO_REPETITIVE  # 10, not too short
    assert passwords.policy_violation("x7!kq2#mz" + decomposed) is None  # 10 once composed
    assert passwords.policy_violation("ab1!" * 31 + "xyz" + decomposed) is None  # 128 once composed, 129 as sent
    assert passwords.policy_violation("ab1!" * 32 + composed) == "must be at most 128 characters"
    # An astral character (an emoji) is one character, not two UTF-16 units or four UTF-8 bytes.
    assert passwords.policy_violation("\U0001f511" * 3 + "x7!kq2#") is None


@given(st.text(min_size=passwords.MIN_LENGTH, max_size=2 * passwords.MAX_LENGTH))
def test_a_password_is_too_long_exactly_when_its_nfc_form_has_more_than_128_code_points(password: str) -> None:
    too_long = len(unicodedata.normalize("NFC", password)) > passwords.MAX_LENGTH
    assert (passwords.policy_violation(password) == "must be at most 128 characters") == too_long


def test_a_128_character_password_verifies_only_with_every_character() -> None:
    longest = "".join(chr(ord("a") + i % 26) + str(i % 10) for i in range(64))
    assert len(longest) == passwords.MAX_LENGTH
    assert passwords.policy_violation(longest) is None

    hashed = passwords.hash_password(longest)

    assert passwords.verify_password(hashed, longest)
    assert not passwords.verify_password(hashed, longest[:-1])
    assert not passwords.verify_password(hashed, longest[:72])  # where bcrypt would have stopped reading
    assert not passwords.verify_password(hashed, longest[:-1] + "X")
    assert not passwords.verify_password(hashed, longest + "x")


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=passwords.MAX_LENGTH), st.characters())
def test_every_character_of_a_password_counts(password: str, extra: str) -> None:
    hashed = CHEAP.hash(password)
    assert CHEAP.verify(hashed, password)
    longer = password + extra
    same = unicodedata.normalize("NFC", longer) == unicodedata.normalize("NFC", password)
    assert CHEAP.verify(hashed, longer) == same


def test_a_password_verifies_however_its_accents_were_typed() -> None:
    typed_composed = "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"
    typed_decomposed = unicodedata.normalize("NFD", typed_composed)
    assert typed_composed != typed_decomposed

    assert passwords.verify_password(passwords.hash_password(typed_decomposed), typed_composed)
    assert passwords.verify_password(passwords.hash_password(typed_composed), typed_decomposed)
    # Only canonical equivalence: compatibility forms (a full-width letter) are other characters.
    assert not passwords.verify_password(passwords.hash_password(typed_composed), "\uff23" + typed_composed[1:])


TOO_COMMON = "is too common; choose another"
TOO_REPETITIVE = "is too repetitive"


@pytest.mark.parametrize(
    "password",
    [
        "password123",
        "Password123",
        "QWERTYUIOP",
        "correcthorsebatterystaple",
        "1234567890",
        "iloveyou12",
        "Password1 ",  # stripped: "password1", too short alone but padded to ten
        " qwerty123 ",
        "\u00a0password12",  # a no-break space is stripped too
        "PASSWORD1\t",
        "LiverPool1\n",
        "Password2025",  # Hearth's own additions
    ],
)
def test_common_and_breached_passwords_are_refused_whatever_the_case_and_the_spaces_around(password: str) -> None:
    assert passwords.policy_violation(password) == TOO_COMMON
    assert passwords.TOO_COMMON_MESSAGE == TOO_COMMON


def test_a_common_password_inside_a_longer_one_is_not_common() -> None:
    assert passwords.policy_violation("password123 but longer") is None
    assert passwords.policy_violation("pass word123") is None  # only the ends are stripped


def test_the_bundled_list_is_djangos_20000_as_shipped() -> None:
    bundled = passwords.LISTS / "django-common-passwords.txt.gz"

    assert hashlib.sha256(bundled.read_bytes()).hexdigest() == DJANGO_LIST_SHA256
    with gzip.open(bundled, "rt", encoding="utf-8") as file:
        lines = file.read().splitlines()
    assert len(lines) == len(set(lines)) == 19_640
    assert lines[:4] == ["123456", "123456789", "qwerty", "password"]  # most common first
    assert (passwords.LISTS / "LICENSE.django").read_text().startswith("Copyright (c) Django Software Foundation")
    assert passwords.common_passwords() >= {passwords.common_key(line) for line in lines}


def test_the_common_list_holds_the_10000_most_common_and_is_loaded_normalised() -> None:
    common = passwords.common_passwords()

    assert len(common) >= 19_640
    assert all(entry and entry == passwords.common_key(entry) for entry in common)
    assert isinstance(common, frozenset)
    assert passwords.common_passwords() is common  # read once


@settings(max_examples=200)
@given(st.data())
def test_any_listed_password_is_refused_in_any_case_with_spaces_around(data: st.DataObject) -> None:
    entry = data.draw(st.sampled_from(sorted(passwords.common_passwords())))
    cased = "".join(data.draw(st.sampled_from([char.lower(), char.upper()])) for char in entry)
    padding = " " * max(0, passwords.MIN_LENGTH - len(entry))
    before = data.draw(st.integers(0, len(padding)))
    candidate = padding[:before] + cased + padding[before:]
    if len(passwords.normalized(candidate)) <= passwords.MAX_LENGTH:
        assert passwords.policy_violation(candidate) == TOO_COMMON


def test_repetitive_passwords_are_refused() -> None:
    assert passwords.policy_violation("abababababab") == TOO_REPETITIVE
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
