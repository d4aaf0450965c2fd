"""who held the occurrence a completion fulfilled (least_assigned counts it)

`completions.assignee_id`: the chore's assignee when the occurrence was completed (NULL: nobody had it, or the
completion predates this column — such rows count for nobody). The `least_assigned` strategy counts, per member,
the completions of a chore in the last 30 days that they held; the index is for erasing a person
(user.deleted: their id becomes the deleted-user marker) without a scan of the largest table. The downgrade drops
the column (the counts start again from nothing).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("completions", sa.Column("assignee_id", UUID(as_uuid=True), nullable=True))
    op.create_index("ix_completions_assignee_id", "completions", ["assignee_id"])


def downgrade() -> None:
    op.drop_index("ix_completions_assignee_id", table_name="completions")
    op.drop_column("completions", "assignee_id")
