"""missed occurrences: one row per chore.overdue, and completions by chore and due time

`missed_occurrences` is what makes `overdue`, a member's `missed` and `completion_rate` (completions / completions
+ misses) derivable from events. `ix_completions_chore_id_due_at` answers whether a missed occurrence of a one-off
chore (which keeps its due time) was completed late after all. The downgrade drops both; the events that filled
the table stay in the task stream only as long as its retention.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "missed_occurrences",
        sa.Column("occurrence_id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("chore_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("penalty_points", sa.Integer(), nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.PrimaryKeyConstraint("occurrence_id", name="pk_missed_occurrences"),
    )
    op.create_index("ix_missed_occurrences_household_id_due_at", "missed_occurrences", ["household_id", "due_at"])
    op.create_index("ix_missed_occurrences_user_id", "missed_occurrences", ["user_id"])
    op.create_index("ix_completions_chore_id_due_at", "completions", ["chore_id", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_completions_chore_id_due_at", table_name="completions")
    op.drop_table("missed_occurrences")
