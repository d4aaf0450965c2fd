"""categories: a household's chore categories, unique by name case-insensitively; chores' subtasks and their ticks

`categories` (services.task.categories): the names chores' `category` column holds, one row per name per household
(the unique index is on lower(name), and lists by it). The upgrade makes a category of every name chores hold already
(the first spelling by creation wins) and writes that spelling back onto the chores that spelt it otherwise. The
downgrade drops the table; the chores keep their names.

`chores.subtasks` (JSONB, a list of {id, title}) and `chores.ticks` (JSONB, {due, done: [subtask ids]}): the ids
ticked for the occurrence due at `due`; once the chore's next_due_time is another, nothing is ticked (the ticks reset
themselves). `completions.subtasks_done` (JSONB, [{id, title}]): the subtasks ticked for the occurrence a completion
ended, as they were then. Existing chores and completions get none. The downgrade drops the three columns (subtasks and ticks are lost).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chores", sa.Column("subtasks", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")))
    op.add_column("chores", sa.Column("ticks", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")))
    op.add_column(
        "completions", sa.Column("subtasks_done", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb"))
    )
    op.create_table(
        "categories",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_categories"),
    )
    op.create_index(
        "ux_categories_household_id_name", "categories", ["household_id", sa.text("lower(name)")], unique=True
    )
    op.execute(
        """
        INSERT INTO categories (id, household_id, name, create_time, update_time)
        SELECT gen_random_uuid(), household_id, category, now(), now()
        FROM (
            SELECT DISTINCT ON (household_id, lower(category)) household_id, category
            FROM chores WHERE category <> ''
            ORDER BY household_id, lower(category), create_time, id
        ) AS names
        """
    )
    op.execute(
        """
        UPDATE chores SET category = categories.name
        FROM categories
        WHERE chores.household_id = categories.household_id
          AND lower(chores.category) = lower(categories.name)
          AND chores.category <> categories.name
        """
    )


def downgrade() -> None:
    op.drop_index("ux_categories_household_id_name", table_name="categories")
    op.drop_table("categories")
    op.drop_column("completions", "subtasks_done")
    op.drop_column("chores", "ticks")
    op.drop_column("chores", "subtasks")
