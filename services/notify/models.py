"""The notify database: a read model of household membership (from user events) and the in-app inbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kit.db import make_base
from kit.events import inbox_table
from kit.outbox import outbox_table

if TYPE_CHECKING:  # mypy cannot use a base class returned by a function; the runtime one is make_base()'s

    class Base(DeclarativeBase):
        pass

else:
    Base = make_base()


class HouseholdMember(Base):
    """Who is in which household with what role, as member.* events tell it (a `kit.projection.Projection`).

    Events may arrive out of order, so each row keeps the time of the newest event applied to it (`as_of`)
    and an older event never overwrites a newer fact. A member who left keeps a row with `left_at` set (a
    tombstone), so a late `member.joined` cannot resurrect them.
    """

    __tablename__ = "household_members"

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # "owner", "admin", "member" or "child"; None until a member.joined/updated names it.
    role: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    as_of: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    # When each field was last set, by event time (kit.projection keeps it: newest wins per field).
    versions: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    left_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


class UserName(Base):
    """The display name of each user notify has heard of (member.joined carries it, user.updated renames).

    A name is not a membership fact: it has its own event time, so a late member.joined cannot bring back a
    name a later user.updated replaced, in any household.
    """

    __tablename__ = "user_names"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    as_of: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    # When each field was last set, by event time (kit.projection keeps it: newest wins per field).
    versions: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # One notification per event and recipient: redelivered events insert nothing.
        sa.UniqueConstraint("event_id", "user_id", name="uq_notifications_event_id_user_id"),
        # The inbox, newest first (keyset on create_time, id).
        sa.Index("ix_notifications_user_id_create_time_id", "user_id", "create_time", "id"),
        # The unread inbox and "mark all read" only touch unread rows: a partial index keeps them cheap.
        sa.Index(
            "ix_notifications_unread",
            "user_id",
            "create_time",
            "id",
            postgresql_where=sa.text("read_time IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # The event type that caused it, e.g. "chore.completed".
    type: Mapped[str] = mapped_column(sa.Text, nullable=False)
    title: Mapped[str] = mapped_column(sa.Text, nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # What it is about, by type; for chore.completed: chore_id, completion_id, completed_by, points.
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    read_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


outbox = outbox_table(Base.metadata)
inbox = inbox_table(Base.metadata)
