"""member names as of: household_members.name_as_of, the event time of the display name a row holds

Display names now come from user.updated too (a renamed user), not only from member.joined; an older
name arriving late must not overwrite a newer one, whatever the membership facts (`as_of`) say. Rows
from before have no time for their name (NULL): any name event replaces it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("household_members", sa.Column("name_as_of", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("household_members", "name_as_of")
