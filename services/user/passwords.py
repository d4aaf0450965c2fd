"""Password hashing (argon2id, argon2-cffi's RFC 9106 defaults) and the password policy."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 256

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash("not a real password, only for timing")


@cache
def common_passwords() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    return frozenset(line.strip().lower() for line in path.read_text().splitlines() if line.strip())


def policy_violation(password: str) -> str | None:
    """Why `password` is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if password.lower() in common_passwords():
        return "is too common; choose another"
    if len(set(password)) < 4:
        return "is too repetitive"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
