"""the occurrence lifecycle: when the open occurrence opened

`chores.open_time`: when the chore's open occurrence opened (services.task.scheduling `is_open`; NULL: open since
the chore or its schedule began, which is what every existing chore gets). A completion before it opens is
refused (409 not_due_yet), so a recurring chore cannot be run ahead of its schedule. The downgrade drops it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
# Another change of issue 16 may add its own 0009 beside this one; whichever merges second re-points its down_revision.
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chores", sa.Column("open_time", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("chores", "open_time")
