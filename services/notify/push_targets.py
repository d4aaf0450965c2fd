"""Where a Web Push may go: a subscription's endpoint is a URL a client chose, so notify must not be made to POST
to its own network (SSRF). Small and self-contained on purpose — the webhook channel's full SSRF guard is to take
its place.

- `endpoint_violation`, when subscribing: https only, a host, no credentials in it, at most `ENDPOINT_MAX_LENGTH`
  characters; an IP literal or `localhost` must be a public address. Plain http, and private targets, only when
  the deployment allows private targets (NOTIFY_PUSH_ALLOW_PRIVATE / HEARTH_WEBHOOKS_ALLOW_PRIVATE: `make run`,
  tests) — and then http only to a loopback host.
- `resolved_problem`, before each push: every address the host resolves to must be public (a name can point
  anywhere, and change). Redirects are never followed (services.notify.push), so the checked host is the one
  connected to — but the connection resolves the name again: a DNS answer changed in that instant (rebinding) is
  the gap the full guard closes by connecting to the checked address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

ENDPOINT_MAX_LENGTH = 2048
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
# Cloud metadata services answer on link-local addresses (refused anyway) and on these.
_METADATA = (ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200"))


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is on the public internet: not loopback, private, link-local, shared (CGNAT), reserved,
    multicast, unspecified, nor a metadata service's; an IPv4-mapped IPv6 address counts as its IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast and address not in _METADATA


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


async def resolved_problem(endpoint: str, *, allow_private: bool) -> str | None:
    """What keeps a push from going to `endpoint` now: a host that does not resolve, or resolves to an address that
    is not public (unless private targets are allowed). None when it may go."""
    if allow_private:
        return None
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, parts.port or 443, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except OSError as exc:
        return f"host does not resolve: {exc.strerror or exc}"
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    if not addresses:
        return "host does not resolve"
    if any(not is_public(address) for address in addresses):
        return "host resolves to a loopback, private or link-local address"
    return None


__all__ = ["ENDPOINT_MAX_LENGTH", "endpoint_violation", "is_public", "resolved_problem"]
