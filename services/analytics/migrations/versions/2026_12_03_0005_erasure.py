"""erasure: erased_users and deleted_households (what user.deleted and household.deleted leave, so late events
cannot undo them), and completions by person

`erased_users` holds SHA-256 of a deleted person's id, never the id; `deleted_households` the ids of deleted
households. `ix_completions_user_id` finds one person's completions in every household (anonymised on
user.deleted, read by PrivacyService.ExportUserData) without a scan of the fact table. The downgrade drops them;
completions already anonymised stay attributed to the deleted-user marker.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import BYTEA, UUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erased_users",
        sa.Column("user_key", BYTEA(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_key", name="pk_erased_users"),
    )
    op.create_table(
        "deleted_households",
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("household_id", name="pk_deleted_households"),
    )
    op.create_index("ix_completions_user_id", "completions", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_completions_user_id", table_name="completions")
    op.drop_table("deleted_households")
    op.drop_table("erased_users")
