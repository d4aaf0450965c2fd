"""Where a webhook may be sent: URL rules and the address check that keeps deliveries off internal networks (SSRF).

A webhook URL is the household's to choose, so it must never make notify talk to something only notify can reach.
Checked at registration (services.notify.webhooks, 422 on refusal) and again at every delivery attempt, after DNS
resolution and after every redirect (services.notify.webhook_delivery), because a name's answer can change between
the two (DNS rebinding) and a public endpoint can redirect inward:

- the URL: `https` (or `http` only while private targets are allowed, i.e. `make run` and tests), at most
  `URL_MAX_LENGTH` characters, a host, no user or password in it, no fragment; a host written as a number in
  another form than dotted decimal (`2130706433`, `0177.0.0.1`, `0x7f.1`) is refused outright — resolvers and
  HTTP clients disagree about what those mean;
- every address the host resolves to (all of them: one bad answer among good ones is refused) must be public:
  not loopback, private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10), CGNAT (100.64/10), multicast,
  unspecified, reserved or documentation space; an IPv4-mapped or NAT64 IPv6 address is judged by the IPv4 address
  inside it. `HEARTH_WEBHOOKS_ALLOW_PRIVATE=1` lifts this range check — except for the cloud metadata addresses
  (169.254.169.254, fd00:ec2::254), the unspecified address and multicast, which are refused always.

The connection then goes to exactly the address that was checked (`Target.address`: the delivery pins it, sending
the original name as Host and TLS SNI, so the certificate is still verified for the name): a second DNS answer
cannot slip in between the check and the connect. The resolver is injectable (`Resolver`), so tests can point a
name at any address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

URL_MAX_LENGTH = 2048
# A resolver that hangs must not hold a registration or a delivery: after this long the host "does not resolve".
RESOLVE_TIMEOUT_SECONDS = 5.0
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port → the addresses it resolves to (a name that does not resolve: OSError, or an empty list).
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(ValueError):
    """The URL or an address it resolves to may not be a webhook's target; the message says why (for people)."""


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The host's addresses as the operating system resolves them (getaddrinfo, in the loop's thread pool)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why a webhook may not connect to `address` (a sentence for people), or None when it may."""
    inner = embedded_ipv4(address)
    if address in METADATA or inner in METADATA:
        return f"resolves to {address}, a cloud metadata address"
    if inner.is_unspecified:
        return f"resolves to {address}, the unspecified address"
    if inner.is_multicast:
        return f"resolves to {address}, a multicast address"
    if allow_private:
        return None
    if inner.is_loopback:
        return f"resolves to {address}, a loopback address"
    if inner.is_link_local:
        return f"resolves to {address}, a link-local address"
    if isinstance(inner, ipaddress.IPv4Address) and inner in _CGNAT:
        return f"resolves to {address}, a carrier-grade NAT address"
    if inner.is_private:
        return f"resolves to {address}, a private address"
    if inner.is_reserved or not inner.is_global:
        return f"resolves to {address}, a reserved address"
    return None


@dataclass(frozen=True)
class Endpoint:
    """A URL that passed the rules of the URL itself (not yet its addresses)."""

    url: str
    scheme: str
    host: str
    port: int
    # The literal address when the URL names one (no DNS then).
    literal: IPAddress | None

    @property
    def host_header(self) -> str:
        """The Host header: the name (an IPv6 literal in brackets) with a port that is not the scheme's default."""
        host = f"[{self.host}]" if isinstance(self.literal, ipaddress.IPv6Address) else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Target:
    """An endpoint and the one checked address to connect to."""

    endpoint: Endpoint
    address: IPAddress

    def pinned_url(self) -> str:
        """The URL with the host replaced by the checked address (the connection goes there, nowhere else)."""
        parts = urlsplit(self.endpoint.url)
        host = f"[{self.address}]" if isinstance(self.address, ipaddress.IPv6Address) else str(self.address)
        return SplitResult(parts.scheme, f"{host}:{self.endpoint.port}", parts.path, parts.query, "").geturl()


def _numeric_ipv4_form(host: str) -> bool:
    """Whether `host` is an IPv4 address in a form other than canonical dotted decimal (inet_aton reads it)."""
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def parse(url: str, *, allow_private: bool) -> Endpoint:
    """The endpoint of a URL that keeps the URL rules (module docstring); Refused otherwise."""
    if len(url) > URL_MAX_LENGTH:
        raise Refused(f"must be at most {URL_MAX_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise Refused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if allow_private else ("https",)
    if scheme not in allowed:
        if allow_private:
            raise Refused("must be an http or https URL")
        raise Refused("must be an https URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise Refused("must not contain a user name or password")
    if parts.fragment or url.endswith("#"):
        raise Refused("must not have a fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise Refused("must name a host")
    literal: IPAddress | None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
        if _numeric_ipv4_form(host):
            raise Refused("must write an IPv4 address in dotted decimal (a.b.c.d)") from None
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise Refused("has a host name that is not valid") from None
    if literal is not None and isinstance(literal, ipaddress.IPv6Address) and literal.scope_id:
        raise Refused("must not name an IPv6 zone")
    return Endpoint(url, scheme, host, port or (443 if scheme == "https" else 80), literal)


async def resolve(
    endpoint: Endpoint, resolver: Resolver, *, allow_private: bool, timeout: float = RESOLVE_TIMEOUT_SECONDS
) -> Target:
    """The endpoint with the address to connect to, once every address its host resolves to is allowed."""
    if endpoint.literal is not None:
        addresses: list[IPAddress] = [endpoint.literal]
    else:
        try:
            async with asyncio.timeout(timeout):
                addresses = await resolver(endpoint.host, endpoint.port)
        except (OSError, UnicodeError, TimeoutError):
            addresses = []
        if not addresses:
            raise Refused(f"has a host that does not resolve: {endpoint.host}")
    for address in addresses:
        if (refusal := address_refusal(address, allow_private=allow_private)) is not None:
            raise Refused(refusal)
    return Target(endpoint, addresses[0])


async def check(
    url: str, resolver: Resolver, *, allow_private: bool, timeout: float = RESOLVE_TIMEOUT_SECONDS
) -> Target:
    """`parse`, then `resolve`: the target to connect to, or Refused."""
    endpoint = parse(url, allow_private=allow_private)
    return await resolve(endpoint, resolver, allow_private=allow_private, timeout=timeout)


__all__ = [
    "METADATA",
    "RESOLVE_TIMEOUT_SECONDS",
    "URL_MAX_LENGTH",
    "Endpoint",
    "Refused",
    "Resolver",
    "Target",
    "address_refusal",
    "check",
    "embedded_ipv4",
    "parse",
    "resolve",
    "system_resolver",
]
