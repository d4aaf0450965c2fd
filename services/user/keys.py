"""The token-signing key: Ed25519, generated on first start, kept as PEM (mode 0600) under `keys_dir` (0700).

The key id is the RFC 7638 JWK thumbprint, so it changes exactly when the key does. Rotation later:
drop a new key file next to the old one; every `*.pem` is published in the JWKS, the newest signs.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_FILE = "signing-ed25519.pem"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    private_key: Ed25519PrivateKey
    kid: str
    public_jwk: dict[str, Any]


def _signing_key(private_key: Ed25519PrivateKey) -> SigningKey:
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}  # RFC 7638: required members, sorted
    kid = _b64(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())
    return SigningKey(private_key, kid, {**members, "kid": kid, "alg": "EdDSA", "use": "sig"})


def load_or_create(keys_dir: Path) -> SigningKey:
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = keys_dir / KEY_FILE
    if not path.exists():
        _write_new_key(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return _signing_key(key)


def _write_new_key(path: Path) -> None:
    """Write a fresh key to `path` unless some other process got there first.

    The key is written in full under a temporary name (mkstemp: mode 0600) and then hard-linked into place.
    link() fails when `path` exists, so of two replicas starting together exactly one key wins, and no
    replica ever reads a half-written file (as it could with O_CREAT|O_EXCL followed by a write)."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def jwks(keys: list[SigningKey]) -> dict[str, Any]:
    return {"keys": [key.public_jwk for key in keys]}
