"""A household's live events: the log notify keeps of them in Redis, the fan-out that follows it, presence, tickets.

**The log.** Each household event a member may see (`LIVE_EVENTS`) is appended to the household's live log, one
Redis Stream per household under notify's prefix (`{ns}:notify:{household}:live:v1`), `XADD MAXLEN ~ live_maxlen`,
expiring `live_retention_seconds` after its last entry, by `LiveFeeder`: a consumer group of its own on the streams
notify hears, without a database, so nothing the main consumer does (a batch of notifications in one transaction)
holds a live event back. Appending is idempotent: the entry and a "seen" marker of the event id are written by one
script, so a redelivered event is not appended twice. The entry ids ("<ms>-<seq>") are what clients resume from
(SSE's `Last-Event-ID`). notification.created is personal: its entry names its recipient and only their streams
carry it (the feeder hears it on notify's own stream, after the notification committed). presence.changed is written
by the presence scripts below, straight into the log.

**Following.** `LiveHub` keeps one reader per household that has subscribers in this process (`XREAD BLOCK` from the
last id it saw) and hands each entry to every subscriber's bounded queue; a subscriber that falls `live_buffer`
entries behind is dropped ("slow_consumer") rather than buffered without bound — it resumes from its last id. A
subscriber is registered before it replays (`XRANGE` after its `after_id`), and skips what it already replayed, so
replay then follow loses nothing and repeats nothing.

**Presence.** Each live connection is a member of `{ns}:notify:{household}:presence:{user}:v1` (a sorted set:
connection → the time its presence expires, refreshed at every heartbeat); `{ns}:notify:{household}:presence:v1`
holds the household's members announced online (user → their latest expiry), and `{ns}:notify:presence-index:v1`
the households with someone online (→ the earliest expiry among them). The first connection of a member announces
them online, their last one leaving (or expiring: `sweep`, run by every notify process) offline — each a
presence.changed in the log, decided inside one script so replicas never announce twice.

**Tickets.** A browser's EventSource and WebSocket cannot send an Authorization header; a ticket stands in for the
token once: 32 random bytes, only their SHA-256 kept (`{ns}:notify:stream-ticket:{hash}`, bound to its user and
household), for `live_ticket_ttl_seconds` (≤ 60), consumed atomically (GETDEL) by the stream it opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError, Message
from hearth.events.v1 import events_pb2
from redis.exceptions import ResponseError

from kit.backoff import retry_forever
from kit.catalogue import producer_of, type_of
from kit.errors import RateLimited, Unauthenticated
from kit.events import Event, stream_domain, unpack
from kit.ids import new_id

log = logging.getLogger("hearth.notify.live")

# The events a household's members see live (API.md's list, and the rest of the chore and member life).
LIVE_EVENTS: tuple[type[Message], ...] = (
    events_pb2.ChoreCreated,
    events_pb2.ChoreUpdated,
    events_pb2.ChoreCompleted,
    events_pb2.ChoreAssigned,
    events_pb2.ChoreOverdue,
    events_pb2.ChoreSkipped,
    events_pb2.ChoreSnoozed,
    events_pb2.ChoreArchived,
    events_pb2.CompletionUndone,
    events_pb2.CompletionSubmitted,
    events_pb2.CompletionApproved,
    events_pb2.CompletionRejected,
    events_pb2.MemberJoined,
    events_pb2.MemberUpdated,
    events_pb2.MemberLeft,
    events_pb2.NotificationCreated,
)
PRESENCE_CHANGED = type_of(events_pb2.PresenceChanged)
MEMBER_LEFT = type_of(events_pb2.MemberLeft)
# Stream entry fields.
F_TYPE, F_EVENT, F_JSON, F_RECIPIENT, F_SUBJECT = "type", "event_id", "json", "recipient", "subject"
# An entry id as XADD makes them; anything else as an after_id is refused before it reaches Redis.
MAX_ID_LENGTH = 41
TICKET_BYTES = 32
MAX_TICKET_LENGTH = 128
BAD_TICKET_MESSAGE = "invalid, expired or used stream ticket"


def live_key(namespace: str, household_id: uuid.UUID | str) -> str:
    return f"{namespace}:notify:{household_id}:live:v1"


def _seen_key(namespace: str, household_id: uuid.UUID | str, event_id: str) -> str:
    return f"{namespace}:notify:{household_id}:live-seen:{event_id}"


def _household_presence(namespace: str, household_id: uuid.UUID | str) -> str:
    return f"{namespace}:notify:{household_id}:presence:v1"


def _user_presence(namespace: str, household_id: uuid.UUID | str, user_id: uuid.UUID | str) -> str:
    return f"{namespace}:notify:{household_id}:presence:{user_id}:v1"


def _presence_index(namespace: str) -> str:
    return f"{namespace}:notify:presence-index:v1"


def _ticket_key(namespace: str, ticket: str) -> str:
    return f"{namespace}:notify:stream-ticket:{hashlib.sha256(ticket.encode()).hexdigest()}"


def parse_entry_id(value: str) -> tuple[int, int] | None:
    """A stream entry id "<ms>-<seq>" as a comparable pair; None when it is not one."""
    if not value or len(value) > MAX_ID_LENGTH:
        return None
    ms, dash, seq = value.partition("-")
    if not dash or not ms.isdigit() or not seq.isdigit() or not ms.isascii() or not seq.isascii():
        return None
    return int(ms), int(seq)


def payload_dict(payload: Message) -> dict[str, Any]:
    """An event's payload as clients see it, live and in webhooks: protobuf's JSON mapping with the proto's field
    names, every field present (a client need not know proto3's defaults)."""
    return MessageToDict(payload, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def event_json(
    event_id: str, event_type: str, occurred_at: str, household_id: str, actor_id: str, payload: Message
) -> str:
    """What a client receives as an event's data: the envelope's facts and the payload, JSON."""
    return json.dumps(
        {
            "event_id": event_id,
            "type": event_type,
            "occurred_at": occurred_at,
            "household_id": household_id,
            "actor_id": actor_id,
            "data": payload_dict(payload),
        },
        separators=(",", ":"),
    )


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


# KEYS: the log, the seen marker. ARGV: maxlen, retention (ms), then field, value, ... of the entry.
_APPEND = """
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return id
end
return false
"""

# A connection arrives or refreshes. KEYS: household presence, user presence, index, log.
# ARGV: user, connection, now (ms), expires (ms), key ttl (ms), maxlen, retention (ms), max connections, household,
# event id, event json. Returns -1 (too many connections), 1 (announced online), 0.
_TOUCH = """
local now = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local known = redis.call('ZSCORE', KEYS[2], ARGV[2])
local limit = tonumber(ARGV[8])
if (not known) and limit > 0 and redis.call('ZCARD', KEYS[2]) >= limit then return -1 end
local announced = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[1], 'GT', ARGV[4], ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[7]))
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
redis.call('ZADD', KEYS[3], first[2], ARGV[9])
if announced then return 0 end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'type', 'presence.changed', 'event_id', ARGV[10],
  'json', ARGV[11])
redis.call('PEXPIRE', KEYS[4], ARGV[7])
return 1
"""

# A connection leaves (ARGV[2]) or, with ARGV[2] empty, a member's expired connections are settled (the sweep).
# KEYS and ARGV as _TOUCH's but ARGV[10], ARGV[11]: the offline event. Returns 1 when announced offline.
_SETTLE = """
local now = tonumber(ARGV[3])
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[2], ARGV[2]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
local offline = 0
if #top == 0 then
  if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'type', 'presence.changed', 'event_id', ARGV[10],
      'json', ARGV[11])
    redis.call('PEXPIRE', KEYS[4], ARGV[7])
    offline = 1
  end
elseif redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], top[2], ARGV[1])
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then redis.call('ZREM', KEYS[3], ARGV[9]) else redis.call('ZADD', KEYS[3], first[2], ARGV[9]) end
return offline
"""


@dataclass(frozen=True)
class LiveConfig:
    namespace: str
    maxlen: int = 1000
    retention_seconds: int = 86_400
    heartbeat_seconds: float = 15.0
    ticket_ttl_seconds: int = 60
    buffer: int = 1000
    max_connections_per_user: int = 20

    @property
    def presence_ttl_ms(self) -> int:
        # Three heartbeats: one late heartbeat (a busy loop, a slow Redis) does not flap a member offline.
        return int(self.heartbeat_seconds * 3000)


class LiveLog:
    """The household live logs: appending (the consumer), presence, tickets, replay."""

    def __init__(self, redis: aioredis.Redis, config: LiveConfig) -> None:
        self.redis = redis
        self.config = config
        self._append = redis.register_script(_APPEND)
        self._touch = redis.register_script(_TOUCH)
        self._settle = redis.register_script(_SETTLE)

    def key(self, household_id: uuid.UUID | str) -> str:
        return live_key(self.config.namespace, household_id)

    async def append(
        self,
        household_id: uuid.UUID | str,
        *,
        event_id: str,
        event_type: str,
        json_text: str,
        recipient: str = "",
        subject: str = "",
    ) -> str | None:
        """Append one event to the household's log once; the entry id, or None when it was there already."""
        fields = [F_TYPE, event_type, F_EVENT, event_id, F_JSON, json_text]
        if recipient:
            fields += [F_RECIPIENT, recipient]
        if subject:
            fields += [F_SUBJECT, subject]
        cfg = self.config
        added = await self._append(
            keys=[self.key(household_id), _seen_key(cfg.namespace, household_id, event_id)],
            args=[cfg.maxlen, cfg.retention_seconds * 1000, *fields],
        )
        return None if added is None else _text(added)

    async def append_event(self, event: Event[Any]) -> str | None:
        """Append one delivered event (one of LIVE_EVENTS) to its household's log; None when it has no household or
        was appended before."""
        payload = event.payload
        household_id = getattr(payload, "household_id", "") or event.household_id
        if not household_id:
            return None
        uuid.UUID(household_id)  # a malformed id is not a key
        occurred = event.occurred_at.isoformat().replace("+00:00", "Z")
        recipient = payload.user_id if isinstance(payload, events_pb2.NotificationCreated) else ""
        subject = payload.user_id if isinstance(payload, events_pb2.MemberLeft) else ""
        return await self.append(
            household_id,
            event_id=str(event.event_id),
            event_type=event.type,
            json_text=event_json(str(event.event_id), event.type, occurred, household_id, event.actor_id, payload),
            recipient=recipient,
            subject=subject,
        )

    async def forget_household(self, household_id: uuid.UUID | str) -> None:
        """A deleted household's log and presence go (privacy)."""
        ns = self.config.namespace
        await self.redis.delete(self.key(household_id), _household_presence(ns, household_id))
        await self.redis.zrem(_presence_index(ns), str(household_id))

    # --- presence ---------------------------------------------------------------------------------------------

    def _presence_event(self, household_id: str, user_id: str, online: bool) -> tuple[str, str]:
        event_id = str(new_id())
        payload = events_pb2.PresenceChanged(household_id=household_id, user_id=user_id, online=online)
        return event_id, event_json(event_id, PRESENCE_CHANGED, _rfc3339(time.time()), household_id, user_id, payload)

    def _presence_args(
        self, household_id: str, user_id: str, connection: str, online: bool
    ) -> tuple[list[str], list[Any]]:
        cfg, now = self.config, int(time.time() * 1000)
        ttl = cfg.presence_ttl_ms
        keys = [
            _household_presence(cfg.namespace, household_id),
            _user_presence(cfg.namespace, household_id, user_id),
            _presence_index(cfg.namespace),
            self.key(household_id),
        ]
        event_id, text = self._presence_event(household_id, user_id, online)
        args = [
            user_id,
            connection,
            now,
            now + ttl,
            ttl * 2,
            cfg.maxlen,
            cfg.retention_seconds * 1000,
            cfg.max_connections_per_user,
            household_id,
            event_id,
            text,
        ]
        return keys, args

    async def touch(self, household_id: str, user_id: str, connection: str) -> bool:
        """Count (or keep counting) `connection` as the member's presence; True when it announced them online.
        RESOURCE_EXHAUSTED when they already have `max_connections_per_user` open to the household."""
        keys, args = self._presence_args(household_id, user_id, connection, True)
        answer = int(await self._touch(keys=keys, args=args))
        if answer < 0:
            raise RateLimited("too many live connections to this household open at once")
        return answer == 1

    async def leave(self, household_id: str, user_id: str, connection: str = "") -> bool:
        """`connection` closed (empty: settle the member's expired ones); True when it announced them offline."""
        keys, args = self._presence_args(household_id, user_id, connection, False)
        return bool(int(await self._settle(keys=keys, args=args)))

    async def online(self, household_id: str) -> dict[str, int]:
        """The household's members online now → how many live connections each has open."""
        ns, now = self.config.namespace, int(time.time() * 1000)
        users = [_text(u) for u in await self.redis.zrangebyscore(_household_presence(ns, household_id), now, "+inf")]
        if not users:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.zcount(_user_presence(ns, household_id, user), now, "+inf")
            counts = await pipe.execute()
        return {user: int(n) for user, n in zip(users, counts, strict=True) if int(n) > 0}

    async def sweep(self) -> int:
        """Announce offline every member whose every connection expired without closing (a process that died);
        returns how many. Any replica may run it at any time: the script decides each member once."""
        ns, now = self.config.namespace, int(time.time() * 1000)
        gone = 0
        for household in await self.redis.zrangebyscore(_presence_index(ns), "-inf", now):
            household_id = _text(household)
            stale: list[Any] = await self.redis.zrangebyscore(_household_presence(ns, household_id), "-inf", now)
            if not stale:
                # Nobody stale (the index lagged, or the set expired): settle nobody, let the script fix the index.
                stale = [b""]
            for user in stale:
                gone += await self.leave(household_id, _text(user) or "-")
        return gone

    # --- tickets ---------------------------------------------------------------------------------------------

    async def create_ticket(self, household_id: str, user_id: str) -> str:
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        value = json.dumps({"household_id": household_id, "user_id": user_id})
        await self.redis.set(_ticket_key(self.config.namespace, ticket), value, ex=self.config.ticket_ttl_seconds)
        return ticket

    async def redeem_ticket(self, household_id: str, ticket: str) -> str:
        """The user a ticket for this household stands for, using it up; UNAUTHENTICATED (the same for every bad
        ticket: unknown, expired, used, another household's, malformed)."""
        if not ticket or len(ticket) > MAX_TICKET_LENGTH or not ticket.isascii():
            raise Unauthenticated(BAD_TICKET_MESSAGE)
        raw = await self.redis.getdel(_ticket_key(self.config.namespace, ticket))
        if raw is None:
            raise Unauthenticated(BAD_TICKET_MESSAGE)
        bound = json.loads(raw)
        if bound.get("household_id") != household_id:
            raise Unauthenticated(BAD_TICKET_MESSAGE)
        return str(bound["user_id"])

    # --- replay ----------------------------------------------------------------------------------------------

    async def replay(
        self, household_id: str, after: str, *, batch: int = 200
    ) -> AsyncIterator[tuple[str, dict[str, str]]]:
        cursor = after
        while True:
            entries: Any = await self.redis.xrange(self.key(household_id), min=f"({cursor}", max="+", count=batch)
            for entry_id, fields in entries:
                yield _text(entry_id), _fields(fields)
            if len(entries) < batch:
                return
            cursor = _text(entries[-1][0])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(fields: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in fields.items()}


# --- the fan-out -----------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Subscription:
    """One stream's place in its household's feed: the entries after `floor` arrive in `queue`."""

    floor: tuple[int, int]
    queue: asyncio.Queue[tuple[str, dict[str, str]]]
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, entry: tuple[str, dict[str, str]]) -> None:
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.overflowed.set()


@dataclass(eq=False)
class _Feed:
    key: str
    position: str
    subscribers: set[Subscription] = field(default_factory=set)
    task: asyncio.Task[None] | None = None


class LiveHub:
    """One reader per household log with subscribers in this process, fanning its entries out to them."""

    def __init__(self, redis: aioredis.Redis, *, buffer: int, block_ms: int = 5000) -> None:
        self._redis = redis
        self._buffer = buffer
        self._block_ms = block_ms
        self._feeds: dict[str, _Feed] = {}

    async def subscribe(self, key: str) -> Subscription:
        feed = self._feeds.get(key)
        if feed is None:
            top = await self._redis.xrevrange(key, count=1)
            feed = self._feeds.get(key)
            if feed is None:
                feed = _Feed(key, _text(top[0][0]) if top else "0-0")
                self._feeds[key] = feed
                feed.task = asyncio.create_task(self._follow(feed), name=f"live-{key}")
        # No await between joining and reading the position: every entry after it reaches this queue.
        position = parse_entry_id(feed.position) or (0, 0)
        subscription = Subscription(floor=position, queue=asyncio.Queue(self._buffer))
        feed.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, key: str, subscription: Subscription) -> None:
        feed = self._feeds.get(key)
        if feed is None:
            return
        feed.subscribers.discard(subscription)
        if not feed.subscribers:
            del self._feeds[key]
            if feed.task is not None:
                feed.task.cancel()

    async def _follow(self, feed: _Feed) -> None:
        failures = 0
        while feed.subscribers:
            try:
                answer: Any = await self._redis.xread({feed.key: feed.position}, block=self._block_ms, count=500)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning("reading the live log %s failed (%s); retrying", feed.key, type(exc).__name__)
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                continue
            for _, entries in answer or ():
                for entry_id, fields in entries:
                    feed.position = _text(entry_id)
                    entry = (feed.position, _fields(fields))
                    for subscription in list(feed.subscribers):
                        subscription.offer(entry)

    async def close(self) -> None:
        tasks = [f.task for f in self._feeds.values() if f.task is not None]
        self._feeds.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def visible_to(fields: Mapping[str, str], user_id: str) -> bool:
    """A personal entry (a notification) reaches its recipient only; every other one the whole household."""
    recipient = fields.get(F_RECIPIENT, "")
    return not recipient or recipient == user_id


