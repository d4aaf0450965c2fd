"""One Redis ACL user per service: what each may touch in Redis (DESIGN.md, "Trust between services").

Redis is a trust boundary: a process that can write any key can forge an event every consumer believes, or
plant a cache entry. So each service connects as its own ACL user `<namespace>-<service>` that may:

- use any key and pub/sub channel under its own prefix `{namespace}:{service}:*` (cache, generations, ...),
  with every command but the dangerous and admin ones, FUNCTION, SCRIPT FLUSH/KILL and the key listings
  (SCAN, RANDOMKEY: key names carry household and user ids of other services);
- append to its own event stream `{namespace}.events.{service}` (XADD; XLEN/XRANGE/XINFO to look; XDEL to erase a
  deleted person's entries, kit.erasure) — and no
  other: `XADD` to another service's stream is `NOPERM`;
- read the revoked sessions the user service keeps (`{namespace}:user:revoked-sessions`, ZRANGEBYSCORE/ZSCORE) and
  subscribe to their channel (kit.revocations);
- read the streams it consumes (`CONSUMES`) through its consumer group — XREADGROUP, XACK, XAUTOCLAIM,
  XPENDING, XGROUP CREATE, XINFO — but never append to them; and append dead letters to `<stream>.dead`.

The rules use Redis 7 ACL selectors (`(...)`: a command set paired with a key set), which Redis ≥ 7.0 and
Valkey understand. `make run` (scripts/run.py) creates these users on its embedded Valkey with passwords kept
under `var/`; the test stacks create them per test namespace (tests/support/stack.py) and remove them after.
The namespace must not contain glob characters (`*?[]\\`); ours are `hearth` and `t_<hex>`.

Left open by ACLs: a consumer may XACK or XAUTOCLAIM entries of another service's group on a stream it reads
(Redis ACLs cannot name consumer groups), so a compromised consumer can hide events from another consumer,
but it cannot forge one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlsplit, urlunsplit

# Who reads whose events; server.py's `runtime.consume([...])` of each service must stay within this
# (kit.runtime checks it at start-up, so the two cannot drift apart silently).
CONSUMES: Mapping[str, tuple[str, ...]] = {
    # The user service reads its own stream too: its `session.revoked` events feed the revocation set.
    "user": ("user",),
    "task": ("user",),
    # notify reads its own stream too: its live feeder puts notification.created into the recipient's live streams
    # (services.notify.live).
    "notify": ("user", "task", "notify"),
    "analytics": ("user", "task"),
    "gateway": (),
}
# The processes that talk to Redis; those with a stream of their own are the gRPC services.
CLIENTS: tuple[str, ...] = tuple(CONSUMES)
PRODUCERS: frozenset[str] = frozenset({"user", "task", "notify", "analytics"})

_GLOB = re.compile(r"[*?\[\]\\\s]")

# Besides -@dangerous and -@admin: commands of no key that reach beyond the service's own data.
_DENIED = ["-function", "-script|flush", "-script|kill", "-scan", "-randomkey", "-select", "-swapdb", "-move"]
# XDEL, XINFO GROUPS and XPENDING: erasing a deleted person's entries once every group has them (kit.erasure).
_OWN_STREAM = [
    "+xadd",
    "+xlen",
    "+xrange",
    "+xrevrange",
    "+xinfo|stream",
    "+xinfo|groups",
    "+xpending",
    "+xdel",
    "+xtrim",
]
_CONSUMED_STREAM = [
    "+xreadgroup",
    "+xack",
    "+xautoclaim",
    "+xpending",
    "+xgroup|create",
    "+xinfo|stream",
    "+xinfo|groups",
    "+xinfo|consumers",
    "+xlen",
    "+xrange",
]


def username(namespace: str, service: str) -> str:
    return f"{namespace}-{service}"


def stream(namespace: str, domain: str) -> str:
    return f"{namespace}.events.{domain}"


def rules(namespace: str, service: str, password: str, consumes: Iterable[str] | None = None) -> list[str]:
    """The `ACL SETUSER <username(namespace, service)>` arguments for `service` (reset first: idempotent)."""
    for part in (namespace, service):
        if not part or _GLOB.search(part):
            raise ValueError(f"{part!r} cannot be part of an ACL key pattern")
    if not password or _GLOB.search(password):
        raise ValueError("an ACL password must be non-empty, without glob characters or spaces")
    consumed = list(CONSUMES.get(service, ()) if consumes is None else consumes)
    prefix = f"{namespace}:{service}:*"
    args = ["reset", "on", f">{password}", f"~{prefix}", f"&{prefix}", "+@all", "-@dangerous", "-@admin", *_DENIED]
    if service != "user":
        # Every process checks tokens against the revoked sessions (kit.revocations): read the set, hear the channel.
        args.append(f"(~{namespace}:user:revoked-sessions +zrangebyscore +zscore +zcard)")
        args.append(f"&{namespace}:user:session-revocations")
    if service in PRODUCERS:
        args.append(f"(~{stream(namespace, service)} {' '.join(_OWN_STREAM)})")
    if consumed:
        keys = " ".join(f"~{stream(namespace, domain)}" for domain in consumed)
        args.append(f"({keys} {' '.join(_CONSUMED_STREAM)})")
        dead = " ".join(f"~{stream(namespace, domain)}.dead" for domain in consumed)
        args.append(f"({dead} +xadd)")
    return args


def url_with_credentials(url: str, user: str, password: str) -> str:
    """`url` (redis://host:port/db) logging in as `user` with `password`."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


__all__ = ["CLIENTS", "CONSUMES", "PRODUCERS", "rules", "stream", "url_with_credentials", "username"]
