"""Webhook fan-out and delivery: the consumer's handler that owes each household event to the household's endpoints,
and the `notify:deliver_webhook` job that POSTs it, signed, until it arrives or is dead.

Fan-out (`fan_out`, run by the event consumer in its transaction for every event type an endpoint may subscribe
to): the household's active endpoints subscribed to the type (or to "*") each get one delivery row
(models.WebhookDelivery, unique per (event, endpoint): a redelivered event delivers once) and a job, in the same
transaction. The body is written once, Standard Webhooks' shape: `{"type", "timestamp", "data"}`, `data` the
event's payload as protobuf's JSON mapping (field names as in the proto) plus `household_id`.

A run of the job (`deliver`), like the mail job (services.notify.delivery):

1. in a short transaction locks the delivery: one already `succeeded` or `dead`, or gone with its endpoint, is done
   (a job run twice sends once); an endpoint disabled since makes it `dead`; otherwise it records the attempt
   (`sending`, `attempts` + 1) and opens the secrets that sign it (the current one, and the previous one during a
   rotation window);
2. POSTs it (`HttpSender`): the URL checked again (services.notify.ssrf) and the connection pinned to the checked
   address, redirects followed by hand (at most `MAX_REDIRECTS`, each target checked the same way), connect and
   read within NOTIFY_WEBHOOK_TIMEOUT_SECONDS (≤ 10 s), at most `MAX_RESPONSE_BYTES` of the answer read (undecoded:
   no decompression bomb), no proxy from the environment;
3. records the outcome: a 2xx is `succeeded` (and the endpoint's run of dead deliveries ends); a 410 Gone is
   `dead` and disables the endpoint at once; anything else (another status, no connection, a timeout, a refused
   address) is `pending` with `next_attempt_time`, and the job raises `RetryLater` so procrastinate runs it at that
   time — until NOTIFY_WEBHOOK_MAX_ATTEMPTS attempts, after which it is `dead`. NOTIFY_WEBHOOK_DISABLE_AFTER_DEAD
   dead deliveries in a row disable the endpoint. A `webhook.test` delivery is tried once and counts toward
   neither. Disabling tells the household's owner(s) in their inbox
   (`webhook.disabled`, with notification.created), once.

The waits are kit's jittered exponential backoff (each 50-100 % of min(cap, base·2^n)); with the defaults (5 s,
capped at 8 h, 20 attempts) a delivery is retried for 29.7 to 59.4 hours before it is dead.

At-least-once, and where: a worker that dies after the receiver answered and before the outcome commits leaves the
delivery `sending`; the stalled-job recovery runs it again and it is sent again, with the same `webhook-id`, which
is what receivers deduplicate on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast
from urllib.parse import urljoin

import httpx
import orjson
import procrastinate
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.backoff import backoff_delay
from kit.catalogue import EVENT_TYPES, producer_of
from kit.db import utcnow
from kit.events import Event, Handlers
from kit.ids import new_id
from kit.jobs import SESSIONS, defer_in
from kit.outbox import add_event
from services.notify import ssrf, texts
from services.notify.config import Settings
from services.notify.live import payload_dict
from services.notify.models import ACTIVE, DEAD, DISABLED, PENDING, SENDING, SUCCEEDED, Webhook, WebhookDelivery
from services.notify.repository import MemberRepository, NotificationRepository
from services.notify.signing import SecretBox, signature_header

log = logging.getLogger("hearth.notify.webhooks")

TASK = "deliver_webhook"
DELIVER_WEBHOOK = f"notify:{TASK}"
ALL_EVENTS = "*"
TEST_EVENT = "webhook.test"
DISABLED_EVENT = "webhook.disabled"
MAX_REDIRECTS = 3
MAX_RESPONSE_BYTES = 4096
ERROR_MAX_LENGTH = 500
USER_AGENT = "Hearth-Webhooks/1"
GONE, FAILING = "gone", "failing"
# Events about a person rather than a household (no household, no webhook), and household.deleted (its webhooks go
# with it, services.notify.privacy).
_NOT_OFFERED = frozenset({"user.registered", "user.updated", "user.deleted", "session.revoked", "household.deleted"})
# What an endpoint may subscribe to: the household events of the streams notify reads (user, task), by their bus
# names. notification.created is not among them: it is one person's inbox, not the household's news, and the event
# it tells of is offered itself.
EVENT_TYPES_OFFERED: frozenset[str] = frozenset(
    t for t in EVENT_TYPES if producer_of(t) in ("user", "task") and t not in _NOT_OFFERED
)
_webhooks = cast(sa.Table, Webhook.__table__)
_deliveries = cast(sa.Table, WebhookDelivery.__table__)


def delivery_lock(delivery_id: uuid.UUID) -> str:
    """The job's procrastinate lock: two jobs for one delivery never run at the same time."""
    return f"notify:webhook:{delivery_id}"


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def body_of(event_type: str, at: dt.datetime, data: Mapping[str, Any]) -> str:
    """The JSON body of a delivery (Standard Webhooks' payload shape), exactly as it is signed and sent."""
    return orjson.dumps({"type": event_type, "timestamp": iso(at), "data": dict(data)}).decode()


