"""services.notify.ssrf: which webhook URLs and addresses are refused, through an injectable resolver (and the real
one for `localhost`); and the signing scheme checked by the Standard Webhooks reference library."""

from __future__ import annotations

import asyncio
import ipaddress
import time

import pytest
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from services.notify import signing, ssrf

PUBLIC = "93.184.215.14"


def resolver(answers: dict[str, list[str]]) -> ssrf.Resolver:
    async def resolve(host: str, port: int) -> list[ssrf.IPAddress]:
        return [ipaddress.ip_address(a) for a in answers.get(host, [])]

    return resolve


PUBLIC_DNS = resolver({"hooks.example": [PUBLIC]})


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.8.9.10/hook",
        "https://10.0.0.1/hook",
        "https://172.16.5.4/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://169.254.10.10/hook",
        "https://100.64.0.1/hook",
        "https://100.127.255.254/hook",
        "https://224.0.0.1/hook",
        "https://0.0.0.0/hook",
        "https://240.0.0.1/hook",
        "https://192.0.2.10/hook",
        "https://[::1]/hook",
        "https://[::]/hook",
        "https://[fc00::1]/hook",
        "https://[fd12:3456::1]/hook",
        "https://[fd00:ec2::254]/hook",
        "https://[fe80::1]/hook",
        "https://[ff02::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://[64:ff9b::a00:1]/hook",
    ],
)
async def test_every_internal_range_is_refused(url: str) -> None:
    with pytest.raises(ssrf.Refused, match="resolves to"):
        await ssrf.check(url, PUBLIC_DNS, allow_private=False)


@pytest.mark.parametrize(
    "url", ["https://2130706433/hook", "https://0177.0.0.1/hook", "https://0x7f.1/hook", "https://127.1/hook"]
)
async def test_decimal_octal_and_short_ip_forms_are_refused(url: str) -> None:
    with pytest.raises(ssrf.Refused, match="dotted decimal"):
        await ssrf.check(url, PUBLIC_DNS, allow_private=True)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example/hook", "https"),
        ("ftp://hooks.example/hook", "https"),
        ("https://user:secret@hooks.example/hook", "user name or password"),
        ("https://user@hooks.example/hook", "user name or password"),
        ("https://hooks.example/hook#frag", "fragment"),
        ("https:///hook", "host"),
        ("https://hooks.example/" + "a" * 2048, "2048"),
        ("https://hooks.example/a b", "spaces"),
        ("https://hooks.example:99999/", "valid URL"),
    ],
)
async def test_url_rules(url: str, why: str) -> None:
    with pytest.raises(ssrf.Refused, match=why):
        await ssrf.check(url, PUBLIC_DNS, allow_private=False)


async def test_a_public_name_passes_and_the_connection_is_pinned_to_its_checked_address() -> None:
    target = await ssrf.check("https://hooks.example:8443/in?x=1", PUBLIC_DNS, allow_private=False)
    assert str(target.address) == PUBLIC
    assert target.pinned_url() == f"https://{PUBLIC}:8443/in?x=1"
    assert target.endpoint.host_header == "hooks.example:8443"


async def test_a_name_resolving_to_a_private_address_is_refused_and_so_is_one_bad_answer_among_good_ones() -> None:
    dns = resolver({"internal.example": ["10.1.2.3"], "mixed.example": [PUBLIC, "192.168.0.7"]})
    with pytest.raises(ssrf.Refused, match=r"10\.1\.2\.3"):
        await ssrf.check("https://internal.example/", dns, allow_private=False)
    with pytest.raises(ssrf.Refused, match=r"192\.168\.0\.7"):
        await ssrf.check("https://mixed.example/", dns, allow_private=False)
    with pytest.raises(ssrf.Refused, match="does not resolve"):
        await ssrf.check("https://nowhere.example/", dns, allow_private=False)


async def test_localhost_through_the_real_resolver_is_refused() -> None:
    with pytest.raises(ssrf.Refused, match="loopback"):
        await ssrf.check("https://localhost/hook", ssrf.system_resolver, allow_private=False)


async def test_allowing_private_targets_lifts_the_ranges_and_http_but_never_metadata_unspecified_or_multicast() -> None:
    dns = resolver({"localhost": ["127.0.0.1"]})
    target = await ssrf.check("http://localhost:8080/hook", dns, allow_private=True)
    assert str(target.address) == "127.0.0.1"
    await ssrf.check("https://10.0.0.1/", dns, allow_private=True)
    for url in ("https://169.254.169.254/", "https://[fd00:ec2::254]/", "https://[::ffff:169.254.169.254]/",
                "https://0.0.0.0/", "https://239.1.1.1/"):  # fmt: skip
        with pytest.raises(ssrf.Refused):
            await ssrf.check(url, dns, allow_private=True)


def test_signatures_verify_with_the_reference_library_and_a_wrong_secret_or_a_changed_body_does_not() -> None:
    secret, other = signing.new_secret(), signing.new_secret()
    assert secret.startswith("whsec_")
    now = int(time.time())
    body = '{"type":"chore.completed","timestamp":"2026-12-06T10:00:00Z","data":{"points":5}}'
    headers = {
        "webhook-id": "0193a0c4-7d2e-7c31-9a55-3c8f2d1e6e10",
        "webhook-timestamp": str(now),
        "webhook-signature": signing.signature_header([secret], "0193a0c4-7d2e-7c31-9a55-3c8f2d1e6e10", now, body),
    }
    assert Verifier(secret).verify(body, headers)["data"] == {"points": 5}
    with pytest.raises(WebhookVerificationError):
        Verifier(other).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Verifier(secret).verify(body.replace("5", "50"), headers)


def test_a_sealed_secret_opens_only_under_its_own_key() -> None:
    box, other = signing.SecretBox("k" * 32), signing.SecretBox("z" * 32)
    secret = signing.new_secret()
    sealed = box.seal(secret)
    assert secret not in sealed
    assert box.open(sealed) == secret
    assert other.open(sealed) is None


async def test_a_resolver_that_hangs_is_given_up_on() -> None:
    async def hangs(host: str, port: int) -> list[ssrf.IPAddress]:
        await asyncio.Event().wait()
        return []

    with pytest.raises(ssrf.Refused, match="does not resolve"):
        await ssrf.check("https://slow.example/", hangs, allow_private=False, timeout=0.05)


def test_without_key_material_the_box_refuses_at_first_use_only() -> None:
    box = signing.SecretBox(None)
    with pytest.raises(RuntimeError, match="NOTIFY_WEBHOOK_KEY"):
        box.seal(signing.new_secret())
