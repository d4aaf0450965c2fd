"""retention indexes: outbox.published_at and inbox.handled_at, which the retention jobs (kit.jobs) delete by

Without them each hourly prune ends in a scan of the whole table to learn that nothing more is old enough.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from kit.events import create_inbox_handled_index, drop_inbox_handled_index
from kit.outbox import create_outbox_published_index, drop_outbox_published_index

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_published_index(op)
    create_inbox_handled_index(op)


def downgrade() -> None:
    drop_inbox_handled_index(op)
    drop_outbox_published_index(op)
