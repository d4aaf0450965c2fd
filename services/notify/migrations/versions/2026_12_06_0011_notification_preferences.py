"""notification preferences, the user's zone and address, notify's own mails, lead reminders, the weekly summary

- `user_names.time_zone` / `.email`: from user.registered/updated (quiet hours are read in the zone; mails go to
  the address), erased with the rest of the row on user.deleted;
- `notification_preferences`: what each user set (services.notify.preferences);
- `email_deliveries.user_id`, `.dedupe_key` (one mail per event and recipient, per summary week),
  `.unsubscribe_url`, `.not_before` (held for quiet hours);
- `chore_schedules`, `lead_reminders`: reminders at due - the user's lead (services.notify.reminders);
- `household_activity`: completions and misses the weekly summary counts (services.notify.summary).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("user_names", sa.Column("time_zone", sa.Text(), nullable=True))
    op.add_column("user_names", sa.Column("email", sa.Text(), nullable=True))
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("events", JSONB(), nullable=False),
        sa.Column("quiet_start", sa.Text(), nullable=True),
        sa.Column("quiet_end", sa.Text(), nullable=True),
        sa.Column("reminder_lead_minutes", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_notification_preferences"),
    )
    op.add_column("email_deliveries", sa.Column("user_id", UUID(as_uuid=True), nullable=True))
    op.add_column("email_deliveries", sa.Column("dedupe_key", sa.Text(), nullable=True))
    op.add_column("email_deliveries", sa.Column("unsubscribe_url", sa.Text(), nullable=True))
    op.add_column("email_deliveries", sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
    op.create_unique_constraint("uq_email_deliveries_dedupe_key", "email_deliveries", ["dedupe_key"])
    op.create_table(
        "chore_schedules",
        sa.Column("chore_id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("assignee_id", UUID(as_uuid=True), nullable=True),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chore_id", name="pk_chore_schedules"),
    )
    op.create_table(
        "lead_reminders",
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("chore_id", UUID(as_uuid=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "chore_id", "due_at", name="pk_lead_reminders"),
        sa.UniqueConstraint("id", name="uq_lead_reminders_id"),
    )
    op.create_table(
        "household_activity",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("ref_id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "ref_id", name="pk_household_activity"),
    )
    op.create_index(
        "ix_household_activity_household_id_occurred_at", "household_activity", ["household_id", "occurred_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_household_activity_household_id_occurred_at", table_name="household_activity")
    op.drop_table("household_activity")
    op.drop_table("lead_reminders")
    op.drop_table("chore_schedules")
    op.drop_constraint("uq_email_deliveries_dedupe_key", "email_deliveries", type_="unique")
    for column in ("not_before", "unsubscribe_url", "dedupe_key", "user_id"):
        op.drop_column("email_deliveries", column)
    op.drop_table("notification_preferences")
    op.drop_column("user_names", "email")
    op.drop_column("user_names", "time_zone")
