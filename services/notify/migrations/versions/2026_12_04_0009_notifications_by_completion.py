"""notifications by the completion they tell of, which completion.undone deletes

An undone completion did not happen: its "… completed …" notifications go from every inbox (services.notify.consumers
on completion.undone), found by this index instead of a scan of the household's notifications.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notifications_completion", "notifications", [sa.text("(data ->> 'completion_id')")])


def downgrade() -> None:
    op.drop_index("ix_notifications_completion", table_name="notifications")