_INSERT = (
    insert(_deliveries)
    .on_conflict_do_nothing(constraint="uq_webhook_deliveries_event_id_webhook_id")
    .returning(*_deliveries.c)
)


async def enqueue(
    session: AsyncSession,
    webhook_ids: Sequence[uuid.UUID],
    household_id: uuid.UUID,
    event_id: uuid.UUID,
    event_type: str,
    body: str,
    now: dt.datetime,
) -> list[WebhookDelivery]:
    """One delivery per endpoint (none again for an (event, endpoint) that has one) and a job per new delivery, in
    `session`'s transaction; returns the new deliveries."""
    if not webhook_ids:
        return []
    rows = [
        {
            "id": new_id(),
            "webhook_id": webhook_id,
            "household_id": household_id,
            "event_id": event_id,
            "event_type": event_type,
            "body": body,
            "status": PENDING,
            "attempts": 0,
            "create_time": now,
        }
        for webhook_id in webhook_ids
    ]
    connection = await session.connection()
    created = [WebhookDelivery(**row._mapping) for row in await connection.execute(_INSERT, rows)]
    for delivery in created:
        await defer_in(session, DELIVER_WEBHOOK, lock=delivery_lock(delivery.id), delivery_id=str(delivery.id))
    return created


async def fan_out(session: AsyncSession, event: Event[Any]) -> None:
    """The event owed to every active endpoint of its household subscribed to its type (module docstring)."""
    household = event.household_id or getattr(event.payload, "household_id", "")
    if not household:
        return
    household_id = uuid.UUID(household)
    webhook_ids = list(
        await session.scalars(
            sa.select(_webhooks.c.id).where(
                _webhooks.c.household_id == household_id,
                _webhooks.c.state == ACTIVE,
                _webhooks.c.events.overlap(sa.literal([event.type, ALL_EVENTS], ARRAY(sa.Text))),
            )
        )
    )
    if not webhook_ids:
        return
    data = payload_dict(event.payload)
    data["household_id"] = str(household_id)
    body = body_of(event.type, event.occurred_at, data)
    created = await enqueue(session, webhook_ids, household_id, event.event_id, event.type, body, utcnow())
    if created:
        log.info("webhook deliveries queued", extra={"event_id": str(event.event_id), "deliveries": len(created)})


def fan_out_handlers() -> Handlers:
    """The consumer's handlers: `fan_out` for every event type an endpoint may subscribe to."""
    return {EVENT_TYPES[t]: fan_out for t in sorted(EVENT_TYPES_OFFERED)}


# --- sending ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """How one attempt went: the final HTTP status (None: no answer), the time to it, why it failed (None: 2xx)."""

    status: int | None
    latency_ms: int | None
    error: str | None


class Sender(Protocol):
    async def send(self, url: str, headers: Mapping[str, str], body: str) -> Answer: ...


