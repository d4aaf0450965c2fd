"""Password hashing (argon2id, RFC 9106's low-memory profile unless configured) and the password policy.

A password is its NFC form (`normalized`; RFC 8265's OpaqueString profile): that is what is counted, compared with
the common passwords and hashed, so "é" typed as one code point or as "e" and a combining acute is one character
and one password, whichever keyboard typed it. Nothing else is changed: not case, not spaces, and never cut —
argon2 hashes every character (unlike bcrypt, which ignores all after 72 bytes), so a password too long is refused,
not truncated.

The policy is NIST SP 800-63B's: a length, no composition rules, and no password from a list of common ones
(password_lists/README.md). The account's email and display name are not compared with it: the registration's
call site (accounts.py) does not pass them.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import unicodedata
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import TypeVar

from argon2 import PasswordHasher, Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from prometheus_client import Counter

from kit.errors import RateLimited

T = TypeVar("T")

PASSWORD_WORK = Counter(
    "hearth_user_password_work_total",
    "argon2 hashes and verifications, by outcome (done; refused: the gate was full, answered RESOURCE_EXHAUSTED)",
    ["outcome"],
)

# Both in Unicode code points of the NFC form (`normalized`). 128 holds any passphrase a person types and what
# password managers generate; a password longer than that is refused, never cut to fit.
MIN_LENGTH = 10
MAX_LENGTH = 128
DEFAULT_COST = profiles.RFC_9106_LOW_MEMORY

LISTS = Path(__file__).with_name("password_lists")
COMMON_LISTS = ("django-common-passwords.txt.gz", "hearth.txt")

TOO_COMMON_MESSAGE = "is too common; choose another"
TOO_REPETITIVE_MESSAGE = "is too repetitive"


def normalized(password: str) -> str:
    """The password as it is counted, compared and hashed: its NFC form."""
    return unicodedata.normalize("NFC", password)


def common_key(password: str) -> str:
    """What a password is looked up by in the common ones: case folded and stripped, so "Password1 " and
    "PASSWORD1" are "password1"."""
    return normalized(password).strip().casefold()


def _read_list(path: Path) -> list[str]:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as file:
            return file.read().splitlines()
    return path.read_text(encoding="utf-8").splitlines()


@cache
def common_passwords() -> frozenset[str]:
    """Every listed password (COMMON_LISTS) by its `common_key`; read on first use, once per process (a few
    milliseconds), so a process that never checks a new password never holds the list."""
    keys = (common_key(line) for name in COMMON_LISTS for line in _read_list(LISTS / name))
    return frozenset(key for key in keys if key)


def is_common(password: str) -> bool:
    return common_key(password) in common_passwords()


def policy_violation(password: str) -> str | None:
    """Why `password` is not acceptable, or None."""
    candidate = normalized(password)
    if len(candidate) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(candidate) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if is_common(candidate):
        return TOO_COMMON_MESSAGE
    if len(set(candidate)) < 4:
        return TOO_REPETITIVE_MESSAGE
    return None


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class PasswordHashing:
    """argon2id at one cost. A stored hash made at another cost verifies, and `needs_rehash` says so.

    The cost is configurable (`USER_PASSWORD_*`) for where speed matters more than resistance to offline
    cracking — the test suite, which registers hundreds of people; production keeps the default.

    `hashed` and `verified` are the gate every request's argon2 work goes through: at most `concurrency` run at
    once (by default the cores over argon2's parallelism; threads of their own: argon2 releases the GIL, so they
    use the cores while the event loop goes on), at
    most `queue` more wait, and beyond that a call is refused at once with RESOURCE_EXHAUSTED (429 at the
    gateway). A flood of logins then costs the machine `concurrency` cores and gets quick refusals, instead of
    queueing until every caller's deadline has passed; other users' requests keep their share of the CPU."""

    def __init__(
        self,
        *,
        time_cost: int = DEFAULT_COST.time_cost,
        memory_kib: int = DEFAULT_COST.memory_cost,
        parallelism: int = DEFAULT_COST.parallelism,
        concurrency: int | None = None,
        queue: int | None = None,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # Verified against when the email is unknown, so both failures cost the same time.
        self._dummy_hash = self._hasher.hash("not a real password, only for timing")
        # Each hash runs `parallelism` lanes on threads of its own: a gate of one hash per core would let a flood
        # take cores times parallelism threads. So by default as many at once as the cores hold lanes (at least one).
        self.concurrency = concurrency or max(1, available_cores() // parallelism)
        self.capacity = self.concurrency + (4 * self.concurrency if queue is None else queue)
        self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="argon2")
        self._admitted = 0

    async def hashed(self, password: str) -> str:
        return await self._gated(self.hash, password)

    async def verified(self, password_hash: str | None, password: str) -> bool:
        return await self._gated(self.verify, password_hash, password)

    async def _gated(self, work: Callable[..., T], *args: str | None) -> T:
        if self._admitted >= self.capacity:
            PASSWORD_WORK.labels("refused").inc()
            raise RateLimited("too many sign-ins are being checked right now; retry in a moment")
        loop = asyncio.get_running_loop()
        self._admitted += 1

        def release(_: Future[T]) -> None:
            # When the work is over (or was cancelled before it began), not when its caller stops waiting: an
            # abandoned hash still holds its core until it finishes.
            loop.call_soon_threadsafe(self._release)

        future = self._executor.submit(work, *args)
        future.add_done_callback(release)
        result = await asyncio.wrap_future(future)
        PASSWORD_WORK.labels("done").inc()
        return result

    def _release(self) -> None:
        self._admitted -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def hash(self, password: str) -> str:
        return self._hasher.hash(normalized(password))

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            given = normalized(password)
            return self._hasher.verify(password_hash or self._dummy_hash, given) and password_hash is not None
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
