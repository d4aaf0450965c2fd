"""Settings of the notify service (NOTIFY_* variables plus the deployment-wide ones)."""

from __future__ import annotations

from email.utils import parseaddr
from typing import ClassVar, Self

from email_validator import EmailNotValidError, validate_email
from pydantic import Field, SecretStr, field_validator, model_validator

from kit.settings import service_config
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
    def _one_tls_mode(self) -> Self:
        if self.smtp_starttls and self.smtp_implicit_tls:
            raise ValueError("set NOTIFY_SMTP_STARTTLS or NOTIFY_SMTP_IMPLICIT_TLS, not both")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("NOTIFY_SMTP_USERNAME and NOTIFY_SMTP_PASSWORD go together")
        return self
