"""request ids per caller: chores unique on (household, creator, request_id), completions on (chore, recorder, request_id)

A request id is the caller's own idempotency key: another member sending the same one (by chance or by
copying it) makes a different request, which must neither be refused nor answered with the first caller's
resource.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Widening a unique key cannot create duplicates: no data to touch.
    op.drop_constraint("uq_chores_household_id_request_id", "chores", type_="unique")
    op.create_unique_constraint(
        "uq_chores_household_id_creator_id_request_id", "chores", ["household_id", "creator_id", "request_id"]
    )
    op.drop_constraint("uq_completions_chore_id_request_id", "completions", type_="unique")
    op.create_unique_constraint(
        "uq_completions_chore_id_recorder_id_request_id", "completions", ["chore_id", "recorder_id", "request_id"]
    )


# Under the narrower old keys, rows of different callers may share a request id: the first keeps it, the
# others forget theirs (they lose only the ability to be retried, which the old key never gave them).
FORGET_COLLIDING_COMPLETION_REQUEST_IDS = """
UPDATE completions SET request_id = NULL
WHERE id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY chore_id, request_id ORDER BY create_time, id) AS n
        FROM completions WHERE request_id IS NOT NULL
    ) AS ranked
    WHERE n > 1
)
"""
FORGET_COLLIDING_CHORE_REQUEST_IDS = """
UPDATE chores SET request_id = NULL
WHERE id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY household_id, request_id ORDER BY create_time, id) AS n
        FROM chores WHERE request_id IS NOT NULL
    ) AS ranked
    WHERE n > 1
)
"""


def downgrade() -> None:
    op.drop_constraint("uq_completions_chore_id_recorder_id_request_id", "completions", type_="unique")
    op.execute(FORGET_COLLIDING_COMPLETION_REQUEST_IDS)
    op.create_unique_constraint("uq_completions_chore_id_request_id", "completions", ["chore_id", "request_id"])
    op.drop_constraint("uq_chores_household_id_creator_id_request_id", "chores", type_="unique")
    op.execute(FORGET_COLLIDING_CHORE_REQUEST_IDS)
    op.create_unique_constraint("uq_chores_household_id_request_id", "chores", ["household_id", "request_id"])
