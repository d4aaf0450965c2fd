"""initial: users, sessions and spent refresh tokens, households, memberships, invites, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-23 06:12:07.217602
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kit.outbox import create_outbox_table, drop_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "households",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delete_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_households")),
    )
    op.create_table(
        "idempotent_requests",
        sa.Column("caller_id", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.UUID(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("caller_id", "request_id", name=op.f("pk_idempotent_requests")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("locale", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index("uq_users_email", "users", [sa.literal_column("lower(email)")], unique=True)
    op.create_table(
        "invites",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), server_default="", nullable=False),
        sa.Column("creator_id", sa.UUID(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accept_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.UUID(), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'member', 'child')", name=op.f("ck_invites_role")),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"], name=op.f("fk_invites_household_id_households")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
    )
    op.create_index("ix_invites_household_id", "invites", ["household_id"], unique=False)
    op.create_index("uq_invites_code_hash", "invites", ["code_hash"], unique=True)
    op.create_table(
        "memberships",
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("join_time", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('owner', 'admin', 'member', 'child')", name=op.f("ck_memberships_role")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_memberships_household_id_households")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users")),
        sa.PrimaryKeyConstraint("household_id", "user_id", name=op.f("pk_memberships")),
    )
    op.create_index("ix_memberships_user_id_household_id", "memberships", ["user_id", "household_id"], unique=False)
    op.create_index(
        "uq_memberships_owner", "memberships", ["household_id"], unique=True, postgresql_where=sa.text("role = 'owner'")
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("refresh_hash", sa.LargeBinary(), nullable=False),
        sa.Column("generation", sa.Integer(), server_default="1", nullable=False),
        sa.Column("user_agent", sa.Text(), server_default="", nullable=False),
        sa.Column("ip_address", sa.Text(), server_default="", nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoke_time", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"], unique=False)
    op.create_index("uq_sessions_refresh_hash", "sessions", ["refresh_hash"], unique=True)
    op.create_table(
        "spent_refresh_tokens",
        sa.Column("refresh_hash", sa.LargeBinary(), nullable=False),
        sa.Column("session_id", sa.UUID(), nullable=False),
        sa.Column("spend_time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_spent_refresh_tokens_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("refresh_hash", name=op.f("pk_spent_refresh_tokens")),
    )
    create_outbox_table(op)


def downgrade() -> None:
    drop_outbox_table(op)
    op.drop_table("spent_refresh_tokens")
    op.drop_index("uq_sessions_refresh_hash", table_name="sessions")
    op.drop_index("ix_sessions_user_id", table_name="sessions")
    op.drop_table("sessions")
    op.drop_index("uq_memberships_owner", table_name="memberships", postgresql_where=sa.text("role = 'owner'"))
    op.drop_index("ix_memberships_user_id_household_id", table_name="memberships")
    op.drop_table("memberships")
    op.drop_index("uq_invites_code_hash", table_name="invites")
    op.drop_index("ix_invites_household_id", table_name="invites")
    op.drop_table("invites")
    op.drop_index("uq_users_email", table_name="users")
    op.drop_table("users")
    op.drop_table("idempotent_requests")
    op.drop_table("households")
