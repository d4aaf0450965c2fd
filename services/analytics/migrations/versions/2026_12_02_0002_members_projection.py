"""members as a kit.projection read model: role nullable (NULL = not said yet), no display_name

Analytics serves ids, never names, and never heard of renames: the column was dead weight that went stale.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("members", "display_name")
    op.alter_column("members", "role", nullable=True)
    op.execute("UPDATE members SET role = NULL WHERE role = ''")


def downgrade() -> None:
    op.execute("UPDATE members SET role = '' WHERE role IS NULL")
    op.alter_column("members", "role", nullable=False)
    # Names are not recoverable here; they came only with member.joined.
    op.add_column("members", sa.Column("display_name", sa.Text, nullable=False, server_default=""))
    op.alter_column("members", "display_name", server_default=None)
