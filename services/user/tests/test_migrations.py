"""The user migrations go up, down and up again on a fresh database, and match the models exactly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from kit.migrations import downgrade, upgrade
from tests.support.infra import ROOT
from tests.support.migrations import check_reversible

TABLES = {
    "users",
    "sessions",
    "spent_refresh_tokens",
    "households",
    "memberships",
    "invites",
    "idempotency_keys",
    "outbox",
    "recovery_codes",
    "password_resets",
    "api_keys",
    "away_periods",
    "audit_events",
    "exports",
    "inbox",
}
INDEXES = {
    "users": {"uq_users_email"},
    "sessions": {"uq_sessions_refresh_hash", "ix_sessions_user_id"},
    "memberships": {"uq_memberships_owner", "ix_memberships_user_id_household_id"},
    "invites": {"uq_invites_code_hash", "ix_invites_household_id"},
    "outbox": {"ix_outbox_unpublished", "ix_outbox_published_at"},
    "idempotency_keys": {"ix_idempotency_keys_created_at"},
    "api_keys": {"uq_api_keys_key_hash", "ix_api_keys_user_id_id"},
    "audit_events": {"ix_audit_events_user_id_id", "ix_audit_events_household_id_id"},
    "recovery_codes": {"ix_recovery_codes_user_id"},
    "password_resets": {"ix_password_resets_user_id"},
    "exports": {"ix_exports_user_id"},
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
            "ix_outbox_published_at": ["WHERE (published_at IS NOT NULL)"],
            "ix_audit_events_user_id_id": ["WHERE (user_id IS NOT NULL)"],
        },
    )


async def test_request_ids_recorded_before_0003_are_carried_over_and_back(
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    """A request id recorded by the old table stays recorded (under a fingerprint no request has, so a retry is
    refused rather than done twice), and goes back on downgrade."""
    url = await fresh_database("user_migrations_request_ids")
    service_dir = ROOT / "services" / "user"
    resource = uuid.uuid4()
    when = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    await asyncio.to_thread(upgrade, service_dir, url, "0002")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO idempotent_requests VALUES "
                    "('register:ann@example.com', 'r1', 'Register', :id, :at), ('u1', 'r2', 'CreateInvite', :id, :at)"
                ),
                {"id": resource, "at": when},
            )
        await asyncio.to_thread(upgrade, service_dir, url, "0003")
        async with engine.connect() as conn:
            carried = (await conn.execute(sa.text("SELECT * FROM idempotency_keys ORDER BY request_id"))).all()
        await asyncio.to_thread(downgrade, service_dir, url, "0002")
        async with engine.connect() as conn:
            back = (await conn.execute(sa.text("SELECT * FROM idempotent_requests ORDER BY request_id"))).all()
    finally:
        await engine.dispose()

    assert [tuple(row) for row in carried] == [
        ("create", "register:ann@example.com", "r1", "migrated:Register", resource, when),
        ("create", "u1", "r2", "migrated:CreateInvite", resource, when),
    ]
    assert [tuple(row) for row in back] == [
        ("register:ann@example.com", "r1", "Register", resource, when),
        ("u1", "r2", "migrated", resource, when),
    ]
