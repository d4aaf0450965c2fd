"""Hand-made JWTs for the authentication tests (forgeries a real library would refuse to produce)."""

from __future__ import annotations

import base64
import json
from typing import Any


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A JWT assembled by hand (so we can forge what a real library would refuse to make)."""
    parts = [b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), b64url(signature)]
    return ".".join(parts)


def token_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def token_header(token: str) -> dict[str, Any]:
    header = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))))
