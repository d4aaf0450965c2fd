"""calendar feed tokens: one per member per household, kept as their SHA-256

`calendar_feeds`: the token of `GET /households/{hid}/calendar.ics?token=` (services.task.feeds), its hash unique
(a fetch finds the feed by it), a person's feeds indexed for erasure. The downgrade drops the table (every feed
URL stops working; members create new ones).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0011"
# 0009 and 0010 are other changes of issue 16 made beside this one; the merge re-points this down_revision.
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_feeds",
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("household_id", "user_id", name="pk_calendar_feeds"),
    )
    op.create_index("ux_calendar_feeds_token_hash", "calendar_feeds", ["token_hash"], unique=True)
    op.create_index("ix_calendar_feeds_user_id", "calendar_feeds", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_calendar_feeds_user_id", table_name="calendar_feeds")
    op.drop_index("ux_calendar_feeds_token_hash", table_name="calendar_feeds")
    op.drop_table("calendar_feeds")
