"""members as a kit.projection read model: versions per field, role nullable (NULL = not said yet), no display_name

Analytics serves ids, never names, and never heard of renames: the column was dead weight that went stale.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kit.projection import versions_column

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("members", "display_name")
    op.alter_column("members", "role", nullable=True)
    op.execute("UPDATE members SET role = NULL WHERE role = ''")
    op.add_column("members", versions_column())
    op.execute(
        """
        UPDATE members SET versions = jsonb_build_object('left_at', as_of)
            || CASE WHEN role IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('role', as_of) END
            || CASE WHEN joined_at IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('joined_at', as_of) END
        """
    )


def downgrade() -> None:
    op.drop_column("members", "versions")
    op.execute("UPDATE members SET role = '' WHERE role IS NULL")
    op.alter_column("members", "role", nullable=False)
    # Names are not recoverable here; they came only with member.joined.
    op.add_column("members", sa.Column("display_name", sa.Text, nullable=False, server_default=""))
    op.alter_column("members", "display_name", server_default=None)
