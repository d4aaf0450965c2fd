"""The task database: chores (with their current schedule state), their completions and ended occurrences, and
members' away periods."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column

from kit.db import make_base
from kit.events import inbox_table
from kit.idempotency import idempotency_table
from kit.outbox import outbox_table

if TYPE_CHECKING:  # mypy cannot use a base class returned by a function; the runtime one is make_base()'s

    class Base(DeclarativeBase):
        pass

else:
    Base = make_base()

ACTIVE, DONE, ARCHIVED = "active", "done", "archived"
STATES = (ACTIVE, DONE, ARCHIVED)
# How an occurrence ended (Occurrence.outcome).
OUTCOME_DONE, OUTCOME_SKIPPED, OUTCOME_MISSED = "done", "skipped", "missed"
OUTCOMES = (OUTCOME_DONE, OUTCOME_SKIPPED, OUTCOME_MISSED)
# A completion's review (Completion.status): only an approved one counts (points, stats, the rotation's tallies).
APPROVED, PENDING, REJECTED = "approved", "pending", "rejected"
REVIEW_STATUSES = (APPROVED, PENDING, REJECTED)

# The chores the background scans look at (services.task.jobs), as partial-index predicates.
ACTIVE_SQL = "state = 'active'"
ROTATING_SQL = "state = 'active' AND (assignment ->> 'rotate') IN ('daily', 'weekly')"

# The sort key of "by due time": a done one-off chore has no next due time and sorts last.
DUE_KEY_SQL = "coalesce(next_due_time, 'infinity'::timestamp with time zone)"
# What full-text search looks at ('simple': no stemming, so it works the same for every language).
SEARCH_SQL = "to_tsvector('simple'::regconfig, title || ' ' || description)"


class Chore(Base):
    __tablename__ = "chores"
    __table_args__ = (
        sa.CheckConstraint(f"state IN {STATES!r}", name="state"),
        sa.CheckConstraint("points BETWEEN 0 AND 1000", name="points"),
        # One index per sort order of ListChores, each behind the state filter every list applies.
        sa.Index("ix_chores_household_id_state_due", "household_id", "state", sa.text(DUE_KEY_SQL), "id"),
        sa.Index("ix_chores_household_id_state_create_time_id", "household_id", "state", "create_time", "id"),
        sa.Index("ix_chores_household_id_state_points_id", "household_id", "state", "points", "id"),
        sa.Index("ix_chores_household_id_state_title_id", "household_id", "state", "title", "id"),
        # Filters: assignee (also "my chores by due time"), category, label, full text.
        sa.Index("ix_chores_household_id_assignee_id_next_due_time", "household_id", "assignee_id", "next_due_time"),
        # A person's agenda across households (ListAgenda): their active chores by due time.
        sa.Index(
            "ix_chores_agenda", "assignee_id", "next_due_time", "id", postgresql_where=sa.text("state = 'active'")
        ),
        sa.Index("ix_chores_household_id_category", "household_id", "category"),
        sa.Index("ix_chores_labels", "labels", postgresql_using="gin"),
        sa.Index("ix_chores_search", "search", postgresql_using="gin"),
        # The background scans (services.task.jobs): open occurrences by due time (miss scan, reminders), and the
        # chores rotating on a schedule by when their next turn starts.
        sa.Index("ix_chores_active_next_due_time", "next_due_time", postgresql_where=sa.text(ACTIVE_SQL)),
        sa.Index("ix_chores_rotation_next_time", "rotation_next_time", postgresql_where=sa.text(ROTATING_SQL)),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    title: Mapped[str] = mapped_column(sa.Text, nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False)
    category: Mapped[str] = mapped_column(sa.Text, nullable=False)
    labels: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), nullable=False)
    points: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    estimated_minutes: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    # scheduling.Recurrence.as_json() / scheduling.Assignment.as_json()
    recurrence: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    assignment: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # The schedule's origin (occurrences are anchor + k steps); reset when the schedule is changed.
    anchor_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    # NULL once a one-off chore is done.
    next_due_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    # When the open occurrence opened (scheduling.is_open): NULL, open since the chore or its schedule began.
    open_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    # Reminder lead times in minutes.
    reminders: Mapped[list[int]] = mapped_column(ARRAY(sa.Integer), nullable=False)
    requires_photo: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    requires_approval: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    state: Mapped[str] = mapped_column(sa.Text, nullable=False)
    creator_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    last_completion_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    update_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    # Bumped by every change; the etag is its text.
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    # A chore rotating daily/weekly (assignment.rotate): the start of the turn last applied, when the next one
    # starts, and the index in the assignees of who that turn is nominally (before away members are skipped).
    # NULL until the rotation scan first sees the chore, and again when its assignment is edited (the scan then
    # starts the rotation afresh from the current assignee). Kept by services.task.jobs only.
    rotation_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    rotation_next_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    rotation_index: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    # [{"id", "title"}], in order (services.task.subtasks).
    subtasks: Mapped[list[dict[str, str]]] = mapped_column(
        JSONB, nullable=False, default=list, server_default=sa.text("'[]'::jsonb")
    )
    # {"due": the occurrence's due time (ISO 8601, UTC), "done": [subtask ids ticked for it]}; {} when none were.
    ticks: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=sa.text("'{}'::jsonb")
    )
    # Generated by PostgreSQL; never loaded (only queried).
    search: Mapped[str] = deferred(mapped_column(TSVECTOR, sa.Computed(SEARCH_SQL, persisted=True), nullable=True))


class Completion(Base):
    __tablename__ = "completions"
    __table_args__ = (
        # History of one chore, and of the whole household (parent households/{h}/chores/-), newest first.
        sa.Index("ix_completions_chore_id_complete_time_id", "chore_id", "complete_time", "id"),
        sa.Index("ix_completions_household_id_complete_time_id", "household_id", "complete_time", "id"),
        # A person's completions in every household, former ones included (erasure on user.deleted, export): done
        # by them, or recorded by them. (A person's chores are found by a scan: a household has tens of chores,
        # while its completions grow without bound.)
        sa.Index("ix_completions_completed_by", "completed_by"),
        sa.Index("ix_completions_recorder_id", "recorder_id"),
        # The occurrences a person held (erasure on user.deleted).
        sa.Index("ix_completions_assignee_id", "assignee_id"),
        sa.CheckConstraint(f"status IN {REVIEW_STATUSES!r}", name="status"),
        # What waits for an adult's approval in a household (ListCompletions status=pending).
        sa.Index(
            "ix_completions_pending",
            "household_id",
            "complete_time",
            "id",
            postgresql_where=sa.text("status = 'pending'"),
        ),
        # The reviews a person made (erasure on user.deleted).
        sa.Index("ix_completions_reviewer_id", "reviewer_id"),
        # Whether a completion names a photo (the unused-photo prune, services.task.photos.prune_unused).
        sa.Index("ix_completions_photo", "photo", postgresql_where=sa.text("photo <> ''")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    chore_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("chores.id", ondelete="CASCADE"), nullable=False
    )
    # Who did it, and who recorded it (an adult may record a completion for someone else).
    completed_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    recorder_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # Who had the occurrence when it was completed (None: nobody); least_assigned counts these.
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    complete_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    note: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # households/{h}/photos/{p}, or "".
    photo: Mapped[str] = mapped_column(sa.Text, nullable=False)
    points: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    # The occurrence this completion fulfilled.
    due_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    on_time: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    # The review (APPROVED at once unless the chore requires approval and a child recorded it), and who decided,
    # when and why (None / "" until then, or when no review was needed).
    status: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default=APPROVED)
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    review_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    review_note: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default="")
    # The chore's subtasks ticked for the occurrence it ended, as they were then: [{"id", "title"}].
    subtasks_done: Mapped[list[dict[str, str]]] = mapped_column(
        JSONB, nullable=False, default=list, server_default=sa.text("'[]'::jsonb")
    )


class Occurrence(Base):
    """An occurrence of a chore that ended: done (with its completion), skipped or missed — written in the transaction
    that ended it. A done or skipped row keeps what the chore was before (`prior_*`), which undoing the completion
    restores (services.task.scheduling's lifecycle table); `after_version` is the chore's version the change left,
    so an undo can tell that nothing changed the chore since."""

    __tablename__ = "occurrences"
    __table_args__ = (
        sa.CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome"),
        # History of one chore, newest first (ListOccurrences), and the household's erasure.
        sa.Index("ix_occurrences_chore_id_end_time_id", "chore_id", "end_time", "id"),
        sa.Index("ix_occurrences_household_id", "household_id"),
        # A person's rows in every household (erasure on user.deleted, export).
        sa.Index("ix_occurrences_assignee_id", "assignee_id"),
        sa.Index("ix_occurrences_completed_by", "completed_by"),
        sa.Index("ix_occurrences_recorder_id", "recorder_id"),
        sa.Index("ix_occurrences_completion_id", "completion_id", unique=True),
        # An occurrence is missed once (the miss scan inserts ON CONFLICT DO NOTHING against it).
        sa.Index(
            "ux_occurrences_chore_id_due_time_missed",
            "chore_id",
            "due_time",
            unique=True,
            postgresql_where=sa.text("outcome = 'missed'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    chore_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("chores.id", ondelete="CASCADE"), nullable=False
    )
    due_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    # Who held it (None: nobody).
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    outcome: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # Who did it (done only), and who recorded the completion or the skip (None: missed, seen by the service).
    completed_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    recorder_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    # When it ended: the completion's time, or when it was skipped or missed.
    end_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    # The completion of a done occurrence; undoing it deletes both.
    completion_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("completions.id", ondelete="CASCADE"), nullable=True
    )
    # The chore before the change (what an undo restores) and its version after it.
    prior_next_due_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    prior_open_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    prior_assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    prior_state: Mapped[str] = mapped_column(sa.Text, nullable=False)
    prior_last_completion_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    after_version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class SentReminder(Base):
    """A reminder sent (chore.due_soon): one per chore, occurrence due time and lead time, so the reminder scan sends
    each once however often it runs. A snoozed or rescheduled occurrence has a new due time, so a key of its own.
    Rows whose occurrence can never be reminded again are pruned by the scan (services.task.jobs)."""

    __tablename__ = "sent_reminders"
    __table_args__ = (sa.Index("ix_sent_reminders_due_time", "due_time"),)

    chore_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("chores.id", ondelete="CASCADE"), primary_key=True
    )
    due_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), primary_key=True)
    before_minutes: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    sent_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class Away(Base):
    """A member's away period in a household, as told by the user service's member.away_set / member.away_cleared
    (a `kit.projection.Projection`: one row per member per household; a newer period replaces the older one,
    a clearing is the tombstone `cleared_at`, so a late older event cannot bring a cleared period back).
    Assignment reads it as `scheduling.AwayPeriod`s. Erased with the member (user.deleted) or the household
    (household.deleted)."""

    __tablename__ = "away_periods"
    __table_args__ = (
        # A person's periods in every household (erasure, export).
        sa.Index("ix_away_periods_user_id", "user_id"),
    )

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # [start_time, end_time); NULL start: away since ever, NULL end: until cleared.
    start_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    as_of: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    versions: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    # Set when the period was cleared (member.away_cleared): no longer away.
    cleared_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


class CalendarFeed(Base):
    """A member's calendar feed token for a household (services.task.feeds): one per member per household; creating
    it again replaces the token. Only the token's SHA-256 is kept (the token itself is shown once), so a copy of the
    table opens no feed."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (
        # A fetch finds its feed by the token's hash.
        sa.Index("ux_calendar_feeds_token_hash", "token_hash", unique=True),
        # A person's feeds in every household (erasure, export).
        sa.Index("ix_calendar_feeds_user_id", "user_id"),
    )

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


