"""email deliveries: the mails EmailService.SendEmail queued and how each went; request ids (kit.idempotency)

`email_deliveries` holds one row per mail asked for: the rendered mail and the full address while the mail is
owed, cleared once it is sent or has failed for good (see models.EmailDelivery). `idempotency_keys` is kit's
request-id table: SendEmail's request id makes one delivery, however often it is sent.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from kit.idempotency import create_idempotency_table, drop_idempotency_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_deliveries",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("caller", sa.Text(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=True),
        sa.Column("recipient_redacted", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text_body", sa.Text(), nullable=True),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempt_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_time", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="ck_email_deliveries_status"),
        sa.PrimaryKeyConstraint("id", name="pk_email_deliveries"),
    )
    op.create_index(
        "ix_email_deliveries_owed",
        "email_deliveries",
        ["create_time"],
        postgresql_where=sa.text("status IN ('pending', 'sending')"),
    )
    create_idempotency_table(op)


def downgrade() -> None:
    drop_idempotency_table(op)
    op.drop_index("ix_email_deliveries_owed", table_name="email_deliveries")
    op.drop_table("email_deliveries")
