"""The analytics migrations go up, down and up again on a fresh database, and match the models."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tests.support.migrations import check_reversible


async def test_upgrade_downgrade_upgrade(fresh_database: Callable[[str], Awaitable[str]]) -> None:
    await check_reversible(
        await fresh_database("analytics_migrations"),
        "analytics",
        tables={
            "members",
            "completions",
            "outbox",
            "inbox",
            "erased_users",
            "deleted_households",
            "missed_occurrences",
        },
        indexes={
            "completions": {
                "ix_completions_household_id_completed_at",
                "ix_completions_household_id_user_id_completed_at",
                # One person's completions in every household (0005: erasure and export).
                "ix_completions_user_id",
                # Was a missed occurrence done late after all (0006).
                "ix_completions_chore_id_due_at",
            },
            "missed_occurrences": {
                "pk_missed_occurrences",
                "ix_missed_occurrences_household_id_due_at",
                "ix_missed_occurrences_user_id",
            },
            "erased_users": {"pk_erased_users"},
            "deleted_households": {"pk_deleted_households"},
        },
        definitions={
            "pk_erased_users": ["(user_key)"],
            "pk_missed_occurrences": ["(occurrence_id)"],
            "ix_missed_occurrences_household_id_due_at": ["(household_id, due_at)"],
        },
    )
