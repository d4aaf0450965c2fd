"""initial: members and completions read models, outbox, inbox

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from kit.events import create_inbox_table, drop_inbox_table
from kit.outbox import create_outbox_table, drop_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("household_id", "user_id", name="pk_members"),
    )
    op.create_table(
        "completions",
        sa.Column("completion_id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("chore_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("estimated_minutes", sa.Integer(), nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.PrimaryKeyConstraint("completion_id", name="pk_completions"),
    )
    op.create_index("ix_completions_household_id_completed_at", "completions", ["household_id", "completed_at"])
    op.create_index(
        "ix_completions_household_id_user_id_completed_at",
        "completions",
        ["household_id", "user_id", "completed_at"],
    )
    create_outbox_table(op)
    create_inbox_table(op)


def downgrade() -> None:
    drop_inbox_table(op)
    drop_outbox_table(op)
    op.drop_index("ix_completions_household_id_user_id_completed_at", table_name="completions")
    op.drop_index("ix_completions_household_id_completed_at", table_name="completions")
    op.drop_table("completions")
    op.drop_table("members")
