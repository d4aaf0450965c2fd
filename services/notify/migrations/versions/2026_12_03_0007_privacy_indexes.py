"""privacy indexes: notifications by household and by actor, which GDPR erasure deletes and rewrites by

household.deleted deletes a household's notifications from every inbox, and user.deleted rewrites the ones that
name the person as the actor (`data ->> 'completed_by'`) in other people's inboxes (services.notify.privacy):
each by an index of its own instead of a scan of every inbox.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notifications_household_id", "notifications", ["household_id"])
    op.create_index("ix_notifications_actor", "notifications", [sa.text("(data ->> 'completed_by')")])


def downgrade() -> None:
    op.drop_index("ix_notifications_actor", table_name="notifications")
    op.drop_index("ix_notifications_household_id", table_name="notifications")
