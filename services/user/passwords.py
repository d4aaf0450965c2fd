"""Password hashing (argon2id, RFC 9106's low-memory profile unless configured) and the password policy."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher, Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 256
DEFAULT_COST = profiles.RFC_9106_LOW_MEMORY


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


class PasswordHashing:
    """argon2id at one cost. A stored hash made at another cost verifies, and `needs_rehash` says so.

    The cost is configurable (`USER_PASSWORD_*`) for where speed matters more than resistance to offline
    cracking — the test suite, which registers hundreds of people; production keeps the default."""

    def __init__(
        self,
        *,
        time_cost: int = DEFAULT_COST.time_cost,
        memory_kib: int = DEFAULT_COST.memory_cost,
        parallelism: int = DEFAULT_COST.parallelism,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # Verified against when the email is unknown, so both failures cost the same time.
        self._dummy_hash = self._hasher.hash("not a real password, only for timing")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


_default = PasswordHashing()


def hash_password(password: str) -> str:
    return _default.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    return _default.verify(password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _default.needs_rehash(password_hash)
