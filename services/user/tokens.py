"""Issuing tokens: short-lived EdDSA access JWTs and opaque, rotating refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

import jwt

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
) -> str:
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": str(new_id()),
        "typ": "access",
        "scope": scope,
    }
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


def new_refresh_token() -> str:
    return "hr_" + secrets.token_urlsafe(32)


def new_invite_code() -> str:
    return secrets.token_urlsafe(18)


def secret_hash(secret: str) -> bytes:
    """Refresh tokens and invite codes are high-entropy: a plain SHA-256 is the right hash (no salt/KDF needed)."""
    return hashlib.sha256(secret.encode()).digest()
