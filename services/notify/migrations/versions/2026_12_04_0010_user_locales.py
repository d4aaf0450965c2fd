"""user_names.locale: the language each person reads their notifications in

user.registered and user.updated carry the person's locale; notify keeps it with their name (a kit.projection field)
to write each notification in its recipient's language (services.notify.texts). NULL until an event names it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("user_names", sa.Column("locale", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("user_names", "locale")
