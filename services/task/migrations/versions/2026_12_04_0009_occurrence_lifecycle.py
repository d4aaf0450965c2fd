"""the occurrence lifecycle: when the open occurrence opened, and one row per occurrence that ended

`chores.open_time`: when the chore's open occurrence opened (services.task.scheduling `is_open`; NULL: open since
the chore or its schedule began, which is what every existing chore gets). A completion before it opens is
refused (409 not_due_yet), so a recurring chore cannot be run ahead of its schedule.

`occurrences`: one row per occurrence that ended (outcome done, skipped or missed), written in the transaction that
ended it; a done or skipped one keeps the chore's state before it (`prior_*`, `after_version`), which undoing the
completion restores. Existing completions get no row (their occurrences' history starts with this revision). The
downgrade drops the table and the column.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chores", sa.Column("open_time", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "occurrences",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("chore_id", UUID(as_uuid=True), nullable=False),
        sa.Column("due_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assignee_id", UUID(as_uuid=True), nullable=True),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("completed_by", UUID(as_uuid=True), nullable=True),
        sa.Column("recorder_id", UUID(as_uuid=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completion_id", UUID(as_uuid=True), nullable=True),
        sa.Column("prior_next_due_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prior_open_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prior_assignee_id", UUID(as_uuid=True), nullable=True),
        sa.Column("prior_state", sa.Text, nullable=False),
        sa.Column("prior_last_completion_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("after_version", sa.Integer, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_occurrences"),
        sa.ForeignKeyConstraint(["chore_id"], ["chores.id"], name="fk_occurrences_chore_id_chores", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["completion_id"], ["completions.id"], name="fk_occurrences_completion_id_completions", ondelete="CASCADE"
        ),
        sa.CheckConstraint("outcome IN ('done', 'skipped', 'missed')", name="ck_occurrences_outcome"),
    )
    op.create_index("ix_occurrences_chore_id_end_time_id", "occurrences", ["chore_id", "end_time", "id"])
    op.create_index("ix_occurrences_household_id", "occurrences", ["household_id"])
    op.create_index("ix_occurrences_assignee_id", "occurrences", ["assignee_id"])
    op.create_index("ix_occurrences_completed_by", "occurrences", ["completed_by"])
    op.create_index("ix_occurrences_recorder_id", "occurrences", ["recorder_id"])
    op.create_index("ix_occurrences_completion_id", "occurrences", ["completion_id"], unique=True)


def downgrade() -> None:
    op.drop_table("occurrences")
    op.drop_column("chores", "open_time")
