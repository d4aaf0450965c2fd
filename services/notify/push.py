"""Web Push delivery: every new notification of a user with subscriptions is pushed to each of their browsers —
`queue` (called from services.notify.consumers.notify, in the handler's transaction) and the `notify:send_push`
job, on notify's job queue (kit.jobs), like the mail job (services.notify.delivery).

`queue` writes a PushDelivery per (notification, subscription) — at most one: a replayed event pushes once — and
enqueues a job per new row, all in one round trip each, in the transaction that writes the notifications. A run of
the job:

1. locks the delivery: one already `sent` or `failed`, or gone with its notification (completion.undone, erasure)
   or its subscription, is done — nothing is pushed; otherwise it records the attempt and commits;
2. checks the endpoint's host resolves to public addresses only (services.notify.push_targets), builds the payload
   from the notification as it is now (JSON `{id, type, title, body, household_id, url?}`, at most
   `PAYLOAD_MAX_BYTES`), encrypts it for the browser (RFC 8291, aes128gcm: pywebpush and http_ece), signs a VAPID
   JWT for the endpoint's origin (RFC 8292: py_vapid) and POSTs it with httpx — no redirects followed, the answer's
   body never read, the whole request bounded by NOTIFY_PUSH_TIMEOUT_SECONDS;
3. records the outcome: 2xx `sent`; 404/410 (the browser unsubscribed) deletes the subscription at once — its
   deliveries with it — and nothing is retried; 429, 5xx, no answer → `pending` and the job raises, so procrastinate
   runs it again after a jittered backoff (NOTIFY_PUSH_RETRY_BASE/CAP_SECONDS), NOTIFY_PUSH_MAX_ATTEMPTS runs in all,
   then `failed`; any other answer (a 4xx, a redirect) or a private target is `failed` at once.

pywebpush's own senders are not used: its requests one blocks the event loop and follows redirects (a push service
that redirects to 169.254.169.254 would be an SSRF), its aiohttp one follows redirects and reads a body of any size
into memory. Only its encryption is.

At least once, as for mail: a worker that dies after the push service took the push and before `sent` is recorded
pushes again when the job is recovered. An endpoint URL is a capability (whoever has it can push to the browser):
logs and `last_error` name the subscription's id, never its URL.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, Protocol, cast
from urllib.parse import urlsplit

import httpx
import procrastinate
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from pywebpush import WebPusher
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.db import utcnow
from kit.ids import new_id
from kit.jobs import SESSIONS, BackoffUnlessPermanent, Permanent, defer_many_in
from services.notify.config import Settings
from services.notify.models import FAILED, PENDING, SENDING, SENT, Notification, PushDelivery, PushSubscription
from services.notify.push_targets import resolved_problem

log = logging.getLogger("hearth.notify.push")

TASK = "send_push"
SEND_PUSH = f"notify:{TASK}"
# A push service must take 4096 bytes of payload (RFC 8291 §4); encryption adds 86 (header, padding delimiter, tag).
PAYLOAD_MAX_BYTES = 3800
# A reminder or a miss is worth waking a phone for; the rest can wait for a good moment (RFC 8030 §5.3).
URGENT_TYPES = frozenset({"chore.due_soon", "chore.overdue"})
# RFC 8292 §2: a JWT lives at most 24 h; 12 h, as pywebpush does.
VAPID_LIFETIME_SECONDS = 12 * 3600
ERROR_MAX_LENGTH = 300


def delivery_lock(delivery_id: uuid.UUID) -> str:
    return f"notify:push:{delivery_id}"


# --- VAPID ---------------------------------------------------------------------------------------------------------


def load_vapid(settings: Settings) -> Vapid | None:
    """The VAPID key configured (NOTIFY_VAPID_PRIVATE_KEY: PEM or raw base64url; or NOTIFY_VAPID_PRIVATE_KEY_FILE),
    None when there is none (Web Push off). A key that is configured but unreadable fails at start."""
    if settings.vapid_private_key_file is not None:
        return Vapid.from_pem(settings.vapid_private_key_file.read_bytes())
    if settings.vapid_private_key is not None:
        secret = settings.vapid_private_key.get_secret_value().strip()
        if secret.startswith("-----BEGIN"):
            return Vapid.from_pem(secret.encode())
        return Vapid.from_raw(secret.encode())
    return None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_key(vapid: Vapid) -> str:
    """The applicationServerKey a browser subscribes with: the uncompressed P-256 point, base64url."""
    return b64url(
        vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


def vapid_authorization(vapid: Vapid, endpoint: str, subject: str, *, now: float | None = None) -> str:
    """The Authorization header for one push (`vapid t=<JWT>,k=<public key>`), for the endpoint's origin."""
    parts = urlsplit(endpoint)
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": int(now if now is not None else time.time()) + VAPID_LIFETIME_SECONDS,
        "sub": subject,
    }
    return str(vapid.sign(claims)["Authorization"])


