"""initial: chores (full-text search, an index per list order and filter), completions, outbox, inbox

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID

from kit.events import create_inbox_table, drop_inbox_table
from kit.outbox import create_outbox_table, drop_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DUE_KEY_SQL = "coalesce(next_due_time, 'infinity'::timestamp with time zone)"
SEARCH_SQL = "to_tsvector('simple'::regconfig, title || ' ' || description)"


def upgrade() -> None:
    op.create_table(
        "chores",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("labels", ARRAY(sa.Text()), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("estimated_minutes", sa.Integer(), nullable=True),
        sa.Column("recurrence", JSONB(), nullable=False),
        sa.Column("assignment", JSONB(), nullable=False),
        sa.Column("anchor_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_due_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assignee_id", UUID(as_uuid=True), nullable=True),
        sa.Column("reminders", ARRAY(sa.Integer()), nullable=False),
        sa.Column("requires_photo", sa.Boolean(), nullable=False),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("creator_id", UUID(as_uuid=True), nullable=False),
        sa.Column("last_completion_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("search", TSVECTOR(), sa.Computed(SEARCH_SQL, persisted=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chores"),
        sa.CheckConstraint("state IN ('active', 'done', 'archived')", name="ck_chores_state"),
        sa.CheckConstraint("points BETWEEN 0 AND 1000", name="ck_chores_points"),
        sa.UniqueConstraint("household_id", "request_id", name="uq_chores_household_id_request_id"),
    )
    op.create_index("ix_chores_household_id_state_due", "chores", ["household_id", "state", sa.text(DUE_KEY_SQL), "id"])
    op.create_index(
        "ix_chores_household_id_state_create_time_id", "chores", ["household_id", "state", "create_time", "id"]
    )
    op.create_index("ix_chores_household_id_state_points_id", "chores", ["household_id", "state", "points", "id"])
    op.create_index("ix_chores_household_id_state_title_id", "chores", ["household_id", "state", "title", "id"])
    op.create_index(
        "ix_chores_household_id_assignee_id_next_due_time",
        "chores",
        ["household_id", "assignee_id", "next_due_time"],
    )
    op.create_index("ix_chores_household_id_category", "chores", ["household_id", "category"])
    op.create_index("ix_chores_labels", "chores", ["labels"], postgresql_using="gin")
    op.create_index("ix_chores_search", "chores", ["search"], postgresql_using="gin")

    op.create_table(
        "completions",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("chore_id", UUID(as_uuid=True), nullable=False),
        sa.Column("completed_by", UUID(as_uuid=True), nullable=False),
        sa.Column("recorder_id", UUID(as_uuid=True), nullable=False),
        sa.Column("complete_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("photo", sa.Text(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("due_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_completions"),
        sa.ForeignKeyConstraint(["chore_id"], ["chores.id"], name="fk_completions_chore_id_chores", ondelete="CASCADE"),
        sa.UniqueConstraint("chore_id", "request_id", name="uq_completions_chore_id_request_id"),
    )
    op.create_index("ix_completions_chore_id_complete_time_id", "completions", ["chore_id", "complete_time", "id"])
    op.create_index(
        "ix_completions_household_id_complete_time_id", "completions", ["household_id", "complete_time", "id"]
    )
    create_outbox_table(op)
    create_inbox_table(op)


def downgrade() -> None:
    drop_inbox_table(op)
    drop_outbox_table(op)
    op.drop_index("ix_completions_household_id_complete_time_id", table_name="completions")
    op.drop_index("ix_completions_chore_id_complete_time_id", table_name="completions")
    op.drop_table("completions")
    op.drop_index("ix_chores_search", table_name="chores")
    op.drop_index("ix_chores_labels", table_name="chores")
    op.drop_index("ix_chores_household_id_category", table_name="chores")
    op.drop_index("ix_chores_household_id_assignee_id_next_due_time", table_name="chores")
    op.drop_index("ix_chores_household_id_state_title_id", table_name="chores")
    op.drop_index("ix_chores_household_id_state_points_id", table_name="chores")
    op.drop_index("ix_chores_household_id_state_create_time_id", table_name="chores")
    op.drop_index("ix_chores_household_id_state_due", table_name="chores")
    op.drop_table("chores")
