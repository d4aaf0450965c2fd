"""away periods, and indexes to find a person's completions in every household

`away_periods`: one row per member per household, projected from the user service's member.away_set /
member.away_cleared (kit.projection: per-field versions, `cleared_at` the tombstone); assignment skips a member
while they are away.

A person's completions are looked up across households when they delete their account (user.deleted: anonymised)
and when their data is exported (PrivacyService.ExportUserData): by who did them and by who recorded them.
Without the indexes each is a scan of the largest table inside one transaction. The downgrade drops the table
(its periods are lost; the user service still holds them) and the indexes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from kit.projection import versions_column

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "away_periods",
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        versions_column(),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("household_id", "user_id", name="pk_away_periods"),
    )
    op.create_index("ix_away_periods_user_id", "away_periods", ["user_id"])
    op.create_index("ix_completions_completed_by", "completions", ["completed_by"])
    op.create_index("ix_completions_recorder_id", "completions", ["recorder_id"])


def downgrade() -> None:
    op.drop_index("ix_completions_recorder_id", table_name="completions")
    op.drop_index("ix_completions_completed_by", table_name="completions")
    op.drop_index("ix_away_periods_user_id", table_name="away_periods")
    op.drop_table("away_periods")
