"""The analytics database: read models built only from events (members, completions, missed occurrences), and
what erasure leaves behind so that late events cannot undo it (erased users, deleted households)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, JSONB, UUID
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
        # One person's completions in every household (erasure on user.deleted, export).
        sa.Index("ix_completions_user_id", "user_id"),
        # Whether a missed occurrence was done late after all (a one-off chore keeps its due time).
        sa.Index("ix_completions_chore_id_due_at", "chore_id", "due_at"),
    )

    completion_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    chore_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # Who did it (ChoreCompleted.completed_by); DELETED_USER once their account is deleted.
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    completed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    due_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    on_time: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    points: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    estimated_minutes: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)


class MissedOccurrence(Base):
    """Occurrences that were never done: one row per chore.overdue (keyed by the occurrence, not the event).

    The task service marks an occurrence missed once, at its due time + grace; the row is a fact that does not
    change, so a redelivered event adds nothing. A one-off chore that stays overdue and is then completed late
    keeps its row: stats leave it out while a completion of that chore and due time exists (see repository.py).
    """

    __tablename__ = "missed_occurrences"
    __table_args__ = (
        # Window queries: a household's misses due in [start, end).
        sa.Index("ix_missed_occurrences_household_id_due_at", "household_id", "due_at"),
        # One person's misses in every household (erasure on user.deleted, export).
        sa.Index("ix_missed_occurrences_user_id", "user_id"),
    )

    occurrence_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    chore_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # Who held it (ChoreOverdue.assignee_id); None when nobody did; DELETED_USER once their account is deleted.
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    due_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    penalty_points: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)


# Whom a deleted person's completions are attributed to: one marker for everyone deleted (the nil UUID), so the
# household's totals stay whole and nothing ties a deleted person's completions together.
DELETED_USER = uuid.UUID(int=0)


def erasure_key(user_id: uuid.UUID) -> bytes:
    """How an erased user is remembered: SHA-256 of their id (a UUIDv7's random part cannot be guessed back)."""
    return hashlib.sha256(user_id.bytes).digest()


class ErasedUser(Base):
    """A person whose account was deleted (user.deleted), by `erasure_key` only: their id is not kept. Events
    about them still on their way (a chore.completed published before the deletion, read from the task stream
    after the user stream's user.deleted) are recorded as DELETED_USER's."""

    __tablename__ = "erased_users"

    user_key: Mapped[bytes] = mapped_column(BYTEA, primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class DeletedHousehold(Base):
    """A household that was deleted (household.deleted): its rows are gone, and events about it that arrive
    late are dropped instead of starting it again. A household id names no person."""

    __tablename__ = "deleted_households"

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


outbox = outbox_table(Base.metadata)
inbox = inbox_table(Base.metadata)
