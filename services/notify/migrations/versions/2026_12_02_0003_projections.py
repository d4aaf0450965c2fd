"""member names in their own read model: user_names; household_members.role nullable, names dropped

The member read models are now `kit.projection.Projection`s (newest event wins, NULL = not said yet): a
display name is a fact about a user (member.joined carries it, user.updated changes it), not about a
membership, so it moves to `user_names` with its own event time; `role` is NULL until an event names it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_names",
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("display_name", sa.Text, nullable=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_names"),
    )
    # The newest name each user had in any household (rows from before 0002 have no name time: their as_of).
    op.execute(
        """
        INSERT INTO user_names (user_id, display_name, as_of)
        SELECT DISTINCT ON (user_id) user_id, display_name, coalesce(name_as_of, as_of)
        FROM household_members WHERE display_name <> ''
        ORDER BY user_id, coalesce(name_as_of, as_of) DESC
        """
    )
    op.drop_column("household_members", "name_as_of")
    op.drop_column("household_members", "display_name")
    op.alter_column("household_members", "role", nullable=True)
    op.execute("UPDATE household_members SET role = NULL WHERE role = ''")


def downgrade() -> None:
    op.execute("UPDATE household_members SET role = '' WHERE role IS NULL")
    op.alter_column("household_members", "role", nullable=False)
    op.add_column("household_members", sa.Column("display_name", sa.Text, nullable=False, server_default=""))
    op.alter_column("household_members", "display_name", server_default=None)
    op.add_column("household_members", sa.Column("name_as_of", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        """
        UPDATE household_members m SET display_name = coalesce(n.display_name, ''), name_as_of = n.as_of
        FROM user_names n WHERE n.user_id = m.user_id
        """
    )
    op.drop_table("user_names")
