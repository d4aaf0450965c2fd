"""Webhook secrets and signatures (Standard Webhooks v1), and how the secrets are kept at rest.

A secret is `whsec_` + the base64 of 32 random bytes, shown to the household once (create, rotate). A delivery is
signed over `{webhook-id}.{webhook-timestamp}.{body}` with HMAC-SHA256 under the secret's bytes; the header is
`webhook-signature: v1,<base64>`, and during a rotation window it holds the new and the previous secret's
signatures, space separated (Standard Webhooks allows several). The signing is our own few lines; the tests verify
it with the reference library (`standardwebhooks`), which is what receivers use.

At rest a secret is a Fernet token (AES-CBC + HMAC) under a key derived with HKDF-SHA256 from NOTIFY_WEBHOOK_KEY,
or from NOTIFY_SERVICE_SECRET when that is unset: the secret must be readable to sign (a hash would not do), and a
copy of the database alone does not give it away.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "whsec_"
SECRET_BYTES = 32
_HKDF_INFO = b"hearth notify webhook secrets v1"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """One `v1,<base64 HMAC-SHA256>` signature of a delivery."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets_: Iterable[str], message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` value: a signature per secret (the current one first), space separated."""
    return " ".join(signature(secret, message_id, timestamp, body) for secret in secrets_)


class SecretBox:
    """Seals and opens endpoint secrets (Fernet under a key derived from `key_material`). Without key material (a
    process that has neither setting: `migrate`, a deployment without webhooks) it is built all the same and
    refuses at first use, so only webhooks fail, loudly."""

    def __init__(self, key_material: str | None) -> None:
        self._fernet: Fernet | None = None
        if key_material is None:
            return
        if len(key_material) < 16:
            raise ValueError("the webhook key must be at least 16 characters")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(key_material.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def _key(self) -> Fernet:
        if self._fernet is None:
            raise RuntimeError("webhooks need NOTIFY_WEBHOOK_KEY or NOTIFY_SERVICE_SECRET to keep their secrets sealed")
        return self._fernet

    def seal(self, secret: str) -> str:
        return self._key().encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str | None:
        """The secret, or None for a token this key did not seal (the key changed: the endpoint must rotate)."""
        try:
            return self._key().decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            return None


__all__ = ["PREFIX", "SecretBox", "new_secret", "secret_bytes", "signature", "signature_header"]
