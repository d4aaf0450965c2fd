"""Issuing tokens: short-lived EdDSA access JWTs and opaque, rotating refresh tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization

from kit.ids import new_id
from services.user.keys import SigningKey


def issue_access_token(
    key: SigningKey,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    issuer: str,
    audience: str,
    ttl: timedelta,
    now: datetime,
    scope: str = "",
    auth_time: datetime | None = None,
    api_key_id: uuid.UUID | None = None,
) -> str:
    """`session_id`: the session's id (an API key's id for a key's token: revoking the key ends it); `auth_time`:
    when the person proved who they are (kept across refreshes; recent-authentication checks read it);
    `api_key_id` and `scope`: a key's token, limited to the key's scopes (kit.interceptors)."""
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": audience,
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": str(new_id()),
        "typ": "access",
        "scope": scope,
        "auth_time": int((auth_time or now).timestamp()),
    }
    if api_key_id is not None:
        claims["akid"] = str(api_key_id)
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


def new_refresh_token() -> str:
    return "hr_" + secrets.token_urlsafe(32)


def derived_secret(key: SigningKey, label: bytes) -> bytes:
    """A 32-byte key of its own for one purpose (`label`): an HMAC of the signing key's private bytes under the label
    (never the signing key itself), so it lives only where the signing key does, never in the database."""
    raw = key.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return hmac.new(raw, label, hashlib.sha256).digest()


def invite_secret(key: SigningKey) -> bytes:
    """The key invite codes are derived with (`derived_secret`)."""
    return derived_secret(key, b"hearth.user.invite-code.v1")


def invite_code(secret: bytes, invite_id: uuid.UUID) -> str:
    """The code of invite `invite_id`: HMAC-SHA256 under `secret`, 18 bytes as URL-safe base64 (24 characters).

    Unguessable without the secret (like a random code), yet the same every time it is computed, so a retried
    CreateInvite (the same `request_id`) can answer with the same invite and code while only its hash is stored."""
    digest = hmac.new(secret, invite_id.bytes, hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode()


def secret_hash(secret: str) -> bytes:
    """Refresh tokens and invite codes are high-entropy: a plain SHA-256 is the right hash (no salt/KDF needed)."""
    return hashlib.sha256(secret.encode()).digest()
