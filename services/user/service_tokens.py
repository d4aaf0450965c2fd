"""Service tokens: the credential other services use for background work (DESIGN.md, "Trust between services").

A service proves who it is with its own secret (client credentials); the user service knows every service's
secret as one file per service in `USER_SERVICE_SECRETS_DIR` (`task`, `notify`, ... each holding that
service's `<NAME>_SERVICE_SECRET`), read at every request, so a secret is rotated by replacing its file.
Secrets are compared in constant time, and an unknown service costs the same comparison as a known one.

The token: an EdDSA JWT signed by user's key, `sub=service:<name>`, `aud=<HEARTH_JWT_AUDIENCE>:<callee>` for
one of the Hearth services, `typ=service` (so it can never pass as an access token), valid for
`SERVICE_TOKEN_TTL`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from google.protobuf.timestamp_pb2 import Timestamp
from hearth.user.v1 import user_pb2, user_pb2_grpc

from kit.auth import SERVICE_SUBJECT_PREFIX, SERVICE_TYPE, service_audience
from kit.errors import InvalidArgument, Unauthenticated, invalid
from kit.ids import new_id
from services.deployment import SERVICES
from services.user.keys import SigningKey

log = logging.getLogger("hearth.user.service_tokens")

SERVICE_TOKEN_TTL = timedelta(minutes=5)
# The services a token may be meant for (its audience names one).
CALLEES: tuple[str, ...] = SERVICES
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# Compared against when the service is unknown, so a wrong name takes as long as a wrong secret.
_NOBODY = hashlib.sha256(b"hearth: no such service").digest()


def issue_service_token(
    key: SigningKey, *, service: str, audience: str, issuer: str, ttl: timedelta, now: datetime
) -> str:
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": f"{SERVICE_SUBJECT_PREFIX}{service}",
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": str(new_id()),
        "typ": SERVICE_TYPE,
    }
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


class ServiceSecrets:
    """The services' secrets, one file per service under `directory` (None: no service is known)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def _digest(self, service: str) -> bytes | None:
        if self.directory is None:
            return None
        path = self.directory / service
        try:
            secret = path.read_text().strip()
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            return None
        return hashlib.sha256(secret.encode()).digest() if secret else None

    def verify(self, service: str, secret: str) -> bool:
        known = self._digest(service) if SERVICE_NAME.fullmatch(service) else None
        given = hashlib.sha256(secret.encode()).digest()
        matches = hmac.compare_digest(given, known or _NOBODY)
        return matches and known is not None


class ServiceTokenServicer(user_pb2_grpc.ServiceTokenServiceServicer):
    def __init__(
        self,
        key: SigningKey,
        secrets: ServiceSecrets,
        *,
        issuer: str,
        audience: str,
        ttl: timedelta = SERVICE_TOKEN_TTL,
        callees: Iterable[str] = CALLEES,
    ) -> None:
        self._key = key
        self._secrets = secrets
        self._issuer = issuer
        self._ttl = ttl
        self._audiences = {service_audience(audience, callee) for callee in callees}

    async def IssueServiceToken(
        self, request: user_pb2.IssueServiceTokenRequest, context: Any
    ) -> user_pb2.ServiceToken:
        if not request.service or not request.secret:
            raise InvalidArgument("service and secret are required")
        if request.audience not in self._audiences:
            raise invalid("audience", f"must be one of {', '.join(sorted(self._audiences))}")
        if not self._secrets.verify(request.service, request.secret):
            log.warning(
                "service token refused: unknown service or wrong secret", extra={"caller": request.service[:32]}
            )
            raise Unauthenticated("unknown service or wrong secret")
        now = datetime.now(UTC)
        token = issue_service_token(
            self._key, service=request.service, audience=request.audience, issuer=self._issuer, ttl=self._ttl, now=now
        )
        expire = Timestamp()
        expire.FromDatetime(now.replace(microsecond=0) + self._ttl)
        return user_pb2.ServiceToken(token=token, expire_time=expire)


__all__ = ["CALLEES", "SERVICE_TOKEN_TTL", "ServiceSecrets", "ServiceTokenServicer", "issue_service_token"]
