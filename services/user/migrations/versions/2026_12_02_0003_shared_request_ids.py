"""request ids through kit.idempotency: `idempotency_keys` (with a request fingerprint) replaces `idempotent_requests`

The user service's request ids (Register, CreateHousehold, CreateInvite) move to the one design every service
shares (kit.idempotency): a row per (scope, caller, request_id) with a fingerprint of the request, forgotten
after 24 hours. Ids recorded before this migration are carried over with a fingerprint no request has
("migrated:<operation>"), so a retry of such a request within its 24 hours is refused as a different request
rather than done twice. The downgrade carries the rows back the same way: Register's still replay (they
are checked by the password, not the operation), the others' are refused.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kit.idempotency import create_idempotency_table, drop_idempotency_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The one scope of the user service's request ids (services/user/households.py, accounts.py).
SCOPE = "create"


def upgrade() -> None:
    create_idempotency_table(op)
    op.execute(
        sa.text(
            "INSERT INTO idempotency_keys (scope, caller, request_id, fingerprint, resource_id, created_at) "
            "SELECT :scope, caller_id, request_id, 'migrated:' || operation, resource_id, create_time "
            "FROM idempotent_requests"
        ).bindparams(scope=SCOPE)
    )
    op.drop_table("idempotent_requests")


def downgrade() -> None:
    op.create_table(
        "idempotent_requests",
        sa.Column("caller_id", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.UUID(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("caller_id", "request_id", name=op.f("pk_idempotent_requests")),
    )
    op.execute(
        sa.text(
            "INSERT INTO idempotent_requests (caller_id, request_id, operation, resource_id, create_time) "
            "SELECT caller, request_id, "
            "CASE WHEN caller LIKE 'register:%' THEN 'Register' ELSE 'migrated' END, resource_id, created_at "
            "FROM idempotency_keys WHERE scope = :scope"
        ).bindparams(scope=SCOPE)
    )
    drop_idempotency_table(op)
