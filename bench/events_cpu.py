"""CPU per chore.completed event in notify's and analytics' consumers, measured in this process.

`python -m bench.events_cpu [--events N] [--rate R] [--members M]` migrates a throw-away database per
service, tells each consumer about a household of M adults (member.joined on the user stream), then pushes N
chore.completed events through the real `kit.events.EventConsumer` of each service with its real handlers, and
prints the consumer's CPU ms per event (this thread's CPU time: the event loop's) and the wall time to drain.

`--rate 0` XADDs all N first and then drains them (batches as large as the consumer reads); `--rate R` adds
them R per second from another thread while the consumer runs, as `make bench`'s POST-complete load does
(M=1 is the bench's seed: a household of one, whose completions notify nobody).
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import redis
import redis.asyncio as aioredis
from google.protobuf.message import Message
from hearth.events.v1 import events_pb2
from redis.typing import EncodableT, FieldT

from kit.db import create_engine, drop_database, ensure_database, session_factory
from kit.events import EventConsumer, Handlers
from kit.ids import new_id
from kit.migrations import upgrade
from kit.outbox import STREAM_MAXLEN, stream_fields
from tests.support import infra

ROOT = Path(__file__).resolve().parent.parent


def envelope(type_: str, payload: Message, household_id: str, actor: str) -> events_pb2.Envelope:
    built = events_pb2.Envelope(
        event_id=str(new_id()), type=type_, household_id=household_id, actor_id=actor, source="bench"
    )
    built.occurred_at.FromDatetime(datetime.now(UTC))
    built.payload.Pack(payload)
    return built


def completion(household_id: str, user_id: str, n: int) -> events_pb2.Envelope:
    payload = events_pb2.ChoreCompleted(
        household_id=household_id,
        chore_id=str(new_id()),
        completion_id=str(new_id()),
        title=f"Chore {n % 50:02d}",
        completed_by=user_id,
        points=5,
        estimated_minutes=15,
        on_time=True,
    )
    payload.completed_at.FromDatetime(datetime.now(UTC))
    return envelope("chore.completed", payload, household_id, user_id)


def fields(event: events_pb2.Envelope) -> dict[FieldT, EncodableT]:
    return stream_fields(event.SerializeToString(), event.type, event.event_id)


def handlers_of(service: str) -> Handlers:
    if service == "notify":
        from services.notify.consumers import HANDLERS

        return HANDLERS
    from services.analytics.consumers import handlers

    return handlers()


async def measure(service: str, *, events: int, rate: float, members: int) -> None:
    where = infra.infra()
    url = infra.database_url(infra.unique(f"hearth_cpu_{service}"))
    namespace = infra.unique("cpu")
    streams = {domain: f"{namespace}.events.{domain}" for domain in ("user", "task")}
    await ensure_database(url)
    client = aioredis.Redis.from_url(where.redis_url)
    engine = create_engine(url, pool_size=4)
    try:
        await asyncio.to_thread(upgrade, ROOT / "services" / service, url)
        consumer = EventConsumer(
            sessions=session_factory(engine),
            redis=client,
            streams=list(streams.values()),
            group=service,
            consumer="c1",
            handlers=handlers_of(service),
        )
        household_id, people = str(new_id()), [str(new_id()) for _ in range(members)]
        for n, person in enumerate(people):
            joined = events_pb2.MemberJoined(
                household_id=household_id, user_id=person, display_name=f"P{n}", role="owner" if n == 0 else "member"
            )
            await client.xadd(streams["user"], fields(envelope("member.joined", joined, household_id, person)))
        while await consumer.poll_once(block_ms=1):  # the members, and warm-up of every statement
            pass
        warm = [completion(household_id, people[0], n) for n in range(20)]
        for event in warm:
            await client.xadd(streams["task"], fields(event))
        while await consumer.poll_once(block_ms=1):
            pass
        batch = [completion(household_id, people[n % members], n) for n in range(events)]
        producer: threading.Thread | None = None
        if rate <= 0:
            pipe = client.pipeline(transaction=False)
            for event in batch:
                pipe.xadd(streams["task"], fields(event), maxlen=STREAM_MAXLEN, approximate=True)
            await pipe.execute()
        else:
            producer = threading.Thread(target=produce, args=(where.redis_url, streams["task"], batch, rate))
        began_cpu, began = time.thread_time(), time.monotonic()
        if producer is not None:
            producer.start()
        handled = 0
        while handled < events:
            handled += await consumer.poll_once()
        cpu, wall = time.thread_time() - began_cpu, time.monotonic() - began
        if producer is not None:
            producer.join()
        mode = "burst" if rate <= 0 else f"{rate:g}/s"
        print(
            f"{service:9} {mode:7} members={members} events={events}: "
            f"{1000 * cpu / events:.2f} ms CPU/event, drained in {wall:.2f} s ({events / wall:.0f} events/s)"
        )
    finally:
        await engine.dispose()
        for stream in streams.values():
            await client.delete(stream)
        await client.aclose()
        await drop_database(url)


def produce(redis_url: str, stream: str, batch: list[events_pb2.Envelope], rate: float) -> None:
    client = redis.Redis.from_url(redis_url)
    began = time.monotonic()
    for n, event in enumerate(batch):
        delay = began + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing an open-loop producer, not waiting for an event
        client.xadd(stream, fields(event), maxlen=STREAM_MAXLEN, approximate=True)
    client.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=0.0, help="events per second (0: all at once)")
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--service", choices=("notify", "analytics"), action="append")
    args = parser.parse_args()
    for service in args.service or ("notify", "analytics"):
        await measure(service, events=args.events, rate=args.rate, members=args.members)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
