"""The pure parts of Web Push: which endpoints may be pushed to (push_targets), what a push holds (payload), the keys
a browser gives (subscriptions), the VAPID key (load_vapid, make run's generated one) and its JWT."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from scripts.run import ensure_vapid_key
from services.notify.config import Settings
from services.notify.models import Notification
from services.notify.push import PAYLOAD_MAX_BYTES, load_vapid, payload, public_key, vapid_authorization
from services.notify.push_targets import endpoint_violation, is_public, resolved_problem
from services.notify.subscriptions import auth_violation, p256dh_violation


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAA",
        "https://8.8.8.8/x",
        "https://[2001:4860:4860::8888]/x",
    ],
)
def test_public_https_endpoints_are_taken(endpoint: str) -> None:
    assert endpoint_violation(endpoint, allow_private=False) is None


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("http://push.example.com/x", "must be an https URL"),
        ("ftp://push.example.com/x", "must be an https URL"),
        ("javascript:alert(1)", "must be an https URL"),
        ("https:///nohost", "must be an https URL"),
        ("https://push.example.com:99999/x", "must be an https URL"),
        ("https://u:p@push.example.com/x", "must not hold credentials"),
        ("https://localhost/x", "must not point to a loopback, private or link-local address"),
        ("https://127.0.0.1/x", "must not point to a loopback, private or link-local address"),
        ("https://10.1.2.3/x", "must not point to a loopback, private or link-local address"),
        ("https://192.168.0.1/x", "must not point to a loopback, private or link-local address"),
        ("https://169.254.169.254/latest/meta-data", "must not point to a loopback, private or link-local address"),
        ("https://100.64.0.1/x", "must not point to a loopback, private or link-local address"),
        ("https://[::1]/x", "must not point to a loopback, private or link-local address"),
        ("https://[fe80::1]/x", "must not point to a loopback, private or link-local address"),
        ("https://[::ffff:127.0.0.1]/x", "must not point to a loopback, private or link-local address"),
        ("https://[fd00:ec2::254]/x", "must not point to a loopback, private or link-local address"),
        ("https://0.0.0.0/x", "must not point to a loopback, private or link-local address"),
        ("https://push.example.com/" + "x" * 2048, "must be at most 2048 characters"),
    ],
)
def test_endpoints_that_are_not_https_or_point_inside_are_refused(endpoint: str, problem: str) -> None:
    assert endpoint_violation(endpoint, allow_private=False) == problem


def test_allowing_private_targets_allows_plain_http_only_to_loopback() -> None:
    assert endpoint_violation("http://127.0.0.1:8080/push", allow_private=True) is None
    assert endpoint_violation("http://localhost:8080/push", allow_private=True) is None
    assert endpoint_violation("https://10.0.0.5/push", allow_private=True) is None
    assert endpoint_violation("http://10.0.0.5/push", allow_private=True) == "must be an https URL"
    assert endpoint_violation("http://push.example.com/push", allow_private=True) == "must be an https URL"


def test_ipv4_mapped_and_metadata_addresses_are_not_public() -> None:
    assert not is_public(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert not is_public(ipaddress.ip_address("100.100.100.200"))
    assert not is_public(ipaddress.ip_address("224.0.0.1"))
    assert not is_public(ipaddress.ip_address("64:ff9b::a00:1"))  # NAT64 carrying 10.0.0.1 (the webhooks' rules)
    assert is_public(ipaddress.ip_address("1.1.1.1"))


async def test_a_name_that_resolves_inside_is_refused_before_the_push() -> None:
    assert await resolved_problem("https://localhost:9/x", allow_private=False) == (
        "host resolves to a loopback, private or link-local address"
    )
    assert await resolved_problem("https://localhost:9/x", allow_private=True) is None
    problem = await resolved_problem("https://no-such-host.invalid/x", allow_private=False)
    assert problem is not None
    assert problem.startswith("host does not resolve")


def point() -> bytes:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


def test_a_browsers_keys_are_checked_for_what_they_decode_to() -> None:
    good = point()
    assert p256dh_violation(b64url(good)) is None
    assert p256dh_violation(base64.urlsafe_b64encode(good).decode()) is None  # padded is fine too
    assert p256dh_violation("") == "is required"
    assert p256dh_violation(b64url(good[:64])) == "must be an uncompressed P-256 public key (65 bytes), base64url"
    assert p256dh_violation(b64url(b"\x05" + good[1:])) is not None
    assert p256dh_violation(b64url(b"\x04" + b"\x00" * 64)) == "is not a point on the P-256 curve"
    assert p256dh_violation("A" * 10_000) is not None
    assert p256dh_violation("abc+/def") is not None  # base64, not base64url
    assert auth_violation(b64url(os.urandom(16))) is None
    assert auth_violation(b64url(os.urandom(17))) == "must be a 16-byte secret, base64url"
    assert auth_violation("!!!!") == "must be a 16-byte secret, base64url"


def notification(**changes: object) -> Notification:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "household_id": uuid.uuid4(),
        "type": "completion.rejected",
        "title": "Alice did not accept Dishes",
        "body": "Alice did not accept “Dishes”.",
        "data": {"chore_id": "c1"},
        "event_id": uuid.uuid4(),
        "create_time": datetime.now(UTC),
    }
    values.update(changes)
    return Notification(**values)


def test_a_payload_holds_the_notification_and_where_to_show_it() -> None:
    n = notification()
    assert json.loads(payload(n)) == {
        "id": str(n.id),
        "type": "completion.rejected",
        "title": "Alice did not accept Dishes",
        "body": "Alice did not accept “Dishes”.",
        "household_id": str(n.household_id),
        "url": f"/households/{n.household_id}/chores/c1",
    }
    assert "url" not in json.loads(payload(notification(data={})))


@pytest.mark.parametrize("body", ["x" * 20_000, "ü" * 5000, '"\\' * 3000, "😀" * 3000])
def test_a_long_body_is_cut_to_fit_a_push(body: str) -> None:
    encoded = payload(notification(body=body))
    assert len(encoded) <= PAYLOAD_MAX_BYTES
    decoded = json.loads(encoded)
    assert decoded["body"].endswith("…")
    assert body.startswith(decoded["body"][:-1])
    assert len(decoded["body"]) > 100


def test_the_vapid_key_from_make_run_or_the_environment_and_its_jwt(tmp_path: Path) -> None:
    path = ensure_vapid_key(tmp_path / "keys" / "vapid_private.pem")
    assert path.stat().st_mode & 0o777 == 0o600
    first = path.read_bytes()
    assert ensure_vapid_key(path).read_bytes() == first  # kept: a new key would orphan every subscription
    from_file = load_vapid(Settings(vapid_private_key_file=path))
    from_env = load_vapid(Settings(vapid_private_key=SecretStr(first.decode())))
    assert from_file is not None
    assert from_env is not None
    assert public_key(from_file) == public_key(from_env)
    assert load_vapid(Settings()) is None
    with pytest.raises(ValueError, match="not both"):
        Settings(vapid_private_key=SecretStr("x"), vapid_private_key_file=path)
    with pytest.raises(ValueError, match="mailto"):
        Settings(vapid_subject="admin@example.com")

    header = vapid_authorization(from_file, "https://push.example.com:8443/wpush/abc", "mailto:ops@example.com")
    scheme, _, params = header.partition(" ")
    values = dict(part.strip().split("=", 1) for part in params.split(","))
    assert scheme == "vapid"
    assert values["k"] == public_key(from_file)
    raw = base64.urlsafe_b64decode(values["k"] + "=" * (-len(values["k"]) % 4))
    verifier = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    claims = jwt.decode(values["t"], verifier, algorithms=["ES256"], audience="https://push.example.com:8443")
    assert claims["sub"] == "mailto:ops@example.com"
