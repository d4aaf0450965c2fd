"""Use cases of photos: uploading one (checked, stripped of its metadata, stored), reading one or its thumbnail,
the thumbnail job, and what a deleted household's photos leave.

Upload: any member of the household, a child too (a child completes their chores with a photo as proof:
`chore.complete_own`), checked before a byte is read; an outsider gets NOT_FOUND. The bytes arrive in chunks (the
gateway streams them through; services.task.servicer) and are refused the moment they pass `MAX_PHOTO_BYTES`
(PayloadTooLarge, REST 413), so no more than that is ever held. Then, whatever the gateway already checked (never
trusted alone), services.task.images decides: the content's magic bytes name JPEG, PNG or WebP or it is 415; Pillow
verifies it and refuses a truncated, corrupt or too-many-pixels image (422); it is re-encoded without metadata. The
clean bytes go to the store (services.task.photo_storage) first, and only then is the row written, with the
thumbnail job enqueued in the same transaction (kit.jobs.defer_in): a row never names bytes that are not stored,
and a photo always gets its job. An upload has no request id: a retried upload stores a second photo, which nothing
refers to but the response the client lost (photos are cheap and immutable; a completion names the one it uses).

Reading: members only (others NOT_FOUND, also for another household's photo id). A photo never changes, so its
SHA-256 is its ETag. The thumbnail exists once the worker made it: before that, reading it is NOT_FOUND with reason
NOT_READY (REST 404 `not_ready`): the upload's answer names the thumbnail's URL anyway, and a client asks again;
after the worker gave up (`failed`, a photo Pillow could store but not shrink), NOT_FOUND.

The thumbnail job (`task:make_thumbnail`) is idempotent: it reads the row, does nothing when the thumbnail is
already there, else stores it under its fixed key (a second put overwrites the same bytes) and marks it ready.

Unused photos (`task:prune_unused_photos`, TASK_PHOTO_PRUNE_CRON): a photo no completion names, older than
TASK_PHOTO_UNUSED_RETENTION_HOURS, is deleted — the row, and its bytes by `task:delete_photo_bytes` enqueued in the
same transaction. So a retried upload's spare copy, or a photo whose completion was undone, does not stay forever.
A completion naming a photo holds it (`exists` takes FOR KEY SHARE on the row) while the prune takes its batch with
FOR UPDATE SKIP LOCKED: a photo being attached is never deleted under it, and one deleted first is refused (422).

Erasure: a photo is the household's record of its work, so a deleted person's uploads stay, their `uploaded_by`
set to NULL (services.task.privacy.erase_user; the completions they did lose their `photo` reference there, as
before). A deleted household's photos go: the rows in the event's transaction, the bytes by a job
(`task:delete_photo_bytes`) enqueued in the same transaction, so they go even if the process stops right after.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import procrastinate
import sqlalchemy as sa
from hearth.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.db import utcnow
from kit.errors import NotFound, NotReady, PayloadTooLarge, invalid
from kit.events import Event, Handlers, required_id
from kit.ids import new_id
from kit.jobs import DEFAULT_RETRY, SESSIONS, JitteredBackoff, defer_in
from kit.validation import caller_id
from services.task import images
from services.task.config import Settings
from services.task.models import THUMBNAIL_FAILED, THUMBNAIL_PENDING, THUMBNAIL_READY, Completion, Photo
from services.task.photo_storage import PhotoStorage, photo_storage
from services.user.client import PERMISSIONS, MembershipClient

log = logging.getLogger("hearth.task.photos")

MAX_PHOTO_BYTES = 10 * 1024 * 1024
# What one UploadPhoto message may carry (gRPC's own limit is above it: kit.grpc_server.MAX_MESSAGE_BYTES).
MAX_CHUNK_BYTES = 1024 * 1024
NOT_FOUND_MESSAGE = "photo not found"
TOO_LARGE_MESSAGE = f"a photo may be at most {MAX_PHOTO_BYTES} bytes"
MAKE_THUMBNAIL = "task:make_thumbnail"
DELETE_PHOTO_BYTES = "task:delete_photo_bytes"
PRUNE_TASK = "prune_unused_photos"
PRUNE_UNUSED_PHOTOS = f"task:{PRUNE_TASK}"
PRUNE_BATCH = 500
MAX_DECODING = 2


def photo_key(household_id: uuid.UUID, photo_id: uuid.UUID) -> str:
    return f"{household_id}/{photo_id}/original"


def thumbnail_key(household_id: uuid.UUID, photo_id: uuid.UUID) -> str:
    return f"{household_id}/{photo_id}/thumbnail"


@dataclass(frozen=True)
class PhotoContent:
    """What a read serves, known from the row alone: the bytes are fetched only when they are wanted (`data_of`), so
    an If-None-Match that matches costs no store read."""

    photo: Photo
    key: str
    size: int
    content_type: str
    # A strong validator of the bytes (their SHA-256, hex).
    etag: str


async def read_limited(chunks: AsyncIterator[bytes], limit: int = MAX_PHOTO_BYTES) -> bytes:
    """The chunks joined; PayloadTooLarge as soon as they pass `limit` (the rest is never read)."""
    parts: list[bytes] = []
    total = 0
    async for chunk in chunks:
        if len(chunk) > MAX_CHUNK_BYTES:
            raise invalid(images.FIELD, f"a chunk may be at most {MAX_CHUNK_BYTES} bytes")
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(TOO_LARGE_MESSAGE)
        parts.append(chunk)
    if not total:
        raise invalid(images.FIELD, "the photo is empty")
    return b"".join(parts)


@dataclass(frozen=True)
class Photos:
    sessions: async_sessionmaker[AsyncSession]
    membership: MembershipClient
    storage: PhotoStorage
    max_pixels: int = 50_000_000
    clock: Callable[[], datetime] = utcnow
    # Uploads decoded at once: a 50 M-pixel picture takes ~200 MB while Pillow holds it, so a burst of them waits
    # here instead of growing the process by that much each.
    decoding: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_DECODING))

    async def authorize_upload(self, household_id: uuid.UUID) -> None:
        """Whether the caller may upload to the household, asked before a byte is read (NOT_FOUND for an outsider)."""
        await self.membership.require(household_id, roles=PERMISSIONS["chore.complete_own"])

    async def upload(self, household_id: uuid.UUID, chunks: AsyncIterator[bytes]) -> Photo:
        await self.authorize_upload(household_id)  # again: the membership answer is cached, so this costs nothing
        uploader = caller_id()
        data = await read_limited(chunks)
        # Pillow's decoding and encoding take tens of milliseconds of CPU for a phone photo: not on the event loop.
        async with self.decoding:
            clean = await asyncio.to_thread(images.clean, data, max_pixels=self.max_pixels)
        photo_id = new_id()
        key = photo_key(household_id, photo_id)
        await self.storage.put(key, clean.data, clean.content_type)
        photo = Photo(
            id=photo_id,
            household_id=household_id,
            uploaded_by=uploader,
            content_type=clean.content_type,
            size=len(clean.data),
            sha256=clean.sha256,
            width=clean.width,
            height=clean.height,
            key=key,
            create_time=self.clock(),
            thumbnail_key=None,
            thumbnail_state=THUMBNAIL_PENDING,
        )
        try:
            async with self.sessions.begin() as session:
                session.add(photo)
                await session.flush()
                await defer_in(session, MAKE_THUMBNAIL, lock=f"photo:{photo_id}", photo_id=str(photo_id))
        except BaseException:
            # No row names these bytes: take them back (best effort; they would only be unreachable).
            await asyncio.shield(_forget(self.storage, key))
            raise
        return photo

    async def read(self, household_id: uuid.UUID, photo_id: uuid.UUID, *, thumbnail: bool = False) -> PhotoContent:
        """The photo (or its thumbnail) a member may read: NOT_FOUND for anyone else, NOT_READY for a thumbnail still
        to be made. Its bytes: `data_of`."""
        await self.membership.require(household_id, roles=PERMISSIONS["chore.read"])
        async with self.sessions() as session:
            photo = await find(session, household_id, photo_id)
        if photo is None:
            raise NotFound(NOT_FOUND_MESSAGE)
        if thumbnail:
            if photo.thumbnail_state == THUMBNAIL_PENDING:
                raise NotReady("the thumbnail is not ready yet; ask again in a moment")
            if photo.thumbnail_key is None or photo.thumbnail_state != THUMBNAIL_READY:
                raise NotFound("this photo has no thumbnail")
            key, etag, size = photo.thumbnail_key, photo.thumbnail_sha256 or "", photo.thumbnail_size or 0
        else:
            key, etag, size = photo.key, photo.sha256, photo.size
        return PhotoContent(photo=photo, key=key, size=size, content_type=photo.content_type, etag=etag)

    async def data_of(self, content: PhotoContent) -> bytes:
        data = await self.storage.get(content.key)
        if data is None:
            missing = {"photo_id": str(content.photo.id), "key": content.key}
            log.error("photo bytes missing from the store", extra=missing)
            raise NotFound(NOT_FOUND_MESSAGE)
        return data


async def _forget(storage: PhotoStorage, key: str) -> None:
    try:
        await storage.delete(key)
    except Exception:
        log.exception("could not delete the bytes of a photo that was not recorded", extra={"key": key})


async def find(session: AsyncSession, household_id: uuid.UUID, photo_id: uuid.UUID) -> Photo | None:
    """The household's photo `photo_id` (None for another household's: ids are never shared across households)."""
    return await session.scalar(sa.select(Photo).where(Photo.id == photo_id, Photo.household_id == household_id))


async def exists(session: AsyncSession, household_id: uuid.UUID, photo_id: uuid.UUID) -> bool:
    """Whether the household has photo `photo_id` (what a completion naming it needs), holding it until the
    transaction ends (FOR KEY SHARE: the unused-photo prune cannot delete it under a completion being made)."""
    found = await session.scalar(
        sa.select(sa.literal(True))
        .select_from(Photo)
        .where(Photo.id == photo_id, Photo.household_id == household_id)
        .with_for_update(key_share=True)
    )
    return bool(found)


async def prune_unused(session: AsyncSession, *, before: datetime, limit: int) -> int:
    """Delete up to `limit` photos created before `before` that no completion names, with their bytes' deletion
    enqueued in this transaction; how many went."""
    named = sa.exists().where(
        Completion.photo != "",  # ix_completions_photo is partial on it
        Completion.photo == sa.func.concat("households/", Photo.household_id, "/photos/", Photo.id),
    )
    unused = (
        sa.select(Photo.id)
        .where(Photo.create_time < before, ~named)
        .order_by(Photo.create_time)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    candidates = list(await session.scalars(unused))
    if not candidates:
        return 0
    # Asked again as the rows are deleted (this statement's own snapshot): a completion naming one that committed
    # after the candidates were read, its FOR KEY SHARE gone with its commit, keeps it.
    deleted = (
        await session.execute(
            sa.delete(Photo).where(Photo.id.in_(candidates), ~named).returning(Photo.key, Photo.thumbnail_key)
        )
    ).all()
    keys = [key for row in deleted for key in row if key is not None]
    if keys:
        await defer_in(session, DELETE_PHOTO_BYTES, keys=keys)
    return len(candidates)


async def make_thumbnail(
    sessions: async_sessionmaker[AsyncSession], storage: PhotoStorage, photo_id: uuid.UUID, *, pixels: int
) -> str:
    """The job: make and store the photo's thumbnail unless it is there already. Returns what it did."""
    async with sessions() as session:
        photo = await session.get(Photo, photo_id)
    if photo is None:
        return "gone"  # its household was deleted meanwhile
    if photo.thumbnail_state == THUMBNAIL_READY:
        return "already made"
    data = await storage.get(photo.key)
    if data is None:
        raise RuntimeError(f"the bytes of photo {photo_id} are missing from the store")
    small = await asyncio.to_thread(images.thumbnail, data, photo.content_type, pixels=pixels)
    key = thumbnail_key(photo.household_id, photo.id)
    await storage.put(key, small, photo.content_type)
    async with sessions.begin() as session:
        await session.execute(
            sa.update(Photo)
            .where(Photo.id == photo_id)
            .values(
                thumbnail_key=key,
                thumbnail_state=THUMBNAIL_READY,
                thumbnail_size=len(small),
                thumbnail_sha256=images.sha256(small),
            )
        )
    return "made"


