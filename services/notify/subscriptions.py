"""PushSubscriptionService's use cases: the caller's Web Push subscriptions (a browser's PushSubscription) and the
VAPID public key a browser subscribes with.

A subscription is the caller's own: `users/me` (or their id) only — another user's parent is PERMISSION_DENIED,
another user's subscription NOT_FOUND (never reveal it exists). Checked whole, every bad field at once:

- `endpoint`: an https URL of at most 2048 characters that does not point inside (services.notify.push_targets);
- `p256dh`: base64url of an uncompressed P-256 point (65 bytes) that is on the curve — a key no browser could have
  made would fail every push;
- `auth`: base64url of 16 bytes;
- `expire_time`: unset, or in the future.

An endpoint is one browser's: subscribing it again answers the same subscription with the keys renewed (the
browser made a new key pair), and a user subscribing an endpoint another user had takes it over — it is the
browser of whoever is signed in now, and the one before must stop receiving there. A user has at most
NOTIFY_PUSH_MAX_SUBSCRIPTIONS (409 beyond; a per-user advisory lock makes the count exact under concurrency).
Deleting takes the subscription's name or, since that is what a browser has when it unsubscribes, its endpoint.
Without a VAPID key (NOTIFY_VAPID_PRIVATE_KEY / _FILE) Web Push is off: subscribing and the public key are
NOT_FOUND.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.db import utcnow
from kit.errors import Conflict, NotFound, PermissionDenied
from kit.ids import new_id
from kit.validation import REQUIRED_MESSAGE, Violations
from services.notify import push
from services.notify.models import PushSubscription
from services.notify.push_targets import endpoint_violation
from services.notify.service import own_user

P256DH_BYTES = 65
AUTH_BYTES = 16
# base64url of at most a few hundred bytes: a longer value is refused before it is decoded.
KEY_MAX_LENGTH = 200
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
NOT_CONFIGURED_MESSAGE = "Web Push is not configured on this server"


@dataclass(frozen=True)
class NewSubscription:
    endpoint: str
    p256dh: str
    auth: str
    expire_time: datetime | None = None


def decoded(value: str) -> bytes | None:
    """The bytes of a base64url value, padded or not; None when it is not base64url."""
    if not _BASE64URL.fullmatch(value):
        return None
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        return None


def p256dh_violation(value: str) -> str | None:
    if not value:
        return REQUIRED_MESSAGE
    raw = decoded(value) if len(value) <= KEY_MAX_LENGTH else None
    if raw is None or len(raw) != P256DH_BYTES or raw[0] != 0x04:
        return "must be an uncompressed P-256 public key (65 bytes), base64url"
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        return "is not a point on the P-256 curve"
    return None


def auth_violation(value: str) -> str | None:
    if not value:
        return REQUIRED_MESSAGE
    raw = decoded(value) if len(value) <= KEY_MAX_LENGTH else None
    if raw is None or len(raw) != AUTH_BYTES:
        return "must be a 16-byte secret, base64url"
    return None


def checked(new: NewSubscription, *, allow_private: bool, now: datetime) -> NewSubscription:
    errors = Violations()
    endpoint = new.endpoint.strip()
    if not endpoint:
        errors.add("push_subscription.endpoint", REQUIRED_MESSAGE)
    elif (problem := endpoint_violation(endpoint, allow_private=allow_private)) is not None:
        errors.add("push_subscription.endpoint", problem)
    if (problem := p256dh_violation(new.p256dh.strip())) is not None:
        errors.add("push_subscription.p256dh", problem)
    if (problem := auth_violation(new.auth.strip())) is not None:
        errors.add("push_subscription.auth", problem)
    if new.expire_time is not None and new.expire_time <= now:
        errors.add("push_subscription.expire_time", "must be in the future")
    errors.raise_if_any()
    return NewSubscription(endpoint, new.p256dh.strip(), new.auth.strip(), new.expire_time)


class PushSubscriptionService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        vapid: Vapid | None,
        max_subscriptions: int,
        allow_private: bool,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._public_key = push.public_key(vapid) if vapid is not None else None
        self._max = max_subscriptions
        self._allow_private = allow_private
        self._clock = clock

    def vapid_public_key(self) -> str:
        if self._public_key is None:
            raise NotFound(NOT_CONFIGURED_MESSAGE)
        return self._public_key

    @staticmethod
    def _parent(user: str) -> uuid.UUID:
        user_id = own_user(user, field="parent")
        if user_id is None:
            raise PermissionDenied("you can only manage your own push subscriptions")
        return user_id

    async def create(self, user: str, new: NewSubscription) -> PushSubscription:
        """The caller's subscription of `new.endpoint`: a new one, or the one they already have (keys renewed)."""
        user_id = self._parent(user)
        self.vapid_public_key()
        now = self._clock()
        new = checked(new, allow_private=self._allow_private, now=now)
        try:
            async with self._sessions() as session, session.begin():
                return await self._upsert(session, user_id, new, now)
        except IntegrityError:
            # Another user subscribed the same endpoint at the same instant (the lock is per user).
            raise Conflict("the subscription changed while it was being saved; try again") from None

    async def _upsert(
        self, session: AsyncSession, user_id: uuid.UUID, new: NewSubscription, now: datetime
    ) -> PushSubscription:
        # Serialises one user's subscribing, so the limit holds however many arrive at once.
        await session.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"notify:push:{user_id}", 0)))
        )
        existing = await session.scalar(
            sa.select(PushSubscription).where(PushSubscription.endpoint == new.endpoint).with_for_update()
        )
        if existing is not None and existing.user_id == user_id:
            existing.p256dh, existing.auth, existing.expire_time = new.p256dh, new.auth, new.expire_time
            return existing
        if existing is not None:
            # The browser's signed-in person changed: the one before stops receiving there.
            await session.delete(existing)
            await session.flush()
        count = await session.scalar(
            sa.select(sa.func.count()).select_from(PushSubscription).where(PushSubscription.user_id == user_id)
        )
        if (count or 0) >= self._max:
            raise Conflict(f"a user has at most {self._max} push subscriptions; remove one first")
        subscription = PushSubscription(
            id=new_id(),
            user_id=user_id,
            endpoint=new.endpoint,
            p256dh=new.p256dh,
            auth=new.auth,
            expire_time=new.expire_time,
            create_time=now,
        )
        session.add(subscription)
        await session.flush()
        return subscription

    async def list(self, user: str) -> list[PushSubscription]:
        user_id = self._parent(user)
        async with self._sessions() as session:
            result = await session.scalars(
                sa.select(PushSubscription)
                .where(PushSubscription.user_id == user_id)
                .order_by(PushSubscription.create_time.desc(), PushSubscription.id.desc())
            )
            return list(result)

    async def delete(self, user: str, *, subscription_id: uuid.UUID | None = None, endpoint: str = "") -> None:
        """Delete one of the caller's subscriptions, by id or by endpoint; NOT_FOUND when they have none such."""
        user_id = own_user(user, field="name")
        if user_id is None:
            raise NotFound("push subscription not found")
        query = sa.delete(PushSubscription).where(PushSubscription.user_id == user_id)
        if subscription_id is not None:
            query = query.where(PushSubscription.id == subscription_id)
        else:
            query = query.where(PushSubscription.endpoint == endpoint.strip())
        async with self._sessions() as session, session.begin():
            deleted = (await session.execute(query.returning(PushSubscription.id))).first()
        if deleted is None:
            raise NotFound("push subscription not found")


__all__ = ["NewSubscription", "PushSubscriptionService", "auth_violation", "checked", "p256dh_violation"]
