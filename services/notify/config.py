"""Settings of the notify service (NOTIFY_* variables plus the deployment-wide ones)."""

from __future__ import annotations

import secrets
from email.utils import parseaddr
from pathlib import Path
from typing import ClassVar, Self

from email_validator import EmailNotValidError, validate_email
from pydantic import Field, SecretStr, field_validator, model_validator

from kit.cron import Cron
from kit.settings import alias, service_config
from services.deployment import HOST, PORTS
from services.user.client import MembershipSettings

# Where `make run`'s mail sink (services.notify.mailsink) listens, and so where notify sends by default.
MAILSINK_PORT = 8025


class Settings(MembershipSettings):
    service: ClassVar[str] = "notify"
    model_config = service_config("notify")

    grpc_port: int = Field(default=PORTS["notify"])

    # Outgoing mail (services.notify.delivery): the SMTP server every mail goes to, NOTIFY_SMTP_HOST/_PORT (default:
    # the local mail sink `make run` starts). NOTIFY_SMTP_USERNAME/_PASSWORD log in (AUTH) when set;
    # NOTIFY_SMTP_STARTTLS upgrades the connection with STARTTLS, NOTIFY_SMTP_IMPLICIT_TLS speaks TLS from the first
    # byte (port 465) — at most one of the two; certificates are verified either way. NOTIFY_SMTP_FROM is the From
    # header and envelope sender; each SMTP conversation is bounded by NOTIFY_SMTP_TIMEOUT_SECONDS.
    smtp_host: str = Field(default=HOST)
    smtp_port: int = Field(default=MAILSINK_PORT, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_implicit_tls: bool = False
    smtp_from: str = Field(default="Hearth <no-reply@hearth.example>")
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # A mail the server did not take is retried with jittered exponential backoff (kit.jobs.JitteredBackoff): the
    # n-th wait is 50-100 % of min(cap, base·2^n) seconds, NOTIFY_SMTP_MAX_ATTEMPTS sends in all (the default: about
    # 8.5 minutes of retrying at most), then the delivery is `failed`.
    smtp_max_attempts: int = Field(default=8, ge=1, le=50)
    smtp_retry_base_seconds: float = Field(default=2.0, gt=0)
    smtp_retry_cap_seconds: float = Field(default=300.0, gt=0)

    # Web Push (services.notify.push): the VAPID key notify signs every push with — NOTIFY_VAPID_PRIVATE_KEY (PEM, or
    # the raw 32-byte key base64url) or NOTIFY_VAPID_PRIVATE_KEY_FILE (a PEM file; `make run` generates
    # var/keys/vapid_private.pem); neither: Web Push is off (subscribing is refused, nothing is pushed).
    # NOTIFY_VAPID_SUBJECT is the contact a push service may write to (RFC 8292: mailto: or https:).
    vapid_private_key: SecretStr | None = None
    vapid_private_key_file: Path | None = None
    vapid_subject: str = Field(default="mailto:admin@hearth.example")
    # Subscription endpoints on loopback, private, link-local or metadata addresses (and plain http) are refused —
    # a browser's endpoint is a URL a client chose — unless the deployment allows private targets (`make run`, tests):
    # NOTIFY_PUSH_ALLOW_PRIVATE, or else what HEARTH_WEBHOOKS_ALLOW_PRIVATE says (`_push_follows_private_targets`).
    push_allow_private: bool = Field(
        default=False, validation_alias=alias("NOTIFY_PUSH_ALLOW_PRIVATE", "push_allow_private")
    )
    push_max_subscriptions: int = Field(default=10, ge=1, le=100)
    # How long a push service keeps a push for a browser that is offline (the TTL header).
    push_ttl_seconds: int = Field(default=86400, ge=0, le=2419200)
    # Bound of one push request, connection to answer.
    push_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # A push the push service did not take (5xx, 429, no answer) is retried like a mail (kit.jobs.JitteredBackoff).
    push_max_attempts: int = Field(default=6, ge=1, le=50)
    push_retry_base_seconds: float = Field(default=2.0, gt=0)
    push_retry_cap_seconds: float = Field(default=300.0, gt=0)

    @field_validator("vapid_subject")
    @classmethod
    def _vapid_contact(cls, value: str) -> str:
        if not value.startswith(("mailto:", "https://")):
            raise ValueError("NOTIFY_VAPID_SUBJECT must be a mailto: or https: URL (RFC 8292)")
        return value

    # Unsubscribe links in notify's own mails (services.notify.unsubscribe): HMAC-SHA256 under
    # NOTIFY_UNSUBSCRIBE_SECRET (at least 32 characters; the server and the worker must share it — `make run` keeps
    # one in var/keys; unset, each process makes up its own and links from another process do not verify), valid
    # NOTIFY_UNSUBSCRIBE_TOKEN_DAYS, pointing at NOTIFY_PUBLIC_API_URL (the gateway's /api/v1 as mail readers reach it).
    unsubscribe_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)), min_length=32)
    unsubscribe_token_days: int = Field(default=90, ge=1, le=3650)
    public_api_url: str = Field(default="http://localhost:8080/api/v1", pattern=r"^https?://[^\s]+[^/\s]$")
    # When the weekly household summary goes out (cron, UTC; services.notify.summary): Mondays 07:00 by default,
    # about the ISO week before.
    weekly_summary_cron: Cron = Field(default="0 7 * * 1")

    # Webhooks (services.notify.webhooks, services.notify.webhook_delivery).
    # HEARTH_WEBHOOKS_ALLOW_PRIVATE=1 lets endpoints resolve to loopback and private ranges (metadata addresses stay
    # refused): for `make run` and tests that deliver to 127.0.0.1, never for a deployment reachable from outside.
    webhooks_allow_private: bool = Field(
        default=False, validation_alias=alias("HEARTH_WEBHOOKS_ALLOW_PRIVATE", "webhooks_allow_private")
    )
    # NOTIFY_WEBHOOK_KEY: the key endpoint secrets are encrypted under at rest (Fernet, under an HKDF-SHA256 key
    # derived from it); unset, it is derived from NOTIFY_SERVICE_SECRET. Changing it makes the stored secrets
    # unreadable: endpoints must then rotate their secret.
    webhook_key: SecretStr | None = Field(default=None, min_length=16)
    webhooks_per_household: int = Field(default=10, ge=1, le=100)
    # Each delivery is tried up to NOTIFY_WEBHOOK_MAX_ATTEMPTS times; the n-th wait is 50-100 % of
    # min(cap, base·2^n) seconds (kit.backoff). The defaults (20 attempts, 5 s, capped at 8 h) retry for 29.7 to
    # 59.4 hours before a delivery is `dead` (README "Webhooks" has the schedule).
    webhook_max_attempts: int = Field(default=20, ge=1, le=50)
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0)
    webhook_retry_cap_seconds: float = Field(default=8 * 3600.0, gt=0)
    # Connect and read timeouts of one attempt (each at most 10 s: a hanging receiver holds a worker that long).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=10)
    # After this many deliveries in a row end dead (and no success between), the endpoint is disabled.
    webhook_disable_after_dead: int = Field(default=3, ge=1, le=100)
    # The delivery log keeps finished deliveries (succeeded, dead) this many days; the prune job runs on the cron.
    webhook_log_retention_days: float = Field(default=30.0, gt=0)
    webhook_prune_cron: Cron = Field(default="23 3 * * *")

    # The household live logs (services.notify.live): entries kept per household (about; XADD MAXLEN ~), for how long
    # after the last one, the heartbeat of every live stream (it refreshes the connection's presence, which lapses
    # after three missed ones, and asks again whether the listener is still a member), how long a stream ticket
    # lasts (≤ 60 s), how many entries a stream may fall behind before it is dropped, and how many live connections
    # one member may hold open to one household.
    live_maxlen: int = Field(default=1000, ge=10, le=100_000)
    live_retention_seconds: int = Field(default=86_400, ge=60)
    live_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    live_ticket_ttl_seconds: int = Field(default=60, ge=1, le=60)
    live_buffer: int = Field(default=1000, ge=1, le=100_000)
    live_max_connections_per_user: int = Field(default=20, ge=0)
    # How often a notify process announces offline the members whose connections expired without closing.
    live_sweep_seconds: float = Field(default=5.0, gt=0)

    @field_validator("smtp_from")
    @classmethod
    def _from_address(cls, value: str) -> str:
        _, address = parseaddr(value)
        try:
            validate_email(address, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValueError(f"NOTIFY_SMTP_FROM must be an address, or 'Name <address>': {exc}") from None
        return value

    @model_validator(mode="after")
    def _push_follows_private_targets(self) -> Self:
        # Not a second alias HEARTH_WEBHOOKS_ALLOW_PRIVATE on push_allow_private: pydantic-settings cannot have two
        # fields on one name — given both by name it raised KeyError, and one given by name overrode the other.
        if "push_allow_private" not in self.model_fields_set:
            self.push_allow_private = self.webhooks_allow_private
        return self

    @model_validator(mode="after")
    def _one_tls_mode(self) -> Self:
        if self.smtp_starttls and self.smtp_implicit_tls:
            raise ValueError("set NOTIFY_SMTP_STARTTLS or NOTIFY_SMTP_IMPLICIT_TLS, not both")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("NOTIFY_SMTP_USERNAME and NOTIFY_SMTP_PASSWORD go together")
        if self.vapid_private_key is not None and self.vapid_private_key_file is not None:
            raise ValueError("set NOTIFY_VAPID_PRIVATE_KEY or NOTIFY_VAPID_PRIVATE_KEY_FILE, not both")
        return self