async def give_up_thumbnail(sessions: async_sessionmaker[AsyncSession], photo_id: uuid.UUID) -> None:
    """After the job's last attempt failed: the thumbnail is `failed` (GET …/thumbnail says so: 404, not not_ready)."""
    async with sessions.begin() as session:
        await session.execute(
            sa.update(Photo)
            .where(Photo.id == photo_id, Photo.thumbnail_state == THUMBNAIL_PENDING)
            .values(thumbnail_state=THUMBNAIL_FAILED)
        )


def photo_jobs(settings: Settings, *, storage: PhotoStorage | None = None) -> procrastinate.Blueprint:
    """The task service's photo jobs for its worker (`python -m services.task worker`)."""
    blueprint = procrastinate.Blueprint()
    store = storage or photo_storage(settings)
    # Thumbnails are cheap to retry, and a photo Pillow stored is one it can read: a few tries, then `failed`.
    retry = JitteredBackoff(
        max_attempts=settings.thumbnail_max_attempts,
        base=settings.thumbnail_retry_base_seconds,
        cap=settings.thumbnail_retry_cap_seconds,
    )

    @blueprint.task(name="make_thumbnail", pass_context=True, retry=retry)
    async def make_thumbnail_job(context: procrastinate.JobContext, photo_id: str) -> str:
        sessions: async_sessionmaker[AsyncSession] = context.additional_context[SESSIONS]
        try:
            return await make_thumbnail(sessions, store, uuid.UUID(photo_id), pixels=settings.thumbnail_pixels)
        except Exception:
            assert context.job is not None
            if context.job.attempts + 1 >= retry.max_attempts:
                await give_up_thumbnail(sessions, uuid.UUID(photo_id))
            raise

    @blueprint.periodic(cron=settings.photo_prune_cron, periodic_id="unused_photos", queueing_lock=PRUNE_TASK)
    @blueprint.task(name=PRUNE_TASK, pass_context=True, retry=DEFAULT_RETRY, queueing_lock=PRUNE_TASK)
    async def prune_unused_photos(context: procrastinate.JobContext, timestamp: int) -> int:
        """Batches until none is left; the cutoff is from the scheduled time, so a second run means the same."""
        sessions: async_sessionmaker[AsyncSession] = context.additional_context[SESSIONS]
        before = datetime.fromtimestamp(timestamp, UTC) - timedelta(hours=settings.photo_unused_retention_hours)
        pruned = 0
        while True:
            async with sessions() as session, session.begin():
                count = await prune_unused(session, before=before, limit=PRUNE_BATCH)
            pruned += count
            if count < PRUNE_BATCH:
                return pruned

    @blueprint.task(name="delete_photo_bytes", pass_context=False, retry=DEFAULT_RETRY)
    async def delete_photo_bytes(keys: list[str]) -> int:
        for key in keys:
            await store.delete(key)
        return len(keys)

    return blueprint


def handlers() -> Handlers:
    """A deleted household's photos: the rows now, the bytes by a job enqueued in the same transaction."""

    async def on_household_deleted(session: AsyncSession, event: Event[events_pb2.HouseholdDeleted]) -> None:
        household_id = required_id(event.payload.household_id, event.household_id)
        deleted = await session.execute(
            sa.delete(Photo).where(Photo.household_id == household_id).returning(Photo.key, Photo.thumbnail_key)
        )
        keys = [key for row in deleted.all() for key in row if key is not None]
        if keys:
            await defer_in(session, DELETE_PHOTO_BYTES, keys=keys)

    return {events_pb2.HouseholdDeleted: on_household_deleted}
