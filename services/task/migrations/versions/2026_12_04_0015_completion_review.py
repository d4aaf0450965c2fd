"""a completion's review: approved at once, or pending until an adult approves or rejects it

`completions.status`: `approved` (counts: points, stats, the rotation's tallies), `pending` (a child's completion of
a chore that requires approval: the occurrence has ended and the schedule moved on, but nothing counts yet) or
`rejected` (never counts). Every completion made before this column existed was counted at once: `approved`.
`reviewer_id`, `review_time` and `review_note` say who decided, when and why (NULL / "" while pending or for a
completion that needed no review). The partial index serves "what is waiting for my approval" per household
without reading the household's whole history. The downgrade drops the columns: pending completions would then
count as approved, so it deletes the rejected ones and keeps the pending ones (their points were never booked).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("completions", sa.Column("status", sa.Text(), nullable=False, server_default="approved"))
    op.add_column("completions", sa.Column("reviewer_id", UUID(as_uuid=True), nullable=True))
    op.add_column("completions", sa.Column("review_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("completions", sa.Column("review_note", sa.Text(), nullable=False, server_default=""))
    op.create_check_constraint("status", "completions", "status IN ('approved', 'pending', 'rejected')")
    op.create_index(
        "ix_completions_pending",
        "completions",
        ["household_id", "complete_time", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_completions_reviewer_id", "completions", ["reviewer_id"])


def downgrade() -> None:
    op.drop_index("ix_completions_reviewer_id", table_name="completions")
    op.drop_index("ix_completions_pending", table_name="completions")
    op.execute("DELETE FROM completions WHERE status = 'rejected'")
    op.drop_constraint("status", "completions", type_="check")
    for column in ("review_note", "review_time", "reviewer_id", "status"):
        op.drop_column("completions", column)
