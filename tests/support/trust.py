"""Per-stack credentials, as a deployment has them: a service secret per service (for service tokens) and a
Redis ACL user per process (kit.redis_acl), created on the test Redis for the stack's namespace only.

The test harness itself keeps using Redis's default user (it publishes forged events and reads what the
services wrote); the services and the gateway connect as their own users, so a test sees what each may do.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

from kit import redis_acl


@dataclass
class Credentials:
    namespace: str
    secrets_dir: Path
    # service → its <NAME>_SERVICE_SECRET (the user service reads them all from `secrets_dir`).
    service_secrets: dict[str, str] = field(default_factory=dict)
    # process ("task", "gateway", ...) → its REDIS_URL, logging in as its own ACL user.
    redis_urls: dict[str, str] = field(default_factory=dict)
    redis_passwords: dict[str, str] = field(default_factory=dict)


async def provision(namespace: str, redis_url: str, services: tuple[str, ...]) -> Credentials:
    creds = Credentials(namespace, Path(tempfile.mkdtemp(prefix="hearth-service-secrets-")))
    for service in services:
        secret = secrets.token_urlsafe(32)
        creds.service_secrets[service] = secret
        (creds.secrets_dir / service).write_text(secret)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        for process in redis_acl.CLIENTS:
            password = secrets.token_urlsafe(24)
            user = redis_acl.username(namespace, process)
            await admin.execute_command(  # type: ignore[no-untyped-call]  # raw ACL rules: acl_setuser has no form for selectors
                "ACL", "SETUSER", user, *redis_acl.rules(namespace, process, password)
            )
            creds.redis_passwords[process] = password
            creds.redis_urls[process] = redis_acl.url_with_credentials(redis_url, user, password)
    finally:
        await admin.aclose()
    return creds


async def revoke(creds: Credentials, redis_url: str) -> None:
    admin = aioredis.Redis.from_url(redis_url)
    try:
        users = [redis_acl.username(creds.namespace, process) for process in creds.redis_urls]
        if users:
            await admin.acl_deluser(*users)
    finally:
        await admin.aclose()
    shutil.rmtree(creds.secrets_dir, ignore_errors=True)


__all__ = ["Credentials", "provision", "revoke"]
