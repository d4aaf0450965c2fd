"""points ledger, balances and rewards

`points_ledger`: append-only, one row per change of a member's points (completion +, undo -, penalty -,
redemption -, adjustment + or -), with the balance after it. `point_balances`: the running SUM(delta) per member, kept
in the same transaction as each entry, so a balance is one primary-key read and its row lock serialises
concurrent redemptions (never below zero). `rewards`: what a household's points buy (archived, not deleted,
so redemptions keep pointing at them). The downgrade drops the
three tables (the points are lost).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_REASONS = "('completion', 'undo', 'penalty', 'redemption', 'adjustment')"


def upgrade() -> None:
    op.create_table(
        "points_ledger",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("completion_id", UUID(as_uuid=True), nullable=True),
        sa.Column("reward_id", UUID(as_uuid=True), nullable=True),
        sa.Column("actor_id", UUID(as_uuid=True), nullable=True),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"reason IN {_REASONS}", name="reason"),
    )
    op.create_index(
        "ix_points_ledger_household_id_user_id_create_time_id",
        "points_ledger",
        ["household_id", "user_id", "create_time", "id"],
    )
    op.create_index("ix_points_ledger_user_id", "points_ledger", ["user_id"])
    op.create_table(
        "point_balances",
        sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("user_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_point_balances_user_id", "point_balances", ["user_id"])
    op.create_table(
        "rewards",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("cost", sa.Integer, nullable=False),
        sa.Column("creator_id", UUID(as_uuid=True), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archive_time", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("cost BETWEEN 1 AND 100000", name="cost"),
    )
    op.create_index("ix_rewards_household_id_create_time_id", "rewards", ["household_id", "create_time", "id"])
    op.create_index("ix_rewards_creator_id", "rewards", ["creator_id"])


def downgrade() -> None:
    for table in ("rewards", "point_balances", "points_ledger"):
        op.drop_table(table)
