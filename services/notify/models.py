"""The notify database: a read model of household membership (from user events), the in-app inbox, and the
mails it delivers for the other services, and the households' webhook endpoints with their delivery log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kit.db import make_base
from kit.events import inbox_table
from kit.idempotency import idempotency_table
from kit.outbox import outbox_table

if TYPE_CHECKING:  # mypy cannot use a base class returned by a function; the runtime one is make_base()'s

    class Base(DeclarativeBase):
        pass

else:
    Base = make_base()


class HouseholdMember(Base):
    """Who is in which household with what role, as member.* events tell it (a `kit.projection.Projection`).

    Events may arrive out of order, so each row keeps the time of the newest event applied to it (`as_of`)
    and an older event never overwrites a newer fact. A member who left keeps a row with `left_at` set (a
    tombstone), so a late `member.joined` cannot resurrect them.
    """

    __tablename__ = "household_members"

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # "owner", "admin", "member" or "child"; None until a member.joined/updated names it.
    role: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    as_of: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    # When each field was last set, by event time (kit.projection keeps it: newest wins per field).
    versions: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    left_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


class UserName(Base):
    """The display name, locale, time zone and address of each user notify has heard of (member.joined carries the
    name, user.registered the rest, user.updated all of them).

    A name is not a membership fact: it has its own event time, so a late member.joined cannot bring back a
    name a later user.updated replaced, in any household.
    """

    __tablename__ = "user_names"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # BCP 47, as the user service keeps it; None until an event names it (notifications are then in English).
    locale: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # IANA zone of the person (user.registered/updated): quiet hours are read in it; None → UTC.
    time_zone: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # Where notify mails them what they chose to get by email; None until an event names it (no mail then).
    email: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    as_of: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    # When each field was last set, by event time (kit.projection keeps it: newest wins per field).
    versions: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # One notification per event and recipient: redelivered events insert nothing.
        sa.UniqueConstraint("event_id", "user_id", name="uq_notifications_event_id_user_id"),
        # The inbox, newest first (keyset on create_time, id).
        sa.Index("ix_notifications_user_id_create_time_id", "user_id", "create_time", "id"),
        # The unread inbox and "mark all read" only touch unread rows: a partial index keeps them cheap.
        sa.Index(
            "ix_notifications_unread",
            "user_id",
            "create_time",
            "id",
            postgresql_where=sa.text("read_time IS NULL"),
        ),
        # household.deleted erases a household's notifications (services.notify.privacy).
        sa.Index("ix_notifications_household_id", "household_id"),
        # user.deleted finds the notifications that name the person as the actor (services.notify.privacy).
        sa.Index("ix_notifications_actor", sa.text("(data ->> 'completed_by')")),
        # completion.undone deletes the notifications of the completion it takes back (services.notify.consumers).
        sa.Index("ix_notifications_completion", sa.text("(data ->> 'completion_id')")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # The event type that caused it, e.g. "chore.completed".
    type: Mapped[str] = mapped_column(sa.Text, nullable=False)
    title: Mapped[str] = mapped_column(sa.Text, nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # What it is about, by type (services.notify.consumers): what its texts are written from (services.notify.texts,
    # again when the person it names is deleted), `locale` they are in, and `completed_by` the person it names.
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    read_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


class ErasedUser(Base):
    """A person whose account was deleted (user.deleted), by `services.notify.privacy.erasure_key` only (SHA-256 of
    the id; the id is not kept). A chore.completed about them still on its way — published before the deletion,
    read from the task stream after the user stream's user.deleted — is then written as a deleted user's."""

    __tablename__ = "erased_users"

    user_key: Mapped[bytes] = mapped_column(BYTEA, primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


# What an EmailDelivery's `status` may be (services.notify.delivery moves it along):
# pending (owed: queued, or waiting for a retry) → sending (an attempt under way) → sent | failed, or back to pending.
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
DELIVERY_STATUSES = (PENDING, SENDING, SENT, FAILED)


class EmailDelivery(Base):
    """One mail asked for with EmailService.SendEmail, and how its delivery went.

    The rendered mail and the full address are kept only while the mail is owed: once it is sent, or has failed for
    good, `recipient`, `subject`, `text_body` and `html_body` are cleared (a reset mail's body holds a secret link),
    and what stays is the redacted address, the template, the times and the outcome. The request id that made it
    is in `idempotency_keys` (kit.idempotency, scope "SendEmail"), kept 24 h.
    """

    __tablename__ = "email_deliveries"
    __table_args__ = (
        # Named "ck_email_deliveries_status" by the naming convention (kit.db).
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status"),
        # What is in flight or owed, oldest first (an operator's query; and the partial index stays small).
        sa.Index(
            "ix_email_deliveries_owed",
            "create_time",
            postgresql_where=sa.text("status IN ('pending', 'sending')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # Who asked: "service:<name>" (SendEmail is internal: service tokens only).
    caller: Mapped[str] = mapped_column(sa.Text, nullable=False)
    template: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # The language the mail was rendered in ("en", "de"), after falling back from the requested locale.
    language: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # The address as validated and normalised (email-validator); NULL once the delivery is over.
    recipient: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # "a***@example.com": what logs and operators see, kept after the delivery.
    recipient_redacted: Mapped[str] = mapped_column(sa.Text, nullable=False)
    subject: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    text_body: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    html_body: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # The Message-ID header, the same on every attempt: a receiver can tell a resent mail from a new one.
    message_id: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # SMTP attempts started (each run of the delivery job that got as far as connecting counts one).
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default=sa.text("0"))
    # Why the last attempt failed (error class, SMTP code, the server's words with addresses masked).
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # A mail notify sends of its own (services.notify.dispatch): the person it is for (erased with them), one mail
    # per key however often the event or the summary job runs, and the unsubscribe link of its category (the
    # List-Unsubscribe header; cleared with the mail). NULL for SendEmail's mails.
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(sa.Text, nullable=True, unique=True)
    unsubscribe_url: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # Held for the recipient's quiet hours: the job does not run before it (None: at once).
    not_before: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    # The procrastinate job that delivers it (kit.jobs), for looking it up in the queue.
    job_id: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    attempt_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    sent_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


class PushSubscription(Base):
    """A browser's Web Push subscription (PushManager.subscribe): where to push the user's notifications, and the
    keys to encrypt them for it (RFC 8291). An endpoint belongs to one user: the browser's signed-in person
    (services.notify.subscriptions)."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (
        # One row per endpoint: subscribing again renews it; another user subscribing it takes it over.
        sa.UniqueConstraint("endpoint", name="uq_push_subscriptions_endpoint"),
        # A user's subscriptions (listing, the limit, push.queue for each notification, erasure).
        sa.Index("ix_push_subscriptions_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    endpoint: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # base64url as the browser gave them (checked: a P-256 point of 65 bytes, a 16-byte secret).
    p256dh: Mapped[str] = mapped_column(sa.Text, nullable=False)
    auth: Mapped[str] = mapped_column(sa.Text, nullable=False)
    expire_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class PushDelivery(Base):
    """One notification to one subscription, and how pushing it went (services.notify.push moves `status` along
    like an EmailDelivery's). Goes with its notification (completion.undone, erasure) and its subscription."""

    __tablename__ = "push_deliveries"
    __table_args__ = (
        # One push per (notification, subscription): a replayed event or a job run twice pushes once.
        sa.UniqueConstraint(
            "notification_id", "subscription_id", name="uq_push_deliveries_notification_id_subscription_id"
        ),
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status"),
        # The foreign key's other side: deleting a subscription finds its deliveries.
        sa.Index("ix_push_deliveries_subscription_id", "subscription_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    notification_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("notifications.id", ondelete="CASCADE"), nullable=False
    )
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("push_subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default=sa.text("0"))
    # The push service's status code of the last attempt, and what went wrong (no endpoint URL: it is a secret).
    last_status: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    sent_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


class NotificationPreference(Base):
    """A user's notification preferences as they last put them (services.notify.preferences): only what they
    set — a type or channel they left out takes its default (preferences.DEFAULTS), read at each use."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # {event type: {channel: bool}}, as validated.
    events: Mapped[dict[str, dict[str, bool]]] = mapped_column(JSONB, nullable=False)
    # "HH:MM" in the user's zone; both NULL or both set.
    quiet_start: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    quiet_end: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    reminder_lead_minutes: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    # The ETag (W/"<version>").
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    update_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class ChoreSchedule(Base):
    """Each chore's open occurrence as task's events tell it (due time, assignee, title): what a reminder job
    scheduled for a user's own lead (services.notify.reminders) checks is still so when it runs. Every such event
    carries all three, so the newest event wins the whole row (`as_of`; not field by field as a kit.projection)."""

    __tablename__ = "chore_schedules"

    chore_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    title: Mapped[str] = mapped_column(sa.Text, nullable=False)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    next_due_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    as_of: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class LeadReminder(Base):
    """A reminder notify scheduled at due - the user's reminder_lead_minutes: one per (user, chore, occurrence)."""

    __tablename__ = "lead_reminders"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    chore_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), primary_key=True)
    # What the job is given (its args name no person: a job row outlives an erasure for a while).
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, unique=True)
    remind_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class HouseholdActivity(Base):
    """What the weekly summary counts, from task's events: a completion (by whom; `ref_id` the completion, so
    completion.undone takes it back) or a missed occurrence (whose; `ref_id` the occurrence). One row per
    (kind, ref_id); `user_id` NULL for nobody, or once the person is erased."""

    __tablename__ = "household_activity"
    __table_args__ = (sa.Index("ix_household_activity_household_id_occurred_at", "household_id", "occurred_at"),)

    # "completed" or "overdue".
    kind: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    ref_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


# What a Webhook's `state` may be: active (deliveries are made) or disabled (410 Gone, or too many dead deliveries
# in a row: services.notify.webhook_delivery; nothing more is delivered to it).
ACTIVE, DISABLED = "active", "disabled"
# What a WebhookDelivery's `status` may be: pending (owed: queued, or waiting for a retry) → sending (an attempt
# under way) → succeeded (a 2xx) | dead (every attempt failed, the endpoint answered 410, or it was disabled).
SUCCEEDED, DEAD = "succeeded", "dead"


class Webhook(Base):
    """A household's webhook endpoint (services.notify.webhooks): where its events are POSTed, signed.

    The signing secret is kept sealed (Fernet, services.notify.signing): a copy of the database alone cannot sign.
    During a rotation window the previous secret signs too (`previous_secret_sealed` until `previous_secret_until`).
    """

    __tablename__ = "webhooks"
    __table_args__ = (
        sa.CheckConstraint("state IN ('active', 'disabled')", name="state"),
        # A household's endpoints, oldest first (keyset on create_time, id); the fan-out reads them per event.
        sa.Index("ix_webhooks_household_id_create_time_id", "household_id", "create_time", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    url: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # Event types (the bus's names) or "*" for every household event.
    events: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default=sa.text("''"))
    secret_sealed: Mapped[str] = mapped_column(sa.Text, nullable=False)
    previous_secret_sealed: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    previous_secret_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    state: Mapped[str] = mapped_column(sa.Text, nullable=False)
    disabled_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    disabled_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    # Deliveries that ended dead since the last success: at NOTIFY_WEBHOOK_DISABLE_AFTER_DEAD the endpoint is disabled.
    dead_in_a_row: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default=sa.text("0"))
    created_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    update_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class WebhookDelivery(Base):
    """One event owed to one endpoint, and how its delivery went (the delivery log).

    `body` is the exact JSON POSTed (signed as sent); `webhook-id` is `event_id`, the same on every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'sending', 'succeeded', 'dead')", name="status"),
        # One delivery per (event, endpoint): a redelivered event delivers once.
        sa.UniqueConstraint("event_id", "webhook_id", name="uq_webhook_deliveries_event_id_webhook_id"),
        # The log of an endpoint, newest first (keyset on create_time, id).
        sa.Index("ix_webhook_deliveries_webhook_id_create_time_id", "webhook_id", "create_time", "id"),
        # The retention job (webhook_delivery.prune_deliveries) deletes finished deliveries by age.
        sa.Index(
            "ix_webhook_deliveries_finished",
            "create_time",
            postgresql_where=sa.text("status IN ('succeeded', 'dead')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    webhook_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False
    )
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    event_type: Mapped[str] = mapped_column(sa.Text, nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default=sa.text("0"))
    response_code: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    latency_ms: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    next_attempt_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    create_time: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    attempt_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


outbox = outbox_table(Base.metadata)
inbox = inbox_table(Base.metadata)
idempotency_keys = idempotency_table(Base.metadata)
