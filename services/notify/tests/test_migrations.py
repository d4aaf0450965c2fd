"""The notify migrations go up, down and up again on a fresh database, and match the models."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tests.support.migrations import check_reversible


async def test_upgrade_downgrade_upgrade(fresh_database: Callable[[str], Awaitable[str]]) -> None:
    await check_reversible(
        await fresh_database("notify_migrations"),
        "notify",
        tables={
            "household_members",
            "notifications",
            "outbox",
            "inbox",
            "email_deliveries",
            "idempotency_keys",
            "erased_users",
            "push_subscriptions",
            "push_deliveries",
            "notification_preferences",
            "chore_schedules",
            "lead_reminders",
            "household_activity",
            "webhooks",
            "webhook_deliveries",
        },
        indexes={
            "notifications": {
                "ix_notifications_unread",
                "ix_notifications_user_id_create_time_id",
                "ix_notifications_household_id",
                "ix_notifications_actor",
            },
            "email_deliveries": {"ix_email_deliveries_owed"},
            "push_subscriptions": {"ix_push_subscriptions_user_id"},
            "push_deliveries": {"ix_push_deliveries_subscription_id"},
            "household_activity": {"ix_household_activity_household_id_occurred_at"},
            "webhooks": {"ix_webhooks_household_id_create_time_id"},
            "webhook_deliveries": {"ix_webhook_deliveries_webhook_id_create_time_id", "ix_webhook_deliveries_finished"},
        },
        definitions={
            "ix_notifications_unread": ["WHERE (read_time IS NULL)"],
            "ix_notifications_actor": ["(data ->> 'completed_by'::text)"],
            "ix_email_deliveries_owed": ["WHERE (status = ANY (ARRAY['pending'::text, 'sending'::text]))"],
            "ix_webhook_deliveries_finished": ["WHERE (status = ANY (ARRAY['succeeded'::text, 'dead'::text]))"],
        },
    )