# --- queueing ------------------------------------------------------------------------------------------------------


async def queue(
    session: AsyncSession, notifications: Sequence[Mapping[str, Any]], *, not_before: datetime | None = None
) -> int:
    """Owe a push of each new notification (a row as consumers.notify writes it: `id`, `user_id`, ...) to every
    current subscription of its recipient, and enqueue a job for each, in `session`'s transaction; `not_before`
    holds the jobs back until then (quiet hours). Returns how many pushes are owed. The one entry point of the push
    channel: whoever decides who gets pushes (preferences) filters `notifications` before calling."""
    if not notifications:
        return 0
    by_user: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in notifications:
        by_user.setdefault(row["user_id"], []).append(row["id"])
    connection = await session.connection()
    now = utcnow()
    subscriptions = (await connection.execute(_SUBSCRIPTIONS, {"users": list(by_user), "now": now})).all()
    if not subscriptions:
        return 0
    rows = [
        {
            "id": new_id(),
            "notification_id": notification_id,
            "subscription_id": subscription_id,
            "status": PENDING,
            "attempts": 0,
            "create_time": now,
        }
        for subscription_id, user_id in subscriptions
        for notification_id in by_user[user_id]
    ]
    created = [delivery_id for (delivery_id,) in await connection.execute(_ADD_DELIVERIES, rows)]
    await defer_many_in(
        session,
        SEND_PUSH,
        [(delivery_lock(delivery_id), {"delivery_id": str(delivery_id)}) for delivery_id in created],
        scheduled_at=not_before,
    )
    return len(created)


_subscriptions = cast(sa.Table, PushSubscription.__table__)
_SUBSCRIPTIONS = sa.select(_subscriptions.c.id, _subscriptions.c.user_id).where(
    _subscriptions.c.user_id == sa.func.any(sa.bindparam("users", type_=sa.ARRAY(sa.Uuid))),
    sa.or_(_subscriptions.c.expire_time.is_(None), _subscriptions.c.expire_time > sa.bindparam("now")),
)
_ADD_DELIVERIES = (
    insert(cast(sa.Table, PushDelivery.__table__))
    .on_conflict_do_nothing(constraint="uq_push_deliveries_notification_id_subscription_id")
    .returning(PushDelivery.__table__.c.id)
)


# --- the payload ---------------------------------------------------------------------------------------------------


def notification_url(notification: Notification) -> str | None:
    """Where the app shows what the notification is about (a path of the client's, relative), when it is a chore."""
    chore_id = (notification.data or {}).get("chore_id")
    return f"/households/{notification.household_id}/chores/{chore_id}" if chore_id else None


def payload(notification: Notification) -> bytes:
    """The JSON a service worker receives in its `push` event, at most PAYLOAD_MAX_BYTES: a body that would not fit
    (a rejection's long note) is cut, with an ellipsis."""
    content: dict[str, Any] = {
        "id": str(notification.id),
        "type": notification.type,
        "title": notification.title[:200],
        "body": notification.body,
        "household_id": str(notification.household_id),
    }
    if (url := notification_url(notification)) is not None:
        content["url"] = url

    def encoded(body: str) -> bytes:
        return json.dumps({**content, "body": body}, ensure_ascii=False, separators=(",", ":")).encode()

    whole = encoded(notification.body)
    if len(whole) <= PAYLOAD_MAX_BYTES:
        return whole
    # The longest start of the body that fits with an ellipsis (JSON escapes and UTF-8 make bytes ≠ characters).
    low, high = 0, len(notification.body)
    while low < high:
        middle = (low + high + 1) // 2
        if len(encoded(notification.body[:middle] + "…")) <= PAYLOAD_MAX_BYTES:
            low = middle
        else:
            high = middle - 1
    return encoded(notification.body[:low] + "…")


