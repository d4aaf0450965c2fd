"""The credentials `make run` gives each process (DESIGN.md, "Trust between services"), kept under `var/`.

- `var/service-secrets/<service>` (or `$USER_SERVICE_SECRETS_DIR/<service>`): each service's own secret
  (`<NAME>_SERVICE_SECRET`), exchanged with the user service for service tokens; user reads the directory.
- `var/redis-acl/<process>`: the password of each process's Redis ACL user (kit.redis_acl), and of `default`.

All are generated on first use (files 0600, directories 0700) and reused afterwards. On the embedded Valkey that
run.py starts, the ACL users are (re)created at every start (Valkey keeps them in memory only) and the default
user gets a password too, so nothing on the machine reaches the data without one; `say` prints how to connect as
the admin. With an external `REDIS_URL`, its ACL users are the operator's business: every process then uses
that URL as given.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from kit import redis_acl
from services.deployment import CREDENTIALED


def secret_file(path: Path, *, length: int = 32) -> str:
    """The secret in `path`, created (mode 0600, directory 0700) when it does not exist yet."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(length))
    return path.read_text().strip()


def service_secrets(directory: Path) -> dict[str, str]:
    return {service: secret_file(directory / service) for service in CREDENTIALED}


def redis_users(var: Path, admin_url: str, namespace: str) -> tuple[str, dict[str, str]]:
    """Create every process's ACL user on the (embedded) server at `admin_url`, then password the default user.

    Returns the admin URL (the default user with its password) and each process's REDIS_URL."""
    import redis

    directory = var / "redis-acl"
    admin_password = secret_file(directory / "default", length=24)
    client = redis.Redis.from_url(admin_url)
    try:
        try:
            client.ping()
        except redis.AuthenticationError:  # already passworded by an earlier start of this server
            client = redis.Redis.from_url(redis_acl.url_with_credentials(admin_url, "default", admin_password))
        urls = {}
        for process in redis_acl.CLIENTS:
            password = secret_file(directory / process, length=24)
            user = redis_acl.username(namespace, process)
            client.execute_command(  # type: ignore[no-untyped-call]  # raw ACL rules: acl_setuser has no form for selectors
                "ACL", "SETUSER", user, *redis_acl.rules(namespace, process, password)
            )
            urls[process] = redis_acl.url_with_credentials(admin_url, user, password)
        client.acl_setuser("default", enabled=True, reset_passwords=True, passwords=[f"+{admin_password}"])
    finally:
        client.close()
    return redis_acl.url_with_credentials(admin_url, "default", admin_password), urls


def child_environments(secrets_dir: Path, redis_urls: dict[str, str] | None) -> dict[str, dict[str, str]]:
    """What each process ("task", "gateway"; a service's workers take their service's) gets on top of the common
    environment: its own service secret (user: the directory of all of them) and its own REDIS_URL."""
    directory = secrets_dir
    secrets_by_service = service_secrets(directory)
    own: dict[str, dict[str, str]] = {}
    for process in CREDENTIALED:
        env = {}
        if process in secrets_by_service:
            env[f"{process.upper()}_SERVICE_SECRET"] = secrets_by_service[process]
        if process == "user":
            env["USER_SERVICE_SECRETS_DIR"] = str(directory)
        if redis_urls is not None:
            env["REDIS_URL"] = redis_urls[process]
        own[process] = env
    return own


__all__ = ["child_environments", "redis_users", "secret_file", "service_secrets"]