def _printable(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()


class HttpSender:
    """POSTs a delivery safely (module docstring, step 2). A new connection per attempt: a pooled one, opened and
    verified for another name on the same address, must never carry a request."""

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout: float = 10.0,
        resolver: ssrf.Resolver = ssrf.system_resolver,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._resolver = resolver
        # The trust store certificates are checked against (None: the system's, through httpx's default).
        self._verify: ssl.SSLContext | bool = verify if verify is not None else True

    async def send(self, url: str, headers: Mapping[str, str], body: str) -> Answer:
        started = time.monotonic()
        current = url
        content = body.encode()
        timeout = httpx.Timeout(self._timeout, connect=self._timeout / 2)
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False, verify=self._verify
        ) as client:
            for _hop in range(MAX_REDIRECTS + 1):
                try:
                    target = await ssrf.check(current, self._resolver, allow_private=self._allow_private)
                except ssrf.Refused as refused:
                    return Answer(None, None, f"refused: {current[:200]} {refused}")
                endpoint = target.endpoint
                request_headers = {
                    **headers,
                    "host": endpoint.host_header,
                    "content-type": "application/json",
                    "user-agent": USER_AGENT,
                }
                # TLS to the checked address, still verified for the name (SNI and the certificate check use it).
                extensions = {"sni_hostname": endpoint.host} if endpoint.scheme == "https" else {}
                try:
                    async with asyncio.timeout(self._timeout):
                        async with client.stream(
                            "POST", target.pinned_url(), content=content, headers=request_headers, extensions=extensions
                        ) as response:
                            kept = bytearray()
                            async for chunk in response.aiter_raw():
                                kept += chunk
                                if len(kept) >= MAX_RESPONSE_BYTES:
                                    break
                except (TimeoutError, httpx.TimeoutException):
                    return Answer(None, None, f"timed out after {self._timeout:g} s")
                except httpx.HTTPError as exc:
                    return Answer(None, None, f"{type(exc).__name__}: {str(exc)[:200]}")
                latency = int((time.monotonic() - started) * 1000)
                status = response.status_code
                location = response.headers.get("location")
                if status in (301, 302, 303, 307, 308) and location:
                    current = urljoin(current, location)
                    continue
                if 200 <= status < 300:
                    return Answer(status, latency, None)
                snippet = _printable(bytes(kept[:200]))
                return Answer(status, latency, f"HTTP {status}" + (f": {snippet}" if snippet else ""))
        return Answer(None, None, f"more than {MAX_REDIRECTS} redirects")


# --- the job ---------------------------------------------------------------------------------------


class RetryLater(Exception):
    """The delivery failed and is due again at `retry_at` (recorded as its next_attempt_time)."""

    def __init__(self, message: str, retry_at: dt.datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class WebhookRetry(procrastinate.BaseRetryStrategy):
    """Runs the job again when the delivery said (`RetryLater`); anything else that broke a run (the database gone
    mid-attempt) is retried on kit's backoff, a bounded number of times."""

    def __init__(self, *, base: float, cap: float, max_attempts: int) -> None:
        self.base, self.cap, self.max_attempts = base, cap, max_attempts

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> procrastinate.RetryDecision | None:
        if isinstance(exception, RetryLater):
            return procrastinate.RetryDecision(retry_at=exception.retry_at)
        if job.attempts + 1 >= self.max_attempts:
            return None
        delay = backoff_delay(job.attempts, base=self.base, cap=self.cap)
        return procrastinate.RetryDecision(retry_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay))


@dataclass(frozen=True)
class Policy:
    """How deliveries are retried and when an endpoint is given up on (from the settings)."""

    max_attempts: int = 20
    base: float = 5.0
    cap: float = 8 * 3600.0
    disable_after_dead: int = 3

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt."""
        return backoff_delay(attempts - 1, base=self.base, cap=self.cap)

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            max_attempts=settings.webhook_max_attempts,
            base=settings.webhook_retry_base_seconds,
            cap=settings.webhook_retry_cap_seconds,
            disable_after_dead=settings.webhook_disable_after_dead,
        )


@dataclass(frozen=True)
class Attempt:
    url: str
    headers: dict[str, str]
    body: str
    number: int


def _secrets(box: SecretBox, webhook: Webhook, now: dt.datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one while its rotation window lasts."""
    sealed = [webhook.secret_sealed]
    if webhook.previous_secret_sealed and webhook.previous_secret_until and webhook.previous_secret_until > now:
        sealed.append(webhook.previous_secret_sealed)
    return [secret for secret in (box.open(s) for s in sealed) if secret]


async def _locked(session: AsyncSession, delivery_id: uuid.UUID) -> tuple[WebhookDelivery, Webhook] | None:
    row = (
        await session.execute(
            sa.select(WebhookDelivery, Webhook)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.id == delivery_id)
            .with_for_update()
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


async def _start(
    sessions: async_sessionmaker[AsyncSession], box: SecretBox, delivery_id: uuid.UUID, now: dt.datetime
) -> Attempt | None:
    async with sessions() as session, session.begin():
        found = await _locked(session, delivery_id)
        if found is None:
            log.info("no webhook delivery (its endpoint was deleted)", extra={"delivery_id": str(delivery_id)})
            return None
        delivery, webhook = found
        where = {"delivery_id": str(delivery_id), "webhook_id": str(webhook.id)}
        if delivery.status in (SUCCEEDED, DEAD):
            log.info("webhook delivery already over; not sending again", extra={**where, "status": delivery.status})
            return None
        if webhook.state == DISABLED and delivery.event_type != TEST_EVENT:
            delivery.status, delivery.next_attempt_time = DEAD, None
            delivery.last_error = "the endpoint is disabled"
            return None
        secrets = _secrets(box, webhook, now)
        if not secrets:
            delivery.status, delivery.next_attempt_time = DEAD, None
            delivery.last_error = "the endpoint's secret cannot be read (the webhook key changed): rotate it"
            log.error("webhook secret unreadable", extra=where)
            return None
        if delivery.status == SENDING:
            log.warning("an earlier attempt was cut off and may have arrived; sending it again", extra=where)
        delivery.status = SENDING
        delivery.attempts += 1
        delivery.attempt_time = now
        delivery.next_attempt_time = None
        message_id = str(delivery.event_id)
        timestamp = int(now.timestamp())
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, message_id, timestamp, delivery.body),
        }
        return Attempt(webhook.url, headers, delivery.body, delivery.attempts)


