"""job queue: the procrastinate schema (kit.jobs) in this service's database

The analytics service's background jobs (outbox/inbox retention first) are rows in its own database, in their own
PostgreSQL schema `procrastinate`, so a job can be enqueued in the same transaction as a change. The downgrade
drops the schema and every job in it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from kit.jobs import create_queue_schema, drop_queue_schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_queue_schema(op)


def downgrade() -> None:
    drop_queue_schema(op)
