"""a person's agenda across households: their active chores by due time

ListAgenda reads the chores assigned to one person in every household, by (next_due_time, id), keyset-paged. The
household-first index cannot serve it without visiting every household; this one, partial on active chores (the
only ones an agenda shows), can.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_chores_agenda",
        "chores",
        ["assignee_id", "next_due_time", "id"],
        postgresql_where=sa.text("state = 'active'"),
    )


def downgrade() -> None:
    op.drop_index("ix_chores_agenda", table_name="chores")
