"""background jobs of the task service: the miss scan, reminders and scheduled rotation

`occurrences`: an occurrence is missed once (a unique index on (chore_id, due_time) of the missed rows).
`points_ledger.occurrence_id`: a penalty names its missed occurrence, unique among penalties (penalised once).
`sent_reminders`: one row per chore, occurrence due time and lead time (chore.due_soon sent once).
`chores.rotation_*`: where a daily/weekly rotation stands (the turn applied, when the next starts, whose it is).
Two partial indexes for the scans: active chores by due time, rotating ones by their next turn. The downgrade
drops all of it (the rows saying what was sent or penalised go; the missed occurrences and penalties stay).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ROTATING = "state = 'active' AND (assignment ->> 'rotate') IN ('daily', 'weekly')"


def upgrade() -> None:
    op.create_index(
        "ux_occurrences_chore_id_due_time_missed",
        "occurrences",
        ["chore_id", "due_time"],
        unique=True,
        postgresql_where=sa.text("outcome = 'missed'"),
    )
    op.add_column("points_ledger", sa.Column("occurrence_id", UUID(as_uuid=True), nullable=True))
    op.create_index(
        "ux_points_ledger_occurrence_id_penalty",
        "points_ledger",
        ["occurrence_id"],
        unique=True,
        postgresql_where=sa.text("reason = 'penalty'"),
    )
    op.create_table(
        "sent_reminders",
        sa.Column("chore_id", UUID(as_uuid=True), nullable=False),
        sa.Column("due_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("before_minutes", sa.Integer, nullable=False),
        sa.Column("sent_time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chore_id"], ["chores.id"], name="fk_sent_reminders_chore_id_chores", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chore_id", "due_time", "before_minutes", name="pk_sent_reminders"),
    )
    op.create_index("ix_sent_reminders_due_time", "sent_reminders", ["due_time"])
    op.add_column("chores", sa.Column("rotation_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("chores", sa.Column("rotation_next_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("chores", sa.Column("rotation_index", sa.Integer, nullable=True))
    op.create_index(
        "ix_chores_active_next_due_time", "chores", ["next_due_time"], postgresql_where=sa.text("state = 'active'")
    )
    op.create_index(
        "ix_chores_rotation_next_time", "chores", ["rotation_next_time"], postgresql_where=sa.text(_ROTATING)
    )


def downgrade() -> None:
    op.drop_index("ix_chores_rotation_next_time", table_name="chores")
    op.drop_index("ix_chores_active_next_due_time", table_name="chores")
    op.drop_column("chores", "rotation_index")
    op.drop_column("chores", "rotation_next_time")
    op.drop_column("chores", "rotation_time")
    op.drop_index("ix_sent_reminders_due_time", table_name="sent_reminders")
    op.drop_table("sent_reminders")
    op.drop_index("ux_points_ledger_occurrence_id_penalty", table_name="points_ledger")
    op.drop_column("points_ledger", "occurrence_id")
    op.drop_index("ux_occurrences_chore_id_due_time_missed", table_name="occurrences")
