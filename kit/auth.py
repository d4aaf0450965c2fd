"""Access-token verification, done locally in every service and the gateway (no call per request).

Tokens are EdDSA (Ed25519) JWTs signed by the user service; the public keys come from its JWKS
(`AuthService.GetJwks`), fetched once and refreshed when a token names a key id we do not know
(key rotation), at most once per `refresh_interval`. The algorithm is pinned: `alg: none`, HS256
with the public key as secret, and every other algorithm are refused before any key is touched.

Two kinds of token pass, told apart by `typ` and bound to their own audience (DESIGN.md, "Trust between
services"): an end user's access token (`typ=access`, `aud=<HEARTH_JWT_AUDIENCE>`), and a service token
(`typ=service`, `sub=service:<name>`, `aud=<HEARTH_JWT_AUDIENCE>:<callee>`, see `service_audience`) that
the user service issues to a service for background work. A token of one kind never passes as the other:
an access token carrying a service audience, a service token carrying the user audience, and a service
token for another callee are all refused. Which RPCs take which kind is kit.interceptors' business.

A verified token's caller is remembered (bounded, least recently used first out, keyed by the token's SHA-256)
until the token's `exp` and never beyond, so a client's repeated calls cost one signature check, not one each:
at `exp` the entry is dropped and the token verified in full (which refuses it as expired, with the same
leeway as ever). A JWKS refresh that changes the key set forgets every remembered token, and a remembered
token whose key is no longer published is verified again, so a key rotated out stops its tokens at once.
Only successes are remembered; a refused token is checked in full every time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
import jwt

from kit.context import Caller
from kit.errors import Unauthenticated
from kit.revocations import RevocationList

ALGORITHM = "EdDSA"
ACCESS_TYPE = "access"
SERVICE_TYPE = "service"
SERVICE_SUBJECT_PREFIX = "service:"
# Tokens remembered by one verifier: a few per active session, far more than one process sees within a token's life
# at our scale; the oldest unused goes first.
VERIFIED_CACHE_SIZE = 10_000
JwksSource = Callable[[], Awaitable[dict[str, Any]]]
# Every scope an API key may hold: the `option (hearth.options.v1.scope)` values the protos give their methods
# (kit/tests/test_auth.py holds the two together). A `:write` scope allows its `:read` too (`scope_allows`).
API_KEY_SCOPES = (
    "profile:read",
    "households:read",
    "households:write",
    "chores:read",
    "chores:write",
    "notifications:read",
    "notifications:write",
    "analytics:read",
)


def service_audience(audience: str, service: str) -> str:
    """The audience of service tokens meant for `service`: "hearth:user" for audience "hearth"."""
    return f"{audience}:{service}"


class TokenVerifier:
    def __init__(
        self,
        jwks_source: JwksSource,
        *,
        issuer: str,
        audience: str,
        service_audience: str | None = None,
        refresh_interval: float = 30.0,
        cache_size: int = VERIFIED_CACHE_SIZE,
        clock: Callable[[], float] = time.time,
        revocations: RevocationList | None = None,
    ) -> None:
        """`audience`: that of end users' access tokens; `service_audience`: that of service tokens meant for
        this service (None: no service token is accepted). `cache_size` verified tokens are remembered until
        their `exp` by `clock` (wall-clock seconds, as `exp` is; 0: none). `revocations`: the revoked sessions,
        asked about every access token's `sid` on every call, remembered or not (kit.revocations)."""
        self._source = jwks_source
        self._issuer = issuer
        self._audience = audience
        self._service_audience = service_audience
        self._refresh_interval = refresh_interval
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._jwks: dict[str, Any] | None = None
        self._cache_size = cache_size
        self._clock = clock
        self.revocations = revocations
        # sha256(token) → (caller, exp, kid), least recently used first
        self._verified: OrderedDict[bytes, tuple[Caller, float, str]] = OrderedDict()

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < self._refresh_interval and self._keys:
                return
            jwks = await self._source()
            self._keys = {k["kid"]: jwt.PyJWK(k) for k in jwks.get("keys", []) if k.get("kid")}
            self._fetched_at = time.monotonic()
            if jwks != self._jwks:  # keys added, removed or replaced: nothing verified before stands
                self._verified.clear()
                self._jwks = jwks

    async def _key(self, kid: str) -> jwt.PyJWK:
        if kid not in self._keys:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("access token signed by an unknown key")
        return key

    async def verify(self, token: str) -> Caller:
        """The caller the token proves, or Unauthenticated for anything wrong with the token.

        The one other exception is the JWKS source's own failure (the user service unreachable): an outage
        is not the caller's fault, so it surfaces as UNAVAILABLE, never as a 401 that logs users out.
        """
        digest = hashlib.sha256(token.encode()).digest()
        remembered = self._verified.get(digest)
        if remembered is not None:
            caller, expires, kid = remembered
            if self._clock() < expires and kid in self._keys:
                self._verified.move_to_end(digest)
                self._check_revoked(caller)
                return caller
            del self._verified[digest]  # expired or its key gone: verified in full, as the first time
        caller, expires, kid = await self._verify(token)
        self._check_revoked(caller)
        if self._cache_size > 0:
            self._verified[digest] = (caller, expires, kid)
            while len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return caller

    def _check_revoked(self, caller: Caller) -> None:
        if self.revocations is not None and caller.session_id:
            self.revocations.check(caller.session_id, caller.issued_at)

    async def _verify(self, token: str) -> tuple[Caller, float, str]:
        """The caller, the token's `exp` and its key id; Unauthenticated for anything wrong with the token."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("malformed access token") from exc
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated("access token algorithm not accepted")
        kid = str(header.get("kid", ""))
        key = await self._key(kid)
        audiences = [self._audience, *([self._service_audience] if self._service_audience else [])]
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                audience=audiences,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("access token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("invalid access token") from exc
        kind, subject, aud = claims.get("typ"), str(claims["sub"]), claims.get("aud")
        expires = float(claims["exp"])  # a number: jwt.decode has checked it
        if kind == SERVICE_TYPE:
            # Bound to this service exactly: a list of audiences or the users' audience does not do.
            name = subject.removeprefix(SERVICE_SUBJECT_PREFIX)
            if aud != self._service_audience or not subject.startswith(SERVICE_SUBJECT_PREFIX) or not name:
                raise Unauthenticated("invalid service token")
            return Caller(user_id="", token=token, service=name), expires, kid
        if kind != ACCESS_TYPE:
            raise Unauthenticated("not an access token")
        if aud != self._audience or subject.startswith(SERVICE_SUBJECT_PREFIX):
            raise Unauthenticated("invalid access token")
        scope, api_key = claims.get("scope", ""), claims.get("akid", "")
        if api_key and not (isinstance(api_key, str) and isinstance(scope, str)):
            raise Unauthenticated("invalid access token")
        caller = Caller(
            user_id=subject,
            token=token,
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            session_id=str(claims.get("sid", "")),
            api_key_id=str(api_key),
            issued_at=float(claims["iat"]),
            auth_time=_number(claims.get("auth_time"), default=float(claims["iat"])),
        )
        return caller, expires, kid


def scope_allows(scopes: frozenset[str], required: str) -> bool:
    """Whether an API key's `scopes` allow a method needing `required` ("" = closed to API keys): the scope
    itself, or the same resource's `:write` for a `:read` (a key that may change chores may read them)."""
    if not required:
        return False
    if required in scopes:
        return True
    resource, _, action = required.rpartition(":")
    return action == "read" and f"{resource}:write" in scopes


