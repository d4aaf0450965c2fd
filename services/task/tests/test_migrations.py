"""The task migrations go up, down and up again on a fresh database, and match the models exactly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from kit.ids import new_id
from kit.migrations import downgrade, upgrade
from tests.support.migrations import check_reversible

SERVICE_DIR = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHORE_INDEXES = {
    "ix_chores_household_id_state_due",
    "ix_chores_household_id_state_create_time_id",
    "ix_chores_household_id_state_points_id",
    "ix_chores_household_id_state_title_id",
    "ix_chores_household_id_assignee_id_next_due_time",
    "ix_chores_household_id_category",
    "ix_chores_labels",
    "ix_chores_search",
}
COMPLETION_INDEXES = {
    "ix_completions_chore_id_complete_time_id",
    "ix_completions_household_id_complete_time_id",
    # A person's completions in every household (0006: erasure and export).
    "ix_completions_completed_by",
    "ix_completions_recorder_id",
    # Who held each completed occurrence (0008: least_assigned, erasure).
    "ix_completions_assignee_id",
}
# Members' away periods (0006), one per member per household.
AWAY_INDEXES = {"pk_away_periods", "ix_away_periods_user_id"}
# Calendar feed tokens (0011), one per member per household, found by their hash.
FEED_INDEXES = {"pk_calendar_feeds", "ux_calendar_feeds_token_hash", "ix_calendar_feeds_user_id"}
# CreateChore's and CompleteChore's request ids (0004: kit.idempotency's table, per caller).
IDEMPOTENCY_INDEXES = {"pk_idempotency_keys", "ix_idempotency_keys_created_at"}
# Points and rewards (0010): a member's entries newest first, a person's everywhere (erasure, export).
LEDGER_INDEXES = {
    "pk_points_ledger",
    "ix_points_ledger_household_id_user_id_create_time_id",
    "ix_points_ledger_user_id",
}
BALANCE_INDEXES = {"pk_point_balances", "ix_point_balances_user_id"}
REWARD_INDEXES = {"pk_rewards", "ix_rewards_household_id_create_time_id", "ix_rewards_creator_id"}
# A household's categories (0014), one per name whatever its case.
CATEGORY_INDEXES = {"pk_categories", "ux_categories_household_id_name"}
# Photos (0013): a household's by time, a person's uploads everywhere (erasure, export).
PHOTO_INDEXES = {"pk_photos", "ix_photos_household_id_create_time_id", "ix_photos_uploaded_by"}


async def test_upgrade_downgrade_upgrade(fresh_database: Callable[[str], Awaitable[str]]) -> None:
    await check_reversible(
        await fresh_database("task_migrations"),
        "task",
        tables={
            "chores",
            "completions",
            "occurrences",
            "outbox",
            "inbox",
            "idempotency_keys",
            "away_periods",
            "points_ledger",
            "point_balances",
            "rewards",
            "calendar_feeds",
            "categories",
            "photos",
        },
        indexes={
            "chores": CHORE_INDEXES,
            "completions": COMPLETION_INDEXES,
            "idempotency_keys": IDEMPOTENCY_INDEXES,
            "away_periods": AWAY_INDEXES,
            "points_ledger": LEDGER_INDEXES,
            "point_balances": BALANCE_INDEXES,
            "rewards": REWARD_INDEXES,
            "calendar_feeds": FEED_INDEXES,
            "categories": CATEGORY_INDEXES,
            "photos": PHOTO_INDEXES,
        },
        definitions={
            "ix_chores_search": ["USING gin (search)"],
            "ix_chores_labels": ["USING gin (labels)"],
            "ix_chores_household_id_state_due": ["COALESCE(next_due_time, 'infinity'"],
            # Request ids are per caller: keyed by the method, the creator / the recorder, and the id.
            "pk_idempotency_keys": ["UNIQUE", "(scope, caller, request_id)"],
            "pk_away_periods": ["(household_id, user_id)"],
            "pk_point_balances": ["(household_id, user_id)"],
            "ux_categories_household_id_name": ["UNIQUE", "(household_id, lower(name))"],
        },
    )


async def test_categories_are_made_of_the_names_chores_hold(fresh_database: Callable[[str], Awaitable[str]]) -> None:
    """0014 makes one category per name a household's chores hold, whatever its case (the first chore's spelling),
    and writes that spelling back onto the chores that spelt it otherwise; chores without one stay without."""
    url = await fresh_database("task_categories")
    await asyncio.to_thread(upgrade, SERVICE_DIR, url, "0011")
    home, other, alice = new_id(), new_id(), new_id()
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for index, (household, category) in enumerate(
                [(home, "Kitchen"), (home, "kitchen"), (home, "Garden"), (home, ""), (other, "KITCHEN")]
            ):
                await conn.execute(
                    sa.text(
                        "INSERT INTO chores (id, household_id, title, description, category, labels, points,"
                        " recurrence, assignment, reminders, requires_photo, requires_approval, state, creator_id,"
                        " create_time, update_time, version) VALUES (:id, :household, 'Dishes', '', :category,"
                        " '{}', 1, '{}', '{}', '{}', false, false, 'active', :creator, :at, :at, 1)"
                    ),
                    {
                        "id": new_id(),
                        "household": household,
                        "category": category,
                        "creator": alice,
                        "at": T0 + timedelta(minutes=index),
                    },
                )
        await asyncio.to_thread(upgrade, SERVICE_DIR, url)
        async with engine.connect() as conn:
            categories = sorted((await conn.execute(sa.text("SELECT household_id, name FROM categories"))).all())
            chores = sorted((await conn.execute(sa.text("SELECT household_id, category FROM chores"))).all())
            defaults = (await conn.execute(sa.text("SELECT DISTINCT subtasks::text, ticks::text FROM chores"))).all()
    finally:
        await engine.dispose()
    assert categories == sorted([(home, "Kitchen"), (home, "Garden"), (other, "KITCHEN")])
    assert chores == sorted([(home, "Kitchen"), (home, "Kitchen"), (home, "Garden"), (home, ""), (other, "KITCHEN")])
    assert defaults == [("[]", "{}")]
    await asyncio.to_thread(downgrade, SERVICE_DIR, url, "0011")


async def test_downgrading_request_ids_per_caller_keeps_the_first_of_colliding_ones(
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    """Two callers may share a request id at 0002; going back to 0001 (one per household / chore) keeps the
    first one's and forgets the later one's, instead of failing on the old unique key."""
    url = await fresh_database("task_request_ids")
    await asyncio.to_thread(upgrade, SERVICE_DIR, url, "0002")  # request ids were columns until 0004
    household, alice, bob = new_id(), new_id(), new_id()
    first, second = new_id(), new_id()
    chore_row = (
        "INSERT INTO chores (id, household_id, title, description, category, labels, points, recurrence, assignment,"
        " reminders, requires_photo, requires_approval, state, creator_id, create_time, update_time, version,"
        " request_id) VALUES (:id, :household, 'Dishes', '', '', '{}', 1, '{}', '{}', '{}', false, false, 'active',"
        " :creator, :at, :at, 1, 'same')"
    )
    completion_row = (
        "INSERT INTO completions (id, household_id, chore_id, completed_by, recorder_id, complete_time, note, photo,"
        " points, on_time, create_time, request_id) VALUES (:id, :household, :chore, :by, :by, now(), '', '', 1,"
        " true, :at, 'same')"
    )
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for chore_id, creator, at in ((first, alice, T0), (second, bob, T0 + timedelta(days=1))):
                await conn.execute(
                    sa.text(chore_row), {"id": chore_id, "household": household, "creator": creator, "at": at}
                )
            for by, at in ((alice, T0 + timedelta(days=2)), (bob, T0 + timedelta(days=3))):
                await conn.execute(
                    sa.text(completion_row),
                    {"id": new_id(), "household": household, "chore": first, "by": by, "at": at},
                )
        await asyncio.to_thread(downgrade, SERVICE_DIR, url, "0001")
        async with engine.connect() as conn:
            chores = dict((await conn.execute(sa.text("SELECT creator_id, request_id FROM chores"))).all())
            completions = dict((await conn.execute(sa.text("SELECT recorder_id, request_id FROM completions"))).all())
    finally:
        await engine.dispose()
    assert chores == {alice: "same", bob: None}
    assert completions == {alice: "same", bob: None}
    await asyncio.to_thread(upgrade, SERVICE_DIR, url)


async def test_request_ids_move_into_idempotency_keys_and_back(fresh_database: Callable[[str], Awaitable[str]]) -> None:
    """0004 carries the last day's request ids over (a retry never makes a second chore or completion; with no
    fingerprint to compare, it is refused as a reused id); its downgrade puts them back on their rows."""
    url = await fresh_database("task_idempotency_keys")
    await asyncio.to_thread(upgrade, SERVICE_DIR, url, "0003")
    household, alice = new_id(), new_id()
    recent, old, completion = new_id(), new_id(), new_id()
    now = datetime.now(UTC)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for chore_id, request_id, at in ((recent, "recent", now - timedelta(hours=1)), (old, "old", T0)):
                await conn.execute(
                    sa.text(
                        "INSERT INTO chores (id, household_id, title, description, category, labels, points,"
                        " recurrence, assignment, reminders, requires_photo, requires_approval, state, creator_id,"
                        " create_time, update_time, version, request_id) VALUES (:id, :household, 'Dishes', '', '',"
                        " '{}', 1, '{}', '{}', '{}', false, false, 'active', :creator, :at, :at, 1, :request_id)"
                    ),
                    {"id": chore_id, "household": household, "creator": alice, "at": at, "request_id": request_id},
                )
            await conn.execute(
                sa.text(
                    "INSERT INTO completions (id, household_id, chore_id, completed_by, recorder_id, complete_time,"
                    " note, photo, points, on_time, create_time, request_id) VALUES (:id, :household, :chore, :by,"
                    " :by, now(), '', '', 1, true, now(), 'done')"
                ),
                {"id": completion, "household": household, "chore": recent, "by": alice},
            )
        await asyncio.to_thread(upgrade, SERVICE_DIR, url)
        async with engine.connect() as conn:
            keys = (
                await conn.execute(sa.text("SELECT scope, caller, request_id, resource_id FROM idempotency_keys"))
            ).all()
        assert sorted(keys) == [
            ("CompleteChore", str(alice), "done", completion),
            ("CreateChore", str(alice), "recent", recent),
        ]

        await asyncio.to_thread(downgrade, SERVICE_DIR, url, "0003")
        async with engine.connect() as conn:
            chores = dict((await conn.execute(sa.text("SELECT id, request_id FROM chores"))).all())
            completions = dict((await conn.execute(sa.text("SELECT id, request_id FROM completions"))).all())
    finally:
        await engine.dispose()
    # The old one was past the 24 h an id is kept: forgotten.
    assert chores == {recent: "recent", old: None}
    assert completions == {completion: "done"}
    await asyncio.to_thread(upgrade, SERVICE_DIR, url)


async def test_search_column_is_generated_from_title_and_description(
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    url = await fresh_database("task_search")
    await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            generated = await conn.scalar(
                sa.text(
                    "SELECT generation_expression FROM information_schema.columns "
                    "WHERE table_name = 'chores' AND column_name = 'search'"
                )
            )
    finally:
        await engine.dispose()
    assert "to_tsvector" in str(generated)
    assert "title" in str(generated)
    assert "description" in str(generated)
