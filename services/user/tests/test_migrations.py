"""The user migrations go up, down and up again on a fresh database, and match the models exactly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tests.support.migrations import check_reversible

TABLES = {
    "users",
    "sessions",
    "spent_refresh_tokens",
    "households",
    "memberships",
    "invites",
    "idempotent_requests",
    "outbox",
}
INDEXES = {
    "users": {"uq_users_email"},
    "sessions": {"uq_sessions_refresh_hash", "ix_sessions_user_id"},
    "memberships": {"uq_memberships_owner", "ix_memberships_user_id_household_id"},
    "invites": {"uq_invites_code_hash", "ix_invites_household_id"},
    "outbox": {"ix_outbox_unpublished"},
}


async def test_upgrade_downgrade_upgrade(fresh_database: Callable[[str], Awaitable[str]]) -> None:
    await check_reversible(
        await fresh_database("user_migrations"),
        "user",
        tables=TABLES,
        indexes=INDEXES,
        # Emails are unique case-insensitively; a household has at most one owner.
        definitions={
            "uq_users_email": ["UNIQUE INDEX", "lower(email)"],
            "uq_memberships_owner": ["UNIQUE INDEX", "WHERE (role = 'owner'::text)"],
            "ix_outbox_unpublished": ["WHERE (published_at IS NULL)"],
        },
    )
