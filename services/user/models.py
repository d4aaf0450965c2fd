"""The user database: accounts, credentials (sessions, MFA, API keys, reset tokens), households, memberships,
invites, away periods, the audit log, exports, request ids."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kit.db import make_base
from kit.events import inbox_table
from kit.idempotency import idempotency_table
from kit.outbox import outbox_table

if TYPE_CHECKING:  # mypy cannot use a base class returned by a function; the runtime one is make_base()'s

    class Base(DeclarativeBase):
        pass

else:
    Base = make_base()

_TS = sa.DateTime(timezone=True)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # Emails are unique case-insensitively; stored normalised (lower case) anyway.
        sa.Index("uq_users_email", sa.func.lower(sa.text("email")), unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    email: Mapped[str] = mapped_column(sa.Text, nullable=False)
    password_hash: Mapped[str] = mapped_column(sa.Text, nullable=False)
    display_name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    time_zone: Mapped[str] = mapped_column(sa.Text, nullable=False)
    locale: Mapped[str] = mapped_column(sa.Text, nullable=False)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default="1")
    create_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    update_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    # TOTP (services/user/mfa.py). Secrets are stored encrypted (Fernet under a key derived from the signing key):
    # a leaked database does not leak second factors. `totp_pending_secret`: enrolled, not yet activated.
    totp_secret: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    totp_pending_secret: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    # The last 30-second step whose code was accepted: a code is good once (RFC 6238 §5.2).
    totp_last_step: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, server_default="0")
    password_change_time: Mapped[datetime | None] = mapped_column(_TS, nullable=True)


class Session(Base):
    """One login: a chain of refresh tokens. Only the current token's hash is kept; presenting an
    older one (reuse of a spent token) revokes the whole session."""

    __tablename__ = "sessions"
    __table_args__ = (
        sa.Index("ix_sessions_user_id", "user_id"),
        sa.Index("uq_sessions_refresh_hash", "refresh_hash", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False)
    refresh_hash: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    generation: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default="1")
    user_agent: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default="")
    ip_address: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default="")
    create_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    last_used_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    expire_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    revoke_time: Mapped[datetime | None] = mapped_column(_TS, nullable=True)
    # When the person proved who they are for this session (the login); refreshes keep it (the `auth_time` claim).
    auth_time: Mapped[datetime | None] = mapped_column(_TS, nullable=True)


class SpentRefreshToken(Base):
    """Hashes of rotated-away refresh tokens, to recognise reuse (a stolen token) and revoke the session."""

    __tablename__ = "spent_refresh_tokens"

    refresh_hash: Mapped[bytes] = mapped_column(sa.LargeBinary, primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
    )
    spend_time: Mapped[datetime] = mapped_column(_TS, nullable=False)


class Household(Base):
    __tablename__ = "households"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    time_zone: Mapped[str] = mapped_column(sa.Text, nullable=False)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default="1")
    create_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    update_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    delete_time: Mapped[datetime | None] = mapped_column(_TS, nullable=True)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        sa.CheckConstraint("role IN ('owner', 'admin', 'member', 'child')", name="role"),
        # "The caller's households" and "one owner per household" both read this way.
        sa.Index("ix_memberships_user_id_household_id", "user_id", "household_id"),
        sa.Index("uq_memberships_owner", "household_id", unique=True, postgresql_where=sa.text("role = 'owner'")),
    )

    household_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("households.id"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), sa.ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(sa.Text, nullable=False)
    join_time: Mapped[datetime] = mapped_column(_TS, nullable=False)


class Invite(Base):
    __tablename__ = "invites"
    __table_args__ = (
        sa.CheckConstraint("role IN ('admin', 'member', 'child')", name="role"),
        sa.Index("uq_invites_code_hash", "code_hash", unique=True),
        sa.Index("ix_invites_household_id", "household_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), sa.ForeignKey("households.id"), nullable=False)
    # Only a hash of the code is stored: a leaked database does not leak working invites.
    code_hash: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    role: Mapped[str] = mapped_column(sa.Text, nullable=False)
    email: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default="")
    creator_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    create_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    expire_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    accept_time: Mapped[datetime | None] = mapped_column(_TS, nullable=True)
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)


class RecoveryCode(Base):
    """A single-use MFA recovery code (SHA-256 of it: the codes are random, 10 characters of base32)."""

    __tablename__ = "recovery_codes"

    code_hash: Mapped[bytes] = mapped_column(sa.LargeBinary, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    use_time: Mapped[datetime | None] = mapped_column(_TS, nullable=True)


class PasswordReset(Base):
    """A password-reset token: stored hashed, single use, short-lived."""

    __tablename__ = "password_resets"

    token_hash: Mapped[bytes] = mapped_column(sa.LargeBinary, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    create_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    expire_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    use_time: Mapped[datetime | None] = mapped_column(_TS, nullable=True)


class ApiKey(Base):
    """An API key: only its SHA-256 is stored (the key is hk_ + 32 random bytes: no KDF needed)."""

    __tablename__ = "api_keys"
    __table_args__ = (
        sa.Index("uq_api_keys_key_hash", "key_hash", unique=True),
        sa.Index("ix_api_keys_user_id_id", "user_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    prefix: Mapped[str] = mapped_column(sa.Text, nullable=False)
    key_hash: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), nullable=False)
    create_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    expire_time: Mapped[datetime | None] = mapped_column(_TS, nullable=True)
    last_use_time: Mapped[datetime | None] = mapped_column(_TS, nullable=True)
    revoke_time: Mapped[datetime | None] = mapped_column(_TS, nullable=True)


class Away(Base):
    """A member's away period (one per member and household; setting it again replaces it)."""

    __tablename__ = "away_periods"

    household_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("households.id"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    start_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    end_time: Mapped[datetime] = mapped_column(_TS, nullable=False)


class AuditEvent(Base):
    """The append-only log of security events (services/user/audit.py). Rows are never updated, except that
    erasing an account (GDPR) removes the person from the rows that name them."""

    __tablename__ = "audit_events"
    __table_args__ = (
        # A user's own events and a household's, newest first, keyset by id (UUIDv7: time-ordered).
        sa.Index("ix_audit_events_user_id_id", "user_id", "id", postgresql_where=sa.text("user_id IS NOT NULL")),
        sa.Index(
            "ix_audit_events_household_id_id",
            "household_id",
            "id",
            postgresql_where=sa.text("household_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    action: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # Whose log it is in: the account concerned (their own events) and/or the household.
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    household_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    target: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default="")
    ip_address: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default="")
    user_agent: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default="")
    correlation_id: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default="")
    details: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False, server_default="{}")
    create_time: Mapped[datetime] = mapped_column(_TS, nullable=False)


class Export(Base):
    """A data export (GDPR art. 15/20): made by a job, kept until `expire_time`."""

    __tablename__ = "exports"
    __table_args__ = (
        sa.CheckConstraint("state IN ('pending', 'done', 'failed')", name="state"),
        sa.Index("ix_exports_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    state: Mapped[str] = mapped_column(sa.Text, nullable=False)
    create_time: Mapped[datetime] = mapped_column(_TS, nullable=False)
    finish_time: Mapped[datetime | None] = mapped_column(_TS, nullable=True)
    expire_time: Mapped[datetime | None] = mapped_column(_TS, nullable=True)
    archive: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    error: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default="")


outbox = outbox_table(Base.metadata)
# Events this service consumes (its own session.revoked: services/user/revocation.py), deduplicated.
inbox = inbox_table(Base.metadata)
# Request ids of Register, CreateHousehold and CreateInvite (kit.idempotency).
idempotency_keys = idempotency_table(Base.metadata)