async def _tell_owners(session: AsyncSession, webhook: Webhook, now: dt.datetime) -> None:
    """The household's owner(s) hear, in their language, that the endpoint was disabled and why."""
    members = await MemberRepository(session).of_household(webhook.household_id)
    owners = [m for m in members if m.role == "owner" and m.left_at is None]
    event_id = new_id()
    data = {"webhook_id": str(webhook.id), "url": webhook.url[:200], "reason": webhook.disabled_reason}
    rows = []
    for owner in owners:
        title, body = texts.render(DISABLED_EVENT, owner.locale, data)
        rows.append(
            {
                "id": new_id(),
                "user_id": owner.user_id,
                "household_id": webhook.household_id,
                "type": DISABLED_EVENT,
                "title": title,
                "body": body,
                "data": {**data, "locale": owner.locale},
                "event_id": event_id,
                "create_time": now,
                "read_time": None,
            }
        )
    for notification_id, user_id in await NotificationRepository(session).add_many(rows):
        created = events_pb2.NotificationCreated(
            household_id=str(webhook.household_id),
            user_id=str(user_id),
            notification_id=str(notification_id),
            type=DISABLED_EVENT,
            source_event_id=str(event_id),
        )
        await add_event(session, created, household_id=webhook.household_id)


def _disable(webhook: Webhook, reason: str, now: dt.datetime) -> bool:
    """Disable the endpoint; whether it was active until now (and so its owners must hear of it)."""
    if webhook.state == DISABLED:
        return False
    webhook.state, webhook.disabled_reason, webhook.disabled_time, webhook.update_time = DISABLED, reason, now, now
    return True


async def _finish(
    sessions: async_sessionmaker[AsyncSession],
    delivery_id: uuid.UUID,
    answer: Answer,
    policy: Policy,
    now: dt.datetime,
) -> tuple[str, dt.datetime | None]:
    """Record the attempt's outcome (module docstring, step 3): the delivery's status and, when pending, when the
    next attempt is due."""
    async with sessions() as session, session.begin():
        found = await _locked(session, delivery_id)
        if found is None:
            return DEAD, None
        delivery, webhook = found
        delivery.response_code, delivery.latency_ms = answer.status, answer.latency_ms
        delivery.last_error = None if answer.error is None else answer.error[:ERROR_MAX_LENGTH]
        counts = delivery.event_type != TEST_EVENT
        disabled_now = False
        retry_at = None
        if answer.error is None:
            delivery.status = SUCCEEDED
            if counts:
                webhook.dead_in_a_row = 0
        elif answer.status == 410:
            delivery.status = DEAD
            disabled_now = _disable(webhook, GONE, now)
        elif delivery.attempts >= policy.max_attempts or not counts:
            # A test delivery is one probe: its answer is in the log, and it is not retried.
            delivery.status = DEAD
            if counts:
                webhook.dead_in_a_row += 1
                if webhook.dead_in_a_row >= policy.disable_after_dead:
                    disabled_now = _disable(webhook, FAILING, now)
        else:
            delivery.status = PENDING
            retry_at = now + dt.timedelta(seconds=policy.delay(delivery.attempts))
            delivery.next_attempt_time = retry_at
        if disabled_now:
            log.warning("webhook disabled", extra={"webhook_id": str(webhook.id), "reason": webhook.disabled_reason})
            await _tell_owners(session, webhook, now)
        return delivery.status, retry_at


