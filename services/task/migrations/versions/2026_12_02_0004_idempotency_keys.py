"""idempotency keys: CreateChore's and CompleteChore's request ids move from columns of chores/completions into
kit.idempotency's `idempotency_keys` table (one design for every service: scope, caller, request id and a
fingerprint of the request, kept 24 h)

The ids of the last 24 hours are carried over (scope CreateChore, caller the creator; scope CompleteChore,
caller the recorder), so a retry of a request sent before the upgrade never makes a second chore or
completion. The request that made them is not stored, so their fingerprint is unknown: such a retry is refused
as a reused request id (INVALID_ARGUMENT on request_id) rather than answered with the first result. Ids that
one caller used in two households (or for two chores), which the old per-household / per-chore keys allowed,
keep the newest. The downgrade puts the ids back on their chores and completions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kit.idempotency import create_idempotency_table, drop_idempotency_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Not a fingerprint any request hashes to (those are SHA-256 hex): a carried-over id.
UNKNOWN_FINGERPRINT = "unknown (carried over by migration 0004)"

CARRY_OVER = """
INSERT INTO idempotency_keys (scope, caller, request_id, fingerprint, resource_id, created_at)
SELECT DISTINCT ON ({caller}, request_id) :scope, {caller}::text, request_id, :fingerprint, id, create_time
FROM {table}
WHERE request_id IS NOT NULL AND create_time > now() - interval '24 hours'
ORDER BY {caller}, request_id, create_time DESC, id DESC
"""

PUT_BACK = """
UPDATE {table} SET request_id = keys.request_id
FROM idempotency_keys AS keys
WHERE keys.scope = :scope AND keys.resource_id = {table}.id AND keys.caller = {table}.{caller}::text
"""


def upgrade() -> None:
    create_idempotency_table(op)
    for table, caller, scope in (
        ("chores", "creator_id", "CreateChore"),
        ("completions", "recorder_id", "CompleteChore"),
    ):
        op.get_bind().execute(
            sa.text(CARRY_OVER.format(table=table, caller=caller)), {"scope": scope, "fingerprint": UNKNOWN_FINGERPRINT}
        )
    op.drop_constraint("uq_chores_household_id_creator_id_request_id", "chores", type_="unique")
    op.drop_column("chores", "request_id")
    op.drop_constraint("uq_completions_chore_id_recorder_id_request_id", "completions", type_="unique")
    op.drop_column("completions", "request_id")


def downgrade() -> None:
    op.add_column("chores", sa.Column("request_id", sa.Text(), nullable=True))
    op.add_column("completions", sa.Column("request_id", sa.Text(), nullable=True))
    # (scope, caller, request_id) is unique, so the old keys are too: they add the household / the chore to the
    # caller (and the request id).
    for table, caller, scope in (
        ("chores", "creator_id", "CreateChore"),
        ("completions", "recorder_id", "CompleteChore"),
    ):
        op.get_bind().execute(sa.text(PUT_BACK.format(table=table, caller=caller)), {"scope": scope})
    op.create_unique_constraint(
        "uq_chores_household_id_creator_id_request_id", "chores", ["household_id", "creator_id", "request_id"]
    )
    op.create_unique_constraint(
        "uq_completions_chore_id_recorder_id_request_id", "completions", ["chore_id", "recorder_id", "request_id"]
    )
    drop_idempotency_table(op)