def etag_of(chore: Chore) -> str:
    """A chore's etag (AIP-154): its version, bumped by every change."""
    return str(chore.version)


outbox = outbox_table(Base.metadata)
inbox = inbox_table(Base.metadata)
# CreateChore's and CompleteChore's request ids (kit.idempotency): scoped to the caller, so two members
# using the same one each make their own request.
idempotency_keys = idempotency_table(Base.metadata)


# --- points and rewards (services.task.points) --------------------------------------------------------------

COMPLETION_POINTS, UNDO, PENALTY, REDEMPTION, ADJUSTMENT = "completion", "undo", "penalty", "redemption", "adjustment"
POINT_REASONS = (COMPLETION_POINTS, UNDO, PENALTY, REDEMPTION, ADJUSTMENT)


class PointEntry(Base):
    """One line of a member's points ledger: append-only (no code path updates or deletes one, but erasure, which
    replaces the user id with kit.erasure.DELETED_USER, and a deleted household's erasure). A redemption is its
    ledger entry: its id is the redemption's id."""

    __tablename__ = "points_ledger"
    __table_args__ = (
        sa.CheckConstraint(f"reason IN {POINT_REASONS!r}", name="reason"),
        # A member's entries, newest first (GET …/points), keyset on (create_time, id).
        sa.Index(
            "ix_points_ledger_household_id_user_id_create_time_id", "household_id", "user_id", "create_time", "id"
        ),
        # A person's entries in every household (erasure, export).
        sa.Index("ix_points_ledger_user_id", "user_id"),
        # A missed occurrence is penalised once, however often the miss scan runs.
        sa.Index(
            "ux_points_ledger_occurrence_id_penalty",
            "occurrence_id",
            unique=True,
            postgresql_where=sa.text("reason = 'penalty'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    delta: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # What the entry is about (each NULL when it is about something else).
    completion_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    reward_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    # A penalty's missed occurrence (models.Occurrence).
    occurrence_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    # Who caused it (the completer's recorder, the redeemer, the job's service identity: NULL).
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    # The member's balance after this entry.
    balance: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class PointBalance(Base):
    """SUM(points_ledger.delta) per member, kept in the transaction of each entry (services.task.points.record):
    reading a balance is one primary-key lookup, and its row lock is what serialises concurrent redemptions."""

    __tablename__ = "point_balances"
    __table_args__ = (sa.Index("ix_point_balances_user_id", "user_id"),)

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    balance: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    update_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class Reward(Base):
    """What a household's members may spend their points on (created by owners and admins). Deleting one archives
    it (`archive_time`): the ledger's redemptions keep pointing at it."""

    __tablename__ = "rewards"
    __table_args__ = (
        sa.CheckConstraint("cost BETWEEN 1 AND 100000", name="cost"),
        sa.Index("ix_rewards_household_id_create_time_id", "household_id", "create_time", "id"),
        sa.Index("ix_rewards_creator_id", "creator_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    title: Mapped[str] = mapped_column(sa.Text, nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False)
    cost: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    creator_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    # Set when deleted: no longer listed or redeemable.
    archive_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


class Category(Base):
    """A household's chore category (services.task.categories): chores name it by `name` (their `category` column),
    which is unique in the household case-insensitively. No person's data: erased with the household only."""

    __tablename__ = "categories"
    __table_args__ = (
        # One name per household whatever its case; also the list's order (lower(name), then id).
        sa.Index("ux_categories_household_id_name", "household_id", sa.text("lower(name)"), unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    update_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


# --- photos (services.task.photos) -------------------------------------------------------------------------------

THUMBNAIL_PENDING, THUMBNAIL_READY, THUMBNAIL_FAILED = "pending", "ready", "failed"
THUMBNAIL_STATES = (THUMBNAIL_PENDING, THUMBNAIL_READY, THUMBNAIL_FAILED)


class Photo(Base):
    """A household's photo: what the store holds under `key` (its bytes, metadata stripped) and what it is. Immutable
    but for its thumbnail, which the worker adds (`thumbnail_key`, `thumbnail_state`), and the uploader, whom
    erasure replaces with NULL (the photo is the household's: it stays)."""

    __tablename__ = "photos"
    __table_args__ = (
        sa.CheckConstraint(f"thumbnail_state IN {THUMBNAIL_STATES!r}", name="thumbnail_state"),
        sa.CheckConstraint("size >= 0", name="size"),
        # A household's photos (erasure of a household, listings by time).
        sa.Index("ix_photos_household_id_create_time_id", "household_id", "create_time", "id"),
        # A person's uploads in every household (erasure, export).
        sa.Index("ix_photos_uploaded_by", "uploaded_by"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    content_type: Mapped[str] = mapped_column(sa.Text, nullable=False)
    size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    # Hex SHA-256 of the stored bytes (the ETag of GET …/photos/{pid}).
    sha256: Mapped[str] = mapped_column(sa.Text, nullable=False)
    width: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    height: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    key: Mapped[str] = mapped_column(sa.Text, nullable=False)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    thumbnail_key: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    thumbnail_state: Mapped[str] = mapped_column(sa.Text, nullable=False)
    thumbnail_size: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    thumbnail_sha256: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
