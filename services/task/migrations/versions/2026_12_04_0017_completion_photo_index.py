"""completions by the photo they name, which the unused-photo prune asks about

`task:prune_unused_photos` deletes photos no completion names once they are old enough (services.task.photos):
for each candidate it asks whether a completion names it, by this partial index (most completions name no photo).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_completions_photo", "completions", ["photo"], postgresql_where=sa.text("photo <> ''"))


def downgrade() -> None:
    op.drop_index("ix_completions_photo", table_name="completions")
