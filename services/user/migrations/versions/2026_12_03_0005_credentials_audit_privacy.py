"""credentials, audit, privacy: TOTP on users, auth_time on sessions; recovery codes, password resets, API keys,
away periods, the audit log and data exports (issue 15); an inbox, as the service now consumes its own
`session.revoked` events (services/user/revocation.py)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kit.events import create_inbox_handled_index, create_inbox_table, drop_inbox_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    create_inbox_table(op)
    create_inbox_handled_index(op)
    op.add_column("users", sa.Column("totp_secret", sa.LargeBinary(), nullable=True))
    op.add_column("users", sa.Column("totp_pending_secret", sa.LargeBinary(), nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), server_default="0", nullable=False))
    op.add_column("users", sa.Column("password_change_time", _TS, nullable=True))
    op.add_column("sessions", sa.Column("auth_time", _TS, nullable=True))

    op.create_table(
        "recovery_codes",
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", _UUID, nullable=False),
        sa.Column("use_time", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_recovery_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_recovery_codes")),
    )
    op.create_index(op.f("ix_recovery_codes_user_id"), "recovery_codes", ["user_id"])

    op.create_table(
        "password_resets",
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", _UUID, nullable=False),
        sa.Column("create_time", _TS, nullable=False),
        sa.Column("expire_time", _TS, nullable=False),
        sa.Column("use_time", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_resets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_password_resets")),
    )
    op.create_index(op.f("ix_password_resets_user_id"), "password_resets", ["user_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", _UUID, nullable=False),
        sa.Column("user_id", _UUID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("create_time", _TS, nullable=False),
        sa.Column("expire_time", _TS, nullable=True),
        sa.Column("last_use_time", _TS, nullable=True),
        sa.Column("revoke_time", _TS, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_index("uq_api_keys_key_hash", "api_keys", ["key_hash"], unique=True)
    op.create_index("ix_api_keys_user_id_id", "api_keys", ["user_id", "id"])

    op.create_table(
        "away_periods",
        sa.Column("household_id", _UUID, nullable=False),
        sa.Column("user_id", _UUID, nullable=False),
        sa.Column("start_time", _TS, nullable=False),
        sa.Column("end_time", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_away_periods_household_id_households")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_away_periods_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("household_id", "user_id", name=op.f("pk_away_periods")),
    )

    op.create_table(
        "audit_events",
        sa.Column("id", _UUID, nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("user_id", _UUID, nullable=True),
        sa.Column("household_id", _UUID, nullable=True),
        sa.Column("actor_id", _UUID, nullable=True),
        sa.Column("target", sa.Text(), server_default="", nullable=False),
        sa.Column("ip_address", sa.Text(), server_default="", nullable=False),
        sa.Column("user_agent", sa.Text(), server_default="", nullable=False),
        sa.Column("correlation_id", sa.Text(), server_default="", nullable=False),
        sa.Column("details", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("create_time", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(
        "ix_audit_events_user_id_id",
        "audit_events",
        ["user_id", "id"],
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_index(
        "ix_audit_events_household_id_id",
        "audit_events",
        ["household_id", "id"],
        postgresql_where=sa.text("household_id IS NOT NULL"),
    )

    op.create_table(
        "exports",
        sa.Column("id", _UUID, nullable=False),
        sa.Column("user_id", _UUID, nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("create_time", _TS, nullable=False),
        sa.Column("finish_time", _TS, nullable=True),
        sa.Column("expire_time", _TS, nullable=True),
        sa.Column("archive", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint("state IN ('pending', 'done', 'failed')", name=op.f("ck_exports_state")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_exports_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
    )
    op.create_index("ix_exports_user_id", "exports", ["user_id"])


def downgrade() -> None:
    for table in ("exports", "audit_events", "away_periods", "api_keys", "password_resets", "recovery_codes"):
        op.drop_table(table)
    op.drop_column("sessions", "auth_time")
    for column in ("password_change_time", "totp_last_step", "totp_pending_secret", "totp_secret"):
        op.drop_column("users", column)
    drop_inbox_table(op)