# --- sending -------------------------------------------------------------------------------------------------------


class Undeliverable(Permanent):
    """The push service refused the push for good, or the target may not be reached: no retry."""


# kit's jittered exponential backoff, except for a push refused for good.
PushRetry = BackoffUnlessPermanent


class PushFailed(Exception):
    """The push service did not take the push this time (429, 5xx, no answer): worth retrying."""


@dataclass(frozen=True)
class Push:
    endpoint: str
    body: bytes
    headers: Mapping[str, str]


class Pusher(Protocol):
    async def post(self, push: Push) -> int: ...


class HttpPusher:
    """POSTs a push with httpx: never a redirect, the answer's status only (its body is not read), bounded as a
    whole by `timeout` seconds."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    async def post(self, push: Push) -> int:
        async with (
            asyncio.timeout(self._timeout),
            httpx.AsyncClient(follow_redirects=False, timeout=self._timeout, trust_env=False) as client,
            client.stream("POST", push.endpoint, content=push.body, headers=dict(push.headers)) as response,
        ):
            return response.status_code


def encrypted(subscription: PushSubscription, body: bytes) -> bytes:
    """`body` encrypted for the subscription's browser (RFC 8291, aes128gcm, a fresh key and salt each time)."""
    pusher = WebPusher(
        {"endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}
    )
    return bytes(pusher.encode(body, "aes128gcm")["body"])


@dataclass(frozen=True)
class Attempt:
    subscription_id: uuid.UUID
    endpoint: str
    push: Push
    number: int


async def _start_attempt(
    sessions: async_sessionmaker[AsyncSession],
    delivery_id: uuid.UUID,
    *,
    vapid: Vapid,
    settings: Settings,
    now: datetime,
) -> Attempt | None:
    async with sessions() as session, session.begin():
        delivery = await session.get(PushDelivery, delivery_id, with_for_update=True)
        where = {"delivery_id": str(delivery_id)}
        if delivery is None:
            log.info("push no longer owed (its notification or subscription is gone)", extra=where)
            return None
        if delivery.status in (SENT, FAILED):
            log.info("push already over; not pushing again", extra={**where, "status": delivery.status})
            return None
        if delivery.status == SENDING:
            log.warning("an earlier attempt was cut off after it started; pushing again", extra=where)
        subscription = await session.get(PushSubscription, delivery.subscription_id)
        notification = await session.get(Notification, delivery.notification_id)
        # The foreign keys cascade: a delivery outlives neither.
        assert subscription is not None
        assert notification is not None
        delivery.status = SENDING
        delivery.attempts += 1
        headers = {
            "Authorization": vapid_authorization(vapid, subscription.endpoint, settings.vapid_subject),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(settings.push_ttl_seconds),
            "Urgency": "high" if notification.type in URGENT_TYPES else "normal",
        }
        push = Push(subscription.endpoint, encrypted(subscription, payload(notification)), headers)
        return Attempt(subscription.id, subscription.endpoint, push, delivery.attempts)


async def _finish(
    sessions: async_sessionmaker[AsyncSession],
    delivery_id: uuid.UUID,
    *,
    status: str,
    code: int | None,
    error: str | None,
    now: datetime,
) -> None:
    async with sessions() as session, session.begin():
        delivery = await session.get(PushDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            return
        delivery.status, delivery.last_status, delivery.last_error = status, code, error
        if status == SENT:
            delivery.sent_time = now


async def _unsubscribed(sessions: async_sessionmaker[AsyncSession], subscription_id: uuid.UUID) -> None:
    async with sessions() as session, session.begin():
        await session.execute(sa.delete(PushSubscription).where(PushSubscription.id == subscription_id))


def is_retryable(code: int) -> bool:
    return code == 429 or code >= 500


async def deliver(
    sessions: async_sessionmaker[AsyncSession],
    pusher: Pusher,
    delivery_id: uuid.UUID,
    *,
    vapid: Vapid,
    settings: Settings,
    final_attempt: bool,
    clock: Callable[[], datetime] = utcnow,
) -> str | None:
    """One run of the push job (see the module docstring): the delivery's status afterwards ("gone" when the
    subscription was removed), None when there was nothing to do. Raises when the push must be tried again
    (`Undeliverable` when it failed for good)."""
    attempt = await _start_attempt(sessions, delivery_id, vapid=vapid, settings=settings, now=clock())
    if attempt is None:
        return None
    where = {
        "delivery_id": str(delivery_id),
        "subscription_id": str(attempt.subscription_id),
        "attempt": attempt.number,
    }
    refused = await resolved_problem(attempt.endpoint, allow_private=settings.push_allow_private)
    if refused is not None:
        # A name that does not resolve may resolve later; one that points inside never should be pushed to.
        retryable = refused.startswith("host does not resolve")
        await _fail(sessions, delivery_id, None, refused, permanent=not retryable, final=final_attempt, where=where)
    try:
        code = await pusher.post(attempt.push)
    except (httpx.HTTPError, TimeoutError, OSError) as exc:
        # The endpoint is a capability: an error that quotes it is stored without it.
        error = f"{type(exc).__name__}: {exc}".replace(attempt.endpoint, "<endpoint>")[:ERROR_MAX_LENGTH]
        await _fail(sessions, delivery_id, None, error, permanent=False, final=final_attempt, where=where)
    if 200 <= code < 300:
        await _finish(sessions, delivery_id, status=SENT, code=code, error=None, now=clock())
        log.info("push sent", extra={**where, "status_code": code})
        return SENT
    if code in (404, 410):
        await _unsubscribed(sessions, attempt.subscription_id)
        log.info("the push service says the subscription is gone; removed it", extra={**where, "status_code": code})
        return "gone"
    await _fail(
        sessions,
        delivery_id,
        code,
        f"push service answered {code}",
        permanent=not is_retryable(code),
        final=final_attempt,
        where=where,
    )


async def _fail(
    sessions: async_sessionmaker[AsyncSession],
    delivery_id: uuid.UUID,
    code: int | None,
    error: str,
    *,
    permanent: bool,
    final: bool,
    where: Mapping[str, Any],
) -> NoReturn:
    """Record a failed attempt and raise: `Undeliverable` (no retry) or `PushFailed` (the job runs again)."""
    status = FAILED if permanent or final else PENDING
    await _finish(sessions, delivery_id, status=status, code=code, error=error, now=utcnow())
    if status == FAILED:
        log.error("push not delivered; giving up", extra={**where, "error": error, "permanent": permanent})
    else:
        log.warning("push not delivered yet; will retry", extra={**where, "error": error})
    if permanent:
        raise Undeliverable(error)
    raise PushFailed(error)


def push_jobs(settings: Settings, *, pusher: Pusher | None = None) -> procrastinate.Blueprint:
    """notify's push job for its worker: `notify:send_push` (without a VAPID key it refuses to run: nothing queues
    pushes then, since nobody can subscribe)."""
    blueprint = procrastinate.Blueprint()
    retry = PushRetry(
        max_attempts=settings.push_max_attempts,
        base=settings.push_retry_base_seconds,
        cap=settings.push_retry_cap_seconds,
    )
    vapid = load_vapid(settings)
    sender = pusher or HttpPusher(settings.push_timeout_seconds)

    @blueprint.task(name=TASK, pass_context=True, retry=retry)
    async def send_push(context: procrastinate.JobContext, delivery_id: str) -> str | None:
        if vapid is None:
            raise Undeliverable("no VAPID key is configured (NOTIFY_VAPID_PRIVATE_KEY or _FILE)")
        sessions: async_sessionmaker[AsyncSession] = context.additional_context[SESSIONS]
        return await deliver(
            sessions,
            sender,
            uuid.UUID(delivery_id),
            vapid=vapid,
            settings=settings,
            final_attempt=context.job.attempts + 1 >= retry.max_attempts,
        )

    return blueprint


__all__ = [
    "PAYLOAD_MAX_BYTES",
    "SEND_PUSH",
    "HttpPusher",
    "PushRetry",
    "Undeliverable",
    "deliver",
    "load_vapid",
    "payload",
    "public_key",
    "push_jobs",
    "queue",
    "vapid_authorization",
]
