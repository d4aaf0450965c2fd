"""Where a Web Push may go: a subscription's endpoint is a URL a client chose, so notify must not be made to POST
to its own network (SSRF). The URL rules are push's own (a push endpoint is https, http only to loopback when private
targets are allowed); the address rules are the webhooks' (services.notify.ssrf).

- `endpoint_violation`, when subscribing: https only, a host, no credentials in it, at most `ENDPOINT_MAX_LENGTH`
  characters; an IP literal or `localhost` must be a public address. Plain http, and private targets, only when
  the deployment allows private targets (NOTIFY_PUSH_ALLOW_PRIVATE / HEARTH_WEBHOOKS_ALLOW_PRIVATE: `make run`,
  tests) — and then http only to a loopback host.
- `resolved_problem`, before each push: every address the host resolves to must be public (a name can point
  anywhere, and change). Redirects are never followed (services.notify.push), so the checked host is the one
  connected to — but the connection resolves the name again: a DNS answer changed in that instant (rebinding) is
  the gap the webhooks' guard closes by connecting to the checked address.

Which addresses are public, and how a host is resolved (bounded by `ssrf.RESOLVE_TIMEOUT_SECONDS`), are the webhook
guard's (services.notify.ssrf): one set of rules for every URL a client gives notify.
"""

from __future__ import annotations

import asyncio
import ipaddress
from urllib.parse import urlsplit

from services.notify import ssrf

ENDPOINT_MAX_LENGTH = 2048
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is one a webhook may reach without private targets allowed (services.notify.ssrf): not
    loopback, private, link-local, CGNAT, reserved, multicast, unspecified or a metadata service's, nor an IPv6
    address carrying one of those."""
    return ssrf.address_refusal(address, allow_private=False) is None


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def endpoint_violation(endpoint: str, *, allow_private: bool) -> str | None:
    """What is wrong with `endpoint` as a push target (a message for the `endpoint` field), None when nothing."""
    if len(endpoint) > ENDPOINT_MAX_LENGTH:
        return f"must be at most {ENDPOINT_MAX_LENGTH} characters"
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 — raises ValueError on a port out of range
    except ValueError:
        return "must be an https URL"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https URL"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials"
    literal = _literal(host)
    loopback = host in LOOPBACK_NAMES or (literal is not None and literal.is_loopback)
    if parts.scheme == "http" and not (allow_private and loopback):
        return "must be an https URL"
    if not allow_private and (loopback or (literal is not None and not is_public(literal))):
        return "must not point to a loopback, private or link-local address"
    return None


async def resolved_problem(
    endpoint: str, *, allow_private: bool, resolver: ssrf.Resolver = ssrf.system_resolver
) -> str | None:
    """What keeps a push from going to `endpoint` now: a host that does not resolve (within
    `ssrf.RESOLVE_TIMEOUT_SECONDS`), or resolves to an address that is not public (unless private targets are
    allowed). None when it may go."""
    if allow_private:
        return None
    parts = urlsplit(endpoint)
    try:
        async with asyncio.timeout(ssrf.RESOLVE_TIMEOUT_SECONDS):
            addresses = await resolver(parts.hostname or "", parts.port or 443)
    except TimeoutError:
        return "host does not resolve: no answer in time"
    except OSError as exc:
        return f"host does not resolve: {exc.strerror or exc}"
    if not addresses:
        return "host does not resolve"
    if any(not is_public(address) for address in addresses):
        return "host resolves to a loopback, private or link-local address"
    return None


__all__ = ["ENDPOINT_MAX_LENGTH", "endpoint_violation", "is_public", "resolved_problem"]