async def deliver(
    sessions: async_sessionmaker[AsyncSession],
    sender: Sender,
    box: SecretBox,
    delivery_id: uuid.UUID,
    *,
    policy: Policy,
    clock: Callable[[], dt.datetime] = utcnow,
) -> str | None:
    """One run of the delivery job (module docstring): the delivery's status afterwards, None when there was
    nothing to send. Raises RetryLater when it must be tried again."""
    attempt = await _start(sessions, box, delivery_id, clock())
    if attempt is None:
        return None
    answer = await sender.send(attempt.url, attempt.headers, attempt.body)
    status, retry_at = await _finish(sessions, delivery_id, answer, policy, clock())
    where = {
        "delivery_id": str(delivery_id),
        "attempt": attempt.number,
        "response_code": answer.status,
        "error": answer.error,
    }
    if status == SUCCEEDED:
        log.info("webhook delivered", extra=where)
    elif status == DEAD:
        log.error("webhook delivery dead", extra=where)
    if retry_at is not None:
        log.warning("webhook not delivered yet; will retry", extra={**where, "retry_at": retry_at.isoformat()})
        raise RetryLater(answer.error or "not delivered", retry_at)
    return status


PRUNE_TASK = "prune_webhook_deliveries"
PRUNE_BATCH = 1000


async def prune_deliveries(sessions: async_sessionmaker[AsyncSession], *, before: dt.datetime) -> int:
    """Delete finished deliveries (succeeded, dead) made before `before`, in batches; how many went. Owed ones stay
    however old (a job still holds them)."""
    finished = _deliveries.c.status.in_([SUCCEEDED, DEAD])
    pruned = 0
    while True:
        ids = (
            sa.select(_deliveries.c.id)
            .where(finished, _deliveries.c.create_time < before)
            .order_by(_deliveries.c.create_time)  # ix_webhook_deliveries_finished
            .limit(PRUNE_BATCH)
        )
        async with sessions() as session, session.begin():
            result = await session.execute(sa.delete(_deliveries).where(_deliveries.c.id.in_(ids.scalar_subquery())))
        count = int(getattr(result, "rowcount", 0) or 0)
        pruned += count
        if count < PRUNE_BATCH:
            return pruned


def webhook_jobs(
    settings: Settings, *, sender: Sender | None = None, box: SecretBox | None = None
) -> procrastinate.Blueprint:
    """notify's webhook jobs for its worker: `notify:deliver_webhook`, and `notify:prune_webhook_deliveries` on
    NOTIFY_WEBHOOK_PRUNE_CRON (the delivery log's retention, NOTIFY_WEBHOOK_LOG_RETENTION_DAYS)."""
    blueprint = procrastinate.Blueprint()
    policy = Policy.of(settings)
    http = sender or HttpSender(allow_private=settings.webhooks_allow_private, timeout=settings.webhook_timeout_seconds)
    sealing = box or secret_box(settings)
    retry = WebhookRetry(base=policy.base, cap=policy.cap, max_attempts=policy.max_attempts * 2)

    @blueprint.task(name=TASK, pass_context=True, retry=retry)
    async def deliver_webhook(context: procrastinate.JobContext, delivery_id: str) -> str | None:
        sessions: async_sessionmaker[AsyncSession] = context.additional_context[SESSIONS]
        return await deliver(sessions, http, sealing, uuid.UUID(delivery_id), policy=policy)

    @blueprint.periodic(cron=settings.webhook_prune_cron, periodic_id="webhook_log", queueing_lock=PRUNE_TASK)
    @blueprint.task(name=PRUNE_TASK, pass_context=True, queueing_lock=PRUNE_TASK)
    async def prune_webhook_deliveries(context: procrastinate.JobContext, timestamp: int) -> int:
        """The cutoff is from the scheduled time, so a second run deletes nothing the first did not mean to."""
        sessions: async_sessionmaker[AsyncSession] = context.additional_context[SESSIONS]
        cutoff = dt.datetime.fromtimestamp(timestamp, dt.UTC) - dt.timedelta(days=settings.webhook_log_retention_days)
        return await prune_deliveries(sessions, before=cutoff)

    return blueprint


def secret_box(settings: Settings) -> SecretBox:
    """The SecretBox of the settings: NOTIFY_WEBHOOK_KEY, else NOTIFY_SERVICE_SECRET."""
    material = settings.webhook_key or settings.service_secret
    return SecretBox(material.get_secret_value() if material is not None else None)


__all__ = [
    "ALL_EVENTS",
    "DELIVER_WEBHOOK",
    "EVENT_TYPES_OFFERED",
    "TEST_EVENT",
    "Answer",
    "HttpSender",
    "Policy",
    "RetryLater",
    "body_of",
    "deliver",
    "enqueue",
    "fan_out",
    "fan_out_handlers",
    "prune_deliveries",
    "secret_box",
    "webhook_jobs",
]
