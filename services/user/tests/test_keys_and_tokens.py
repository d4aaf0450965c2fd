"""keys.py and tokens.py as pure units: the Ed25519 signing key on disk, the JWKS, the access-token claims,
and the opaque secrets (refresh tokens, invite codes). The access tokens are checked with `kit.auth.TokenVerifier`,
the verifier every service runs."""

from __future__ import annotations

import base64
import json
import stat
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kit.auth import TokenVerifier
from kit.errors import Unauthenticated
from services.user import keys, tokens

ISSUER, AUDIENCE = "https://hearth.test", "hearth-test"

# RFC 8037 appendix A.1-A.3: an Ed25519 key and its RFC 7638 JWK thumbprint.
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def pem(private_key: Any) -> bytes:
    return bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def test_first_start_generates_a_private_key_file_and_the_second_reuses_it(tmp_path: Path) -> None:
    keys_dir = tmp_path / "var" / "keys"  # does not exist yet

    first = keys.load_or_create(keys_dir)
    key_file = keys_dir / keys.KEY_FILE
    written = key_file.read_bytes()
    second = keys.load_or_create(keys_dir)

    assert written.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert mode(key_file) == 0o600  # readable by the service's user only
    assert mode(keys_dir) == 0o700
    assert second.kid == first.kid
    assert second.public_jwk == first.public_jwk
    assert key_file.read_bytes() == written  # not regenerated
    assert list(keys_dir.iterdir()) == [key_file]


def test_replicas_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    # Several replicas sharing a keys volume start at once: exactly one key is written and every replica
    # loads that one (none may read the file half-written). Repeated, because the window is small.
    for attempt in range(20):
        keys_dir = tmp_path / str(attempt)
        with ThreadPoolExecutor(max_workers=8) as pool:
            loaded = list(pool.map(keys.load_or_create, [keys_dir] * 8))
        assert {key.kid for key in loaded} == {keys.load_or_create(keys_dir).kid}
        assert [p.name for p in keys_dir.iterdir()] == [keys.KEY_FILE]  # no temporary files left behind


def test_different_directories_get_different_keys(tmp_path: Path) -> None:
    assert keys.load_or_create(tmp_path / "a").kid != keys.load_or_create(tmp_path / "b").kid


def test_an_existing_key_is_loaded_and_its_kid_is_the_rfc7638_thumbprint(tmp_path: Path) -> None:
    d = base64.urlsafe_b64decode(RFC8037_D + "=")
    (tmp_path / keys.KEY_FILE).write_bytes(pem(Ed25519PrivateKey.from_private_bytes(d)))

    key = keys.load_or_create(tmp_path)

    assert key.kid == RFC8037_THUMBPRINT
    assert key.public_jwk["x"] == RFC8037_X


def test_a_key_file_that_is_not_ed25519_is_refused(tmp_path: Path) -> None:
    (tmp_path / keys.KEY_FILE).write_bytes(pem(generate_private_key(SECP256R1())))

    with pytest.raises(ValueError, match="not an Ed25519 private key"):
        keys.load_or_create(tmp_path)


def test_jwks_publishes_public_okp_ed25519_keys_only(tmp_path: Path) -> None:
    key = keys.load_or_create(tmp_path)

    document = json.loads(json.dumps(keys.jwks([key])))  # what GetJwks serves

    assert list(document) == ["keys"]
    [jwk] = document["keys"]
    assert jwk == {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"], "kid": key.kid, "alg": "EdDSA", "use": "sig"}
    assert "d" not in jwk  # no private part
    raw = key.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert base64.urlsafe_b64decode(jwk["x"] + "=") == raw
    assert jwt.PyJWK(jwk).key_id == key.kid


def issue(key: keys.SigningKey, *, now: datetime, ttl: timedelta = timedelta(minutes=15)) -> tuple[str, str, str]:
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    token = tokens.issue_access_token(
        key, user_id=user_id, session_id=session_id, issuer=ISSUER, audience=AUDIENCE, ttl=ttl, now=now
    )
    return token, str(user_id), str(session_id)


def test_access_token_header_and_claims(tmp_path: Path) -> None:
    key = keys.load_or_create(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)

    token, user_id, session_id = issue(key, now=now, ttl=timedelta(minutes=15))

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == key.kid
    claims = jwt.decode(token, key.private_key.public_key(), algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == user_id
    assert claims["sid"] == session_id
    assert claims["typ"] == "access"
    assert claims["iat"] == int(now.timestamp())
    assert claims["exp"] == int((now + timedelta(minutes=15)).timestamp())
    assert uuid.UUID(claims["jti"])
    assert issue(key, now=now)[0] != token  # a fresh jti every time


async def test_the_services_verifier_accepts_the_token_against_the_jwks(tmp_path: Path) -> None:
    key = keys.load_or_create(tmp_path)

    async def jwks() -> dict[str, Any]:
        return keys.jwks([key])

    token, user_id, session_id = issue(key, now=datetime.now(UTC))
    caller = await TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE).verify(token)

    assert caller.user_id == user_id
    assert caller.session_id == session_id
    assert caller.token == token


async def test_the_verifier_refuses_expired_foreign_and_misaddressed_tokens(tmp_path: Path) -> None:
    key, stranger = keys.load_or_create(tmp_path / "ours"), keys.load_or_create(tmp_path / "theirs")

    async def jwks() -> dict[str, Any]:
        return keys.jwks([key])

    verifier = TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE)
    expired, _, _ = issue(key, now=datetime.now(UTC) - timedelta(hours=1), ttl=timedelta(minutes=15))
    foreign, _, _ = issue(stranger, now=datetime.now(UTC))
    elsewhere = TokenVerifier(jwks, issuer=ISSUER, audience="another-audience")
    fresh, _, _ = issue(key, now=datetime.now(UTC))

    with pytest.raises(Unauthenticated, match="expired"):
        await verifier.verify(expired)
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.verify(foreign)
    with pytest.raises(Unauthenticated):
        await elsewhere.verify(fresh)


def test_refresh_tokens_are_opaque_unique_and_stored_only_as_sha256() -> None:
    issued = {tokens.new_refresh_token() for _ in range(200)}

    assert len(issued) == 200
    for token in issued:
        assert token.startswith("hr_")
        assert len(base64.urlsafe_b64decode(token.removeprefix("hr_") + "=")) == 32  # 256 bits of entropy
    sample = next(iter(issued))
    assert tokens.secret_hash(sample) == tokens.secret_hash(sample)
    assert len(tokens.secret_hash(sample)) == 32
    assert tokens.secret_hash(sample) != tokens.secret_hash(sample + "x")
    assert sample.encode() not in tokens.secret_hash(sample)


def test_invite_codes_are_url_safe_unique_and_derived_from_the_signing_key(tmp_path: Path) -> None:
    key, other = keys.load_or_create(tmp_path / "a"), keys.load_or_create(tmp_path / "b")
    secret = tokens.invite_secret(key)
    ids = [uuid.uuid4() for _ in range(200)]
    codes = {tokens.invite_code(secret, invite_id) for invite_id in ids}

    assert len(codes) == 200
    for code in codes:
        assert len(code) == 24  # 18 bytes of HMAC-SHA256
        assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    # The same invite always has the same code (a retried CreateInvite shows it again); another key, another code.
    assert tokens.invite_code(tokens.invite_secret(key), ids[0]) == tokens.invite_code(secret, ids[0])
    assert tokens.invite_code(tokens.invite_secret(other), ids[0]) != tokens.invite_code(secret, ids[0])
    # The derived secret is not the signing key's private bytes.
    raw = key.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert secret != raw
