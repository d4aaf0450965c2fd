"""API keys: long-lived credentials for scripts and integrations, limited to scopes, exchanged for access tokens.

A key is `hk_` + 32 random bytes (URL-safe base64, 43 characters). Only its SHA-256 is stored — the key has 256
bits of entropy, so a plain hash is enough (no salt or KDF, as for refresh tokens) — and it is shown once, in
CreateApiKey's answer. Its first characters (`prefix`) are kept to recognise it in a list.

A key never reaches a service as such: the gateway (or any client) exchanges it (`ExchangeApiKey`, public) for a
short-lived access token whose `sid` and `akid` are the key's id and whose `scope` is the key's scopes. Every
service then enforces the scopes on each call (kit.interceptors: a method without a scope option is closed to
keys), and revoking the key (`DeleteApiKey`) ends its tokens at once — its id goes to the revocation set every
verifier reads, as a session's does (services/user/revocation.py).

A key belongs to its user and acts as them within its scopes: it can do no more than its user can (the services'
own authorization runs as for the user), and it cannot manage credentials (sessions, MFA, keys, password: those
RPCs have no scope, so keys cannot call them).

`last_use_time` is the last exchange, not the last request: a gateway reuses an exchanged token until it expires,
so the time is accurate to the access token's lifetime.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.auth import API_KEY_SCOPES
from kit.db import utcnow
from kit.errors import AlreadyExists, Conflict, NotFound, Unauthenticated
from kit.ids import new_id
from kit.pagination import CursorPart, Uuid, fingerprint
from kit.repository import Page, page
from kit.validation import Violations, caller_id
from services.user import audit, request_ids, tokens
from services.user.keys import SigningKey
from services.user.models import ApiKey
from services.user.policy import Policy
from services.user.repository import ApiKeyRepository, UserRepository
from services.user.revocation import Revoker

KEY_PREFIX = "hk_"
KEY_BYTES = 32
# What a list shows of a key: "hk_" and 8 characters of it (48 bits: recognisable, useless to an attacker).
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 8
# A presented key longer than this is no key of ours (43 characters after the prefix); refused before hashing.
KEY_MAX_LENGTH = 128
NAME_MAX = 100
# Live keys one user may hold: enough for every integration a household runs, a bound on a flood of creates.
MAX_KEYS_PER_USER = 50
# A key may be given an expiry up to this far ahead (or none).
MAX_LIFETIME = timedelta(days=3 * 365)
API_KEY_CURSOR: Sequence[CursorPart] = (Uuid(),)
INVALID_KEY_MESSAGE = "invalid API key"


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    # The key itself: in this answer only.
    secret: str


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


class ApiKeys:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        signing_key: SigningKey,
        policy: Policy,
        revoker: Revoker,
    ) -> None:
        self._sessions = sessions
        self._key = signing_key
        self._policy = policy
        self._revoker = revoker

    async def create(
        self, *, name: str, scopes: Sequence[str], expire_time: datetime | None, request_id: str = ""
    ) -> CreatedKey:
        me = caller_id()
        now = utcnow()
        with Violations() as errors:
            label = errors.text("api_key.display_name", name, max_length=NAME_MAX, required=True)
            granted = _scopes(errors, scopes)
            if expire_time is not None and not now < expire_time <= now + MAX_LIFETIME:
                errors.add("api_key.expire_time", f"must be in the future, at most {MAX_LIFETIME.days} days ahead")
            errors.request_id(request_id)
        async with self._sessions() as session, session.begin():
            # The user's row, locked: concurrent creates count the live keys one after another.
            if await UserRepository(session).get(me, lock=True) is None:
                raise NotFound("user not found")
            key_id = new_id()
            replayed = await request_ids.claim(
                session,
                caller=me,
                request_id=request_id,
                operation="CreateApiKey",
                request=(label, tuple(granted), expire_time.isoformat() if expire_time else ""),
                resource_id=key_id,
            )
            if replayed is not None:
                # The key was shown once and only its hash is kept: a retry cannot show it again. Say which key the
                # first call made, so the client can delete it and create another.
                raise AlreadyExists(
                    f"this request_id already created users/me/apiKeys/{replayed}; its key is shown only once: "
                    "delete that key and create another",
                    metadata={"api_key": f"users/me/apiKeys/{replayed}"},
                )
            keys = ApiKeyRepository(session)
            if await keys.count_live(me, now) >= MAX_KEYS_PER_USER:
                raise Conflict(f"at most {MAX_KEYS_PER_USER} live API keys per user: delete one first")
            secret = new_key()
            key = ApiKey(
                id=key_id,
                user_id=me,
                name=label,
                prefix=secret[:SHOWN_PREFIX_LENGTH],
                key_hash=tokens.secret_hash(secret),
                scopes=list(granted),
                create_time=now,
                expire_time=expire_time,
            )
            keys.add(key)
            await audit.record(
                session,
                "api_key.created",
                user_id=me,
                target=f"users/{me}/apiKeys/{key_id}",
                details={"scopes": list(granted)},
            )
        return CreatedKey(key, secret)

    async def list_keys(self, *, size: int, token: str) -> Page[ApiKey]:
        """The caller's keys not deleted (expired ones too, with their expire_time), newest first."""
        me = caller_id()
        async with self._sessions() as session:
            return await page(
                lambda after, limit: ApiKeyRepository(session).page(me, after=after, limit=limit),
                page_size=size,
                page_token=token,
                query=fingerprint("api_keys", str(me)),
                cursor=API_KEY_CURSOR,
                key=lambda row: (row.id,),
            )

    async def delete(self, key_id: uuid.UUID) -> None:
        """Revoke one of the caller's keys: it no longer exchanges, and its access tokens stop at once."""
        me = caller_id()
        now = utcnow()
        async with self._sessions() as session, session.begin():
            keys = ApiKeyRepository(session)
            key = await keys.get(key_id, me, lock=True)
            if key is None or key.revoke_time is not None:
                raise NotFound("API key not found")
            key.revoke_time = now
            revocations = await self._revoker.record(session, [(key_id, me)], reason="api_key_revoked", now=now)
            await audit.record(session, "api_key.revoked", user_id=me, target=f"users/{me}/apiKeys/{key_id}")
        await self._revoker.publish(revocations)

    async def exchange(self, presented: str) -> tuple[str, int]:
        """A short-lived access token for a valid key, limited to its scopes, and its lifetime in seconds. Every
        refusal — unknown, malformed, deleted, expired — is the same UNAUTHENTICATED: a caller learns nothing
        about keys it does not hold."""
        if not presented.startswith(KEY_PREFIX) or len(presented) > KEY_MAX_LENGTH:
            raise Unauthenticated(INVALID_KEY_MESSAGE)
        digest = tokens.secret_hash(presented)
        now = utcnow()
        async with self._sessions() as session, session.begin():
            keys = ApiKeyRepository(session)
            key = await keys.by_hash(digest)
            # The index found the row by its hash; compare again in constant time all the same.
            if (
                key is None
                or not hmac.compare_digest(key.key_hash, digest)
                or key.revoke_time is not None
                or (key.expire_time is not None and key.expire_time <= now)
            ):
                raise Unauthenticated(INVALID_KEY_MESSAGE)
            if await keys.mark_used(key.id, now):
                await audit.record(
                    session,
                    "api_key.first_used",
                    user_id=key.user_id,
                    actor_id=key.user_id,
                    target=f"users/{key.user_id}/apiKeys/{key.id}",
                )
        # Never beyond the key's own expiry.
        ttl = self._policy.access_ttl
        if key.expire_time is not None:
            ttl = min(ttl, key.expire_time - now)
        token = tokens.issue_access_token(
            self._key,
            user_id=key.user_id,
            session_id=key.id,
            issuer=self._policy.issuer,
            audience=self._policy.audience,
            ttl=ttl,
            now=now,
            scope=" ".join(key.scopes),
            # A key proves no recent sign-in: its token's auth_time is the key's creation.
            auth_time=key.create_time,
            api_key_id=key.id,
        )
        return token, max(1, int(ttl.total_seconds()))


def _scopes(errors: Violations, requested: Sequence[str]) -> list[str]:
    """The requested scopes, each known, without repeats, in the catalogue's order."""
    wanted = {scope.strip() for scope in requested}
    if not wanted:
        errors.add("api_key.scopes", "at least one scope is required")
        return []
    unknown = sorted(wanted - set(API_KEY_SCOPES))
    if unknown:
        shown = ", ".join(repr(scope[:40]) for scope in unknown[:5])
        errors.add("api_key.scopes", f"unknown scope {shown}; known: {', '.join(API_KEY_SCOPES)}")
        return []
    return [scope for scope in API_KEY_SCOPES if scope in wanted]


__all__ = ["KEY_PREFIX", "ApiKeys", "CreatedKey"]