# --- feeding the logs --------------------------------------------------------------------------------------------

LIVE_GROUP = "notify-live"
_LIVE_TYPES = {type_of(cls): cls for cls in LIVE_EVENTS}


class LiveFeeder:
    """A consumer group of its own (`notify-live`) on the streams notify hears, that only appends the live events to
    their household logs: no database, so the main consumer's work (notifications, projections, a batch of them in
    one transaction) does not hold a live event back. Idempotent like every append; an entry is acknowledged once it
    is in its log. What it does not take: an event of a type the catalogue does not know or on a stream that is not
    its producer's (the main consumer dead-letters those), and entries a dead process left pending (never reclaimed:
    a live event that outlived its process is not news any more; history before the group existed neither)."""

    def __init__(
        self, redis: aioredis.Redis, log: LiveLog, streams: list[str], *, consumer: str, block_ms: int = 1000
    ) -> None:
        self._redis = redis
        self._log = log
        self._streams = streams
        self._consumer = consumer
        self._block_ms = block_ms
        # "0": this consumer's own pending entries first (a failed round leaves them), then ">" (new ones).
        self._cursors: dict[str, str] = {}

    async def _ready(self) -> None:
        for stream in self._streams:
            try:
                await self._redis.xgroup_create(stream, LIVE_GROUP, id="$", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._cursors = dict.fromkeys(self._streams, "0")

    async def poll_once(self, *, block_ms: int | None = None) -> int:
        if not self._cursors:
            await self._ready()
        block = self._block_ms if block_ms is None else block_ms
        waiting = all(cursor == ">" for cursor in self._cursors.values())
        cursors: dict[Any, Any] = dict(self._cursors)
        answer: Any = await self._redis.xreadgroup(
            LIVE_GROUP, self._consumer, cursors, count=200, block=block if waiting else None
        )
        fed = 0
        for raw_stream, entries in answer or ():
            stream = _text(raw_stream)
            if not entries and self._cursors.get(stream) == "0":
                self._cursors[stream] = ">"  # its pending entries are done
                continue
            done = []
            for entry_id, fields in entries:
                if fields:  # a pending entry trimmed away meanwhile comes without fields
                    await self._feed(stream, fields)
                    fed += 1
                done.append(entry_id)
            if done:
                await self._redis.xack(stream, LIVE_GROUP, *done)
        return fed

    async def _feed(self, stream: str, fields: Mapping[Any, Any]) -> None:
        raw = fields.get(b"envelope", fields.get("envelope"))
        try:
            envelope = events_pb2.Envelope.FromString(raw if isinstance(raw, bytes) else b"")
            cls = _LIVE_TYPES.get(envelope.type)
            if cls is None or stream_domain(stream) != producer_of(envelope.type):
                return
            event: Event[Any] = Event(unpack(envelope, cls), envelope)
            uuid.UUID(envelope.event_id)
        except (DecodeError, ValueError):
            return  # the main consumer dead-letters what does not decode
        try:
            await self._log.append_event(event)
        except ValueError:
            return  # a malformed household id: nothing to append it to

    async def run(self) -> None:
        async def again() -> None:
            self._cursors = {}  # re-read this consumer's pending entries, and make the groups again if Redis lost them

        await retry_forever(self.poll_once, name="live feeder", log=log, on_failure=again)