def _number(value: object, *, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None when absent or another scheme."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def grpc_jwks_source(channel: grpc.aio.Channel) -> JwksSource:
    """Fetch the JWKS from the user service over gRPC (imports kept local: kit must not need user's stubs)."""
    from hearth.user.v1 import user_pb2, user_pb2_grpc

    stub = user_pb2_grpc.AuthServiceStub(channel)

    async def fetch() -> dict[str, Any]:
        response = await stub.GetJwks(user_pb2.GetJwksRequest(), timeout=5)
        return dict(json.loads(response.json))

    return fetch


def _method_options(service_names: Iterable[str]) -> Iterable[tuple[str, Any]]:
    """(`/package.Service/Method`, its MethodOptions) of every method of `service_names` whose descriptors are
    loaded (imports kept local: kit must not need the services' stubs at import time)."""
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    for name in service_names:
        try:
            service = pool.FindServiceByName(name)
        except KeyError:
            continue
        for method in service.methods:
            yield f"/{service.full_name}/{method.name}", method.GetOptions()


def internal_methods(service_names: Iterable[str]) -> frozenset[str]:
    """The methods of `service_names` marked `option (hearth.options.v1.internal) = true` in their proto (the one
    place that says which RPCs are for services only). Services whose descriptors are not loaded have none."""
    from hearth.options.v1 import options_pb2

    # The extension's descriptor (protoc's .pyi types it as a plain FieldDescriptor).
    internal: Any = options_pb2.internal
    return frozenset(method for method, options in _method_options(service_names) if options.Extensions[internal])


def method_scopes(service_names: Iterable[str]) -> dict[str, str]:
    """Method → the API-key scope it needs (`option (hearth.options.v1.scope)`); methods without one are absent
    (closed to API keys)."""
    from hearth.options.v1 import options_pb2

    scope: Any = options_pb2.scope
    return {
        method: options.Extensions[scope]
        for method, options in _method_options(service_names)
        if options.Extensions[scope]
    }
