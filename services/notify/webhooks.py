"""WebhookService's use cases: a household's webhook endpoints — create, list, get, delete, rotate the secret, send a
test — and their delivery log.

Only the household's owner and admins (roles.PERMISSIONS["webhook.manage"], asked of the user service through
MembershipClient) may do any of it: an endpoint's URL and secret are not every member's business. Someone not in the
household gets NOT_FOUND for the household and for each of its webhooks, as for one of another household.

A create checks everything at once: the URL (services.notify.ssrf: the URL rules, then every address its host
resolves to — 422 for a private, loopback, link-local, metadata... target), the events (each a household event type
of the catalogue, `EVENT_TYPES`, or "*"), the description; and at most NOTIFY_WEBHOOKS_PER_HOUSEHOLD endpoints per
household (409 beyond, counted under a per-household lock so two creates at once cannot pass it together). A
create with a request id already used answers the first webhook again, with its secret, to the same caller only
(kit.idempotency, scope "CreateWebhook"): the gateway does not keep the answer (it holds a secret), the service does.

The secret (services.notify.signing) is shown in the create and rotate answers only. A rotation keeps the previous
secret signing beside the new one for ROTATION_WINDOW, so receivers can switch without losing a delivery.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit import idempotency, pagination
from kit.db import utcnow
from kit.errors import Conflict, NotFound
from kit.ids import new_id
from kit.repository import Cursor, Page, after_key, page
from kit.validation import REQUIRED_MESSAGE, Violations, caller_id
from services.notify import ssrf
from services.notify.models import ACTIVE, PENDING, SENDING, Webhook, WebhookDelivery
from services.notify.signing import SecretBox, new_secret
from services.notify.webhook_delivery import ALL_EVENTS, EVENT_TYPES_OFFERED, TEST_EVENT, body_of, enqueue
from services.user.client import PERMISSIONS, MembershipClient

log = logging.getLogger("hearth.notify.webhooks")

SCOPE = "CreateWebhook"
DESCRIPTION_MAX_LENGTH = 200
EVENTS_MAX = 50
ROTATION_WINDOW = timedelta(hours=24)
CURSOR_NEWEST: Sequence[pagination.CursorPart] = (pagination.Timestamp(), pagination.Uuid())
_webhooks = cast(sa.Table, Webhook.__table__)
_WEBHOOKS_ORDER = (_webhooks.c.create_time, _webhooks.c.id)
_deliveries = cast(sa.Table, WebhookDelivery.__table__)
_DELIVERIES_ORDER = (_deliveries.c.create_time, _deliveries.c.id)


@dataclass(frozen=True)
class Created:
    webhook: Webhook
    secret: str


def _events(errors: Violations, events: Sequence[str]) -> list[str]:
    """The subscribed types, each once, in a stable order ("*" alone stands for all)."""
    if not events:
        errors.add("events", REQUIRED_MESSAGE)
        return []
    if len(events) > EVENTS_MAX:
        errors.add("events", f"must hold at most {EVENTS_MAX} event types")
        return []
    chosen: set[str] = set()
    for index, event_type in enumerate(events):
        if event_type == ALL_EVENTS or event_type in EVENT_TYPES_OFFERED:
            chosen.add(event_type)
        else:
            shown = event_type[:64]
            errors.add(f"events[{index}]", f"{shown!r} is not a household event type (see the event catalogue) or *")
    return [ALL_EVENTS] if ALL_EVENTS in chosen else sorted(chosen)


class WebhookService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        membership: MembershipClient,
        box: SecretBox,
        *,
        allow_private: bool = False,
        per_household: int = 10,
        resolver: ssrf.Resolver = ssrf.system_resolver,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._membership = membership
        self._box = box
        self._allow_private = allow_private
        self._per_household = per_household
        self._resolver = resolver
        self._clock = clock

    async def _manager(self, household_id: uuid.UUID) -> uuid.UUID:
        await self._membership.require(household_id, roles=PERMISSIONS["webhook.manage"])
        return caller_id()

    async def _url(self, errors: Violations, url: str) -> str:
        url = url.strip()
        if not url:
            errors.add("url", REQUIRED_MESSAGE)
            return url
        try:
            await ssrf.check(url, self._resolver, allow_private=self._allow_private)
        except ssrf.Refused as refused:
            errors.add("url", str(refused))
        return url

    async def create(
        self, household_id: uuid.UUID, *, url: str, events: Sequence[str], description: str, request_id: str
    ) -> Created:
        user_id = await self._manager(household_id)
        errors = Violations()
        description = errors.text("description", description, max_length=DESCRIPTION_MAX_LENGTH)
        chosen = _events(errors, events)
        errors.request_id(request_id)
        url = await self._url(errors, url)
        errors.raise_if_any()
        webhook_id, secret, now = new_id(), new_secret(), self._clock()
        async with self._sessions() as session, session.begin():
            earlier = await idempotency.claim(
                session,
                scope=SCOPE,
                caller=user_id,
                request_id=request_id,
                fingerprint=idempotency.fingerprint(household_id, url, chosen, description),
                resource_id=webhook_id,
            )
            if earlier is not None:
                found = await session.get(Webhook, earlier)
                if found is None:  # deleted since: the request's webhook is gone
                    raise NotFound("webhook not found")
                shown = self._box.open(found.secret_sealed)
                log.info("webhook create replayed", extra={"webhook_id": str(earlier)})
                return Created(found, shown or "")
            # One create at a time per household, so the count below cannot be passed by two creates together.
            await session.execute(
                sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"webhooks:{household_id}", 0)))
            )
            count = await session.scalar(
                sa.select(sa.func.count()).select_from(_webhooks).where(_webhooks.c.household_id == household_id)
            )
            if int(count or 0) >= self._per_household:
                raise Conflict(f"a household may have at most {self._per_household} webhooks")
            webhook = Webhook(
                id=webhook_id,
                household_id=household_id,
                url=url,
                events=chosen,
                description=description,
                secret_sealed=self._box.seal(secret),
                state=ACTIVE,
                dead_in_a_row=0,
                created_by=user_id,
                create_time=now,
                update_time=now,
            )
            session.add(webhook)
        log.info("webhook created", extra={"webhook_id": str(webhook_id), "household_id": str(household_id)})
        return Created(webhook, secret)

    async def _get(self, session: AsyncSession, household_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook:
        found = await session.scalar(
            sa.select(Webhook).where(Webhook.id == webhook_id, Webhook.household_id == household_id)
        )
        if found is None:
            raise NotFound("webhook not found")
        return found

    async def get(self, household_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook:
        await self._manager(household_id)
        async with self._sessions() as session:
            return await self._get(session, household_id, webhook_id)

    async def list(self, household_id: uuid.UUID, *, page_size: int = 0, page_token: str = "") -> Page[Webhook]:
        """The household's webhooks, oldest first."""
        await self._manager(household_id)
        order = (Webhook.create_time, Webhook.id)
        async with self._sessions() as session:

            async def fetch(after: Cursor | None, limit: int) -> list[Webhook]:
                query = sa.select(Webhook).where(Webhook.household_id == household_id)
                if after is not None:
                    query = query.where(after_key(_WEBHOOKS_ORDER, after))
                return list(await session.scalars(query.order_by(*order).limit(limit)))

            return await page(
                fetch,
                page_size=page_size,
                page_token=page_token,
                query=pagination.fingerprint("webhooks", str(household_id)),
                cursor=CURSOR_NEWEST,
                key=lambda w: (w.create_time, w.id),
            )

    async def delete(self, household_id: uuid.UUID, webhook_id: uuid.UUID) -> None:
        """The webhook and its delivery log go; its queued jobs find nothing left to send."""
        await self._manager(household_id)
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                sa.delete(_webhooks).where(_webhooks.c.id == webhook_id, _webhooks.c.household_id == household_id)
            )
            if not getattr(result, "rowcount", 0):
                raise NotFound("webhook not found")
        log.info("webhook deleted", extra={"webhook_id": str(webhook_id)})

    async def rotate(self, household_id: uuid.UUID, webhook_id: uuid.UUID) -> Created:
        """A new secret; the one it replaces signs beside it for ROTATION_WINDOW. Rotating again within the window
        replaces the new secret only (the one receivers had before keeps signing) and restarts the window."""
        await self._manager(household_id)
        secret, now = new_secret(), self._clock()
        async with self._sessions() as session, session.begin():
            webhook = await self._get(session, household_id, webhook_id)
            await session.refresh(webhook, with_for_update=True)
            # Within a window the previous secret stays the one receivers had before it began: a rotation repeated
            # (a lost answer) must not drop the secret they still verify with.
            in_window = webhook.previous_secret_until is not None and webhook.previous_secret_until > now
            if not (in_window and webhook.previous_secret_sealed):
                webhook.previous_secret_sealed = webhook.secret_sealed
            webhook.previous_secret_until = now + ROTATION_WINDOW
            webhook.secret_sealed = self._box.seal(secret)
            webhook.update_time = now
        log.info("webhook secret rotated", extra={"webhook_id": str(webhook_id)})
        return Created(webhook, secret)

    async def test(self, household_id: uuid.UUID, webhook_id: uuid.UUID) -> WebhookDelivery:
        """Queue a `webhook.test` delivery, tried once (a disabled endpoint gets one too: it is how to see it answer
        again). One at a time per endpoint: while one is on its way another is 409, so the test cannot be turned
        into a flood of requests at someone's URL."""
        await self._manager(household_id)
        now = self._clock()
        event_id = new_id()
        async with self._sessions() as session, session.begin():
            webhook = await self._get(session, household_id, webhook_id)
            await session.refresh(webhook, with_for_update=True)
            in_flight = await session.scalar(
                sa.select(sa.func.count())
                .select_from(_deliveries)
                .where(
                    _deliveries.c.webhook_id == webhook.id,
                    _deliveries.c.event_type == TEST_EVENT,
                    _deliveries.c.status.in_([PENDING, SENDING]),
                )
            )
            if in_flight:
                raise Conflict("a test delivery to this webhook is already on its way")
            data = {"household_id": str(household_id), "webhook_id": str(webhook.id)}
            body = body_of(TEST_EVENT, now, data)
            (delivery,) = await enqueue(session, [webhook.id], household_id, event_id, TEST_EVENT, body, now)
        return delivery

    async def deliveries(
        self, household_id: uuid.UUID, webhook_id: uuid.UUID, *, page_size: int = 0, page_token: str = ""
    ) -> Page[WebhookDelivery]:
        """The webhook's delivery log, newest first."""
        await self._manager(household_id)
        async with self._sessions() as session:
            await self._get(session, household_id, webhook_id)

            async def fetch(after: Cursor | None, limit: int) -> list[WebhookDelivery]:
                query = sa.select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
                if after is not None:
                    query = query.where(after_key(_DELIVERIES_ORDER, after, descending=True))
                query = query.order_by(WebhookDelivery.create_time.desc(), WebhookDelivery.id.desc())
                return list(await session.scalars(query.limit(limit)))

            return await page(
                fetch,
                page_size=page_size,
                page_token=page_token,
                query=pagination.fingerprint("webhook_deliveries", str(webhook_id)),
                cursor=CURSOR_NEWEST,
                key=lambda d: (d.create_time, d.id),
            )


__all__ = [
    "ALL_EVENTS",
    "EVENT_TYPES_OFFERED",
    "ROTATION_WINDOW",
    "TEST_EVENT",
    "Created",
    "WebhookService",
]
