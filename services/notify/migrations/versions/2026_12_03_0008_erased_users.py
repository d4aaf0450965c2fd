"""erased users: who was deleted, by a hash of their id only, so a late event cannot bring their id back

A chore.completed published before a person's account was deleted can be read from the task stream after the user
stream's user.deleted; notify then writes it as a deleted user's (services.notify.privacy). The row holds
SHA-256 of the id, never the id.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import BYTEA

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erased_users",
        sa.Column("user_key", BYTEA(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_key", name="pk_erased_users"),
    )


def downgrade() -> None:
    op.drop_table("erased_users")
