"""Settings of the notify service (NOTIFY_* variables plus the deployment-wide ones)."""

from __future__ import annotations

from email.utils import parseaddr
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
    def _one_tls_mode(self) -> Self:
        if self.smtp_starttls and self.smtp_implicit_tls:
            raise ValueError("set NOTIFY_SMTP_STARTTLS or NOTIFY_SMTP_IMPLICIT_TLS, not both")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("NOTIFY_SMTP_USERNAME and NOTIFY_SMTP_PASSWORD go together")
        return self
