"""The user database: accounts, sessions (refresh tokens), households, memberships, invites, request ids."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kit.db import make_base
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


outbox = outbox_table(Base.metadata)
# Request ids of Register, CreateHousehold and CreateInvite (kit.idempotency).
idempotency_keys = idempotency_table(Base.metadata)
