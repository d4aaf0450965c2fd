"""The analytics database: read models built only from events (members, completions)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

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


class Member(Base):
    """Household membership as told by member.* events (a `kit.projection.Projection`).

    Events may arrive out of order, so a row remembers the event time of the newest event applied
    (`as_of`) and older events never overwrite newer facts; a member who left keeps a row with
    `left_at` set (a tombstone), so a late member.joined cannot resurrect them. Analytics serves ids, not
    names (clients have the members list), so it keeps none.
    """

    __tablename__ = "members"

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # "owner", "admin", "member" or "child"; None until a member.joined/updated names it.
    role: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    joined_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    as_of: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    # When each field was last set, by event time (kit.projection keeps it: newest wins per field).
    versions: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    left_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


class Completion(Base):
    """The completions fact table: one row per chore.completed (keyed by the completion, not the event)."""

    __tablename__ = "completions"
    __table_args__ = (
        # Window queries: a household's completions in [start, end).
        sa.Index("ix_completions_household_id_completed_at", "household_id", "completed_at"),
        # Streaks: one member's days with a completion.
        sa.Index("ix_completions_household_id_user_id_completed_at", "household_id", "user_id", "completed_at"),
    )

    completion_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    chore_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # Who did it (ChoreCompleted.completed_by).
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    completed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    due_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    on_time: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    points: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    estimated_minutes: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)


outbox = outbox_table(Base.metadata)
inbox = inbox_table(Base.metadata)
