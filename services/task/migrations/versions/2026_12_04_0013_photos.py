"""photos: what the photo store holds, per household

`photos`: one row per uploaded photo (services.task.photos) — its household, uploader (NULL once erased), content
type, size, SHA-256, dimensions, store key, and its thumbnail (key, state pending|ready|failed, size, SHA-256) that the
worker adds. Indexed by household and time, and by uploader (erasure, export). The downgrade drops the table; the
bytes in the store stay where they are (nothing refers to them any more).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "photos",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("uploaded_by", UUID(as_uuid=True), nullable=True),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("thumbnail_key", sa.Text(), nullable=True),
        sa.Column("thumbnail_state", sa.Text(), nullable=False),
        sa.Column("thumbnail_size", sa.BigInteger(), nullable=True),
        sa.Column("thumbnail_sha256", sa.Text(), nullable=True),
        sa.CheckConstraint("thumbnail_state IN ('pending', 'ready', 'failed')", name="thumbnail_state"),
        sa.CheckConstraint("size >= 0", name="size"),
        sa.PrimaryKeyConstraint("id", name="pk_photos"),
    )
    op.create_index("ix_photos_household_id_create_time_id", "photos", ["household_id", "create_time", "id"])
    op.create_index("ix_photos_uploaded_by", "photos", ["uploaded_by"])


def downgrade() -> None:
    op.drop_index("ix_photos_uploaded_by", table_name="photos")
    op.drop_index("ix_photos_household_id_create_time_id", table_name="photos")
    op.drop_table("photos")
