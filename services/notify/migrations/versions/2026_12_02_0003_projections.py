"""member names in their own read model: user_names; household_members.role nullable, names dropped

The member read models are now `kit.projection.Projection`s (newest event wins, NULL = not said yet): a
display name is a fact about a user (member.joined carries it, user.updated changes it), not about a
membership, so it moves to `user_names` with its own event time; `role` is NULL until an event names it;
`versions` holds the event time that set each field (newest wins per field). Existing rows get their row time
(`as_of`, or the name's own time) for every field.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from kit.projection import versions_column

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
        versions_column(),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_names"),
    )
    # The newest name each user had in any household (rows from before 0002 have no name time: their as_of).
    op.execute(
        """
        INSERT INTO user_names (user_id, display_name, as_of, versions)
        SELECT DISTINCT ON (user_id) user_id, display_name, coalesce(name_as_of, as_of),
               jsonb_build_object('display_name', coalesce(name_as_of, as_of))
        FROM household_members WHERE display_name <> ''
        ORDER BY user_id, coalesce(name_as_of, as_of) DESC
        """
    )
    op.drop_column("household_members", "name_as_of")
    op.drop_column("household_members", "display_name")
    op.alter_column("household_members", "role", nullable=True)
    op.execute("UPDATE household_members SET role = NULL WHERE role = ''")
    op.add_column("household_members", versions_column())
    op.execute(
        """
        UPDATE household_members SET versions = jsonb_build_object('left_at', as_of)
            || CASE WHEN role IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('role', as_of) END
        """
    )


def downgrade() -> None:
    op.drop_column("household_members", "versions")
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
