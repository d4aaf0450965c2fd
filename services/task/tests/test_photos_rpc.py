"""Photos through the real task service over gRPC (services/task/photos.py): an upload is typed by its content, stripped
of its EXIF (GPS included) with its orientation applied, stored, and its thumbnail made by the real worker; every
hostile upload is refused (wrong type, empty, truncated, a decompression bomb, over 10 MiB, oversized chunks), and
another household's photos are not there."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from hearth.task.v1 import task_pb2, task_pb2_grpc
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from kit.ids import new_id
from services.task import photos as photo_rules
from services.task.photo_storage import LocalPhotoStorage
from services.task.photos import MAX_CHUNK_BYTES, MAX_PHOTO_BYTES, make_thumbnail
from tests.support.fixtures import database_fixture, stack_fixture, stub_fixture
from tests.support.jobs import photo_worker
from tests.support.people import household
from tests.support.photos import COMMENT, GPS_IFD, ORIENTATION, bomb, encoded, exif_of, jpeg_with_gps, read, upload
from tests.support.rpc import refused
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"])
database = database_fixture("task")
photos = stub_fixture("task", task_pb2_grpc.PhotoServiceStub)

RED, BLUE = (200, 0, 0), (0, 0, 200)


def stored_path(stack: Stack, name: str, what: str = "original") -> Path:
    settings = stack.servers["task"].runtime.settings
    household_id, photo_id = name.split("/")[1], name.split("/")[3]
    return Path(settings.photos_dir) / household_id / photo_id / what


def near(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel, colour, strict=False))


async def test_a_phone_jpeg_is_stored_without_its_exif_and_upright(
    stack: Stack, photos: task_pb2_grpc.PhotoServiceStub
) -> None:
    home = await household(stack, kid="child")
    original = jpeg_with_gps(64, 32)
    assert GPS_IFD in exif_of(original)
    assert exif_of(original)[ORIENTATION] == 6
    # A child uploads too: the proof of their own chores.
    photo = await upload(photos, home.name, home["kid"], original)
    assert photo.name.startswith(f"{home.name}/photos/")
    assert (photo.uploader, photo.content_type, photo.thumbnail_state) == (
        home["kid"].name,
        "image/jpeg",
        task_pb2.Photo.PENDING,
    )
    # Orientation 6 turned a 64 x 32 picture into a 32 x 64 one.
    assert (photo.width, photo.height) == (32, 64)
    stored = stored_path(stack, photo.name).read_bytes()
    assert exif_of(stored) == {}  # GPS, camera model, orientation: all gone
    assert b"Hearth Phone 1" not in stored
    assert COMMENT in original
    assert COMMENT not in stored
    assert len(stored) == photo.size
    image = Image.open(io.BytesIO(stored))
    assert image.size == (32, 64)
    # Turned a quarter clockwise: the red left half is now on top.
    assert near(image.getpixel((16, 4)), RED)
    assert near(image.getpixel((16, 60)), BLUE)

    header, data = await read(photos, photo.name, home.owner)
    assert data == stored
    assert (header.content_type, header.size, header.etag) == ("image/jpeg", len(stored), photo.sha256)
    assert header.photo == photo


@pytest.mark.parametrize(("fmt", "content_type"), [("PNG", "image/png"), ("WEBP", "image/webp")])
async def test_png_and_webp_are_taken_by_their_content(
    stack: Stack, photos: task_pb2_grpc.PhotoServiceStub, fmt: str, content_type: str
) -> None:
    home = await household(stack)
    photo = await upload(photos, home.name, home.owner, encoded(fmt, 40, 30))
    assert (photo.content_type, photo.width, photo.height) == (content_type, 40, 30)
    header, data = await read(photos, photo.name, home.owner)
    assert Image.open(io.BytesIO(data)).format == fmt
    assert header.content_type == content_type


async def test_hostile_uploads_are_refused_and_nothing_is_stored(
    stack: Stack, photos: task_pb2_grpc.PhotoServiceStub, database: AsyncEngine
) -> None:
    home = await household(stack)
    owner = home.owner

    async def refusal(data: bytes | list[bytes]) -> tuple[grpc.StatusCode, str, set[str]]:
        refused_call = await refused(upload(photos, home.name, owner, data))
        return refused_call.code, refused_call.reason, set(refused_call.violations)

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    # Text claiming to be anything: the content decides.
    assert await refusal(b"hello, I am a JPEG, honest") == (invalid, "UNSUPPORTED_MEDIA_TYPE", set())
    assert await refusal(encoded("GIF")) == (invalid, "UNSUPPORTED_MEDIA_TYPE", set())
    assert await refusal(encoded("BMP")) == (invalid, "UNSUPPORTED_MEDIA_TYPE", set())
    assert await refusal([]) == (invalid, "VALIDATION_FAILED", {"chunk"})  # 0 bytes
    whole = jpeg_with_gps(256, 256)
    assert await refusal(whole[: len(whole) // 2]) == (invalid, "VALIDATION_FAILED", {"chunk"})  # truncated
    png = encoded("PNG", 64, 64)
    assert await refusal(png[:-20]) == (invalid, "VALIDATION_FAILED", {"chunk"})  # its end cut off
    corrupt = bytearray(png)
    corrupt[40:60] = bytes(20)
    assert await refusal(bytes(corrupt)) == (invalid, "VALIDATION_FAILED", {"chunk"})
    # 100 M pixels in a few KiB: refused before it is decoded.
    small_bomb = bomb()
    assert len(small_bomb) < 64 * 1024
    code, reason, fields = await refusal(small_bomb)
    assert (code, reason, fields) == (invalid, "VALIDATION_FAILED", {"chunk"})
    # A chunk over 1 MiB breaks the protocol.
    assert await refusal([b"\xff\xd8\xff" + bytes(MAX_CHUNK_BYTES)]) == (invalid, "VALIDATION_FAILED", {"chunk"})
    async with database.connect() as conn:
        stored = await conn.scalar(
            sa.text("SELECT count(*) FROM photos WHERE household_id = :h"), {"h": uuid.UUID(home.id)}
        )
    assert stored == 0
    household_dir = Path(stack.servers["task"].runtime.settings.photos_dir) / home.id
    assert not household_dir.exists() or not any(household_dir.rglob("original"))


async def test_an_upload_over_ten_mib_is_refused_as_soon_as_it_passes(
    stack: Stack, photos: task_pb2_grpc.PhotoServiceStub
) -> None:
    home = await household(stack)

    def chunks() -> Iterator[bytes]:
        # A JPEG's first bytes, then zeros: 10 MiB + 1 byte (no more: a write racing the refusal would fail as
        # INTERNAL in gRPC's client; the gateway's own test streams on and is cut off there).
        yield b"\xff\xd8\xff" + bytes(MAX_CHUNK_BYTES - 3)
        for _ in range(MAX_PHOTO_BYTES // MAX_CHUNK_BYTES - 1):
            yield bytes(MAX_CHUNK_BYTES)
        yield b"\x00"

    refusal = await refused(upload(photos, home.name, home.owner, chunks()))
    assert (refusal.code, refusal.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "PAYLOAD_TOO_LARGE")
    # Exactly 10 MiB is still a photo's size (then refused as the not-an-image it is, not for its size).
    exact = [b"\xff\xd8\xff" + bytes(MAX_CHUNK_BYTES - 3)] + [bytes(MAX_CHUNK_BYTES)] * 9
    at_limit = await refused(upload(photos, home.name, home.owner, exact))
    assert at_limit.reason == "VALIDATION_FAILED"


async def test_outsiders_and_other_households_find_nothing(
    stack: Stack, photos: task_pb2_grpc.PhotoServiceStub
) -> None:
    home, other = await household(stack), await household(stack)
    photo = await upload(photos, home.name, home.owner, encoded("PNG"))
    # Another household's owner: not a member, so neither upload nor read reveals the household.
    outsider = await refused(upload(photos, home.name, other.owner, encoded("PNG")))
    assert outsider.code == grpc.StatusCode.NOT_FOUND
    assert (await refused(read(photos, photo.name, other.owner))).code == grpc.StatusCode.NOT_FOUND
    # The photo's id under the other household's name: not theirs.
    photo_id = photo.name.rsplit("/", 1)[1]
    crossed = await refused(read(photos, f"{other.name}/photos/{photo_id}", other.owner))
    assert (crossed.code, crossed.message) == (grpc.StatusCode.NOT_FOUND, photo_rules.NOT_FOUND_MESSAGE)
    unknown = await refused(read(photos, f"{home.name}/photos/{new_id()}", home.owner))
    assert unknown.code == grpc.StatusCode.NOT_FOUND
    # Names are ids: anything else is refused before it could become a path.
    for name in (f"{home.name}/photos/..%2F..%2Fetc", f"{home.name}/photos/../../x", "households/../photos/x"):
        bad = await refused(read(photos, name, home.owner))
        assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    # Without a first metadata message there is no household to check: refused.
    no_metadata = await refused(
        _answers(photos.UploadPhoto(_only_chunks([encoded("PNG")]), metadata=home.owner.metadata))
    )
    assert no_metadata.code == grpc.StatusCode.INVALID_ARGUMENT


async def _answers(call: Any) -> list[task_pb2.UploadPhotoResponse]:
    return [answer async for answer in call]


async def _only_chunks(chunks: list[bytes]) -> AsyncIterator[task_pb2.UploadPhotoRequest]:
    for chunk in chunks:
        yield task_pb2.UploadPhotoRequest(chunk=chunk)


async def test_the_worker_makes_the_thumbnail_once(
    stack: Stack, photos: task_pb2_grpc.PhotoServiceStub, database: AsyncEngine
) -> None:
    home = await household(stack)
    photo = await upload(photos, home.name, home.owner, jpeg_with_gps(1200, 800))
    early = await refused(read(photos, photo.name, home.owner, thumbnail=True))
    assert (early.code, early.reason) == (grpc.StatusCode.NOT_FOUND, "NOT_READY")
    async with photo_worker(stack):

        async def made() -> bool:
            async with database.connect() as conn:
                state = await conn.scalar(
                    sa.text("SELECT thumbnail_state FROM photos WHERE id = :id"),
                    {"id": uuid.UUID(photo.name.rsplit("/", 1)[1])},
                )
            return state == "ready"

        await eventually(made)
    header, data = await read(photos, photo.name, home.owner, thumbnail=True)
    thumbnail = Image.open(io.BytesIO(data))
    # 800 x 1200 upright, fitted into 320 x 320.
    assert (thumbnail.format, thumbnail.size) == ("JPEG", (213, 320))
    assert exif_of(data) == {}
    assert header.photo.thumbnail_state == task_pb2.Photo.READY
    assert header.etag
    assert header.etag != header.photo.sha256
    before = stored_path(stack, photo.name, "thumbnail").stat().st_mtime_ns
    # A second run of the job (a redelivery) finds the thumbnail and does nothing.
    sessions = async_sessionmaker(database, expire_on_commit=False)
    storage = LocalPhotoStorage(Path(stack.servers["task"].runtime.settings.photos_dir))
    photo_id = uuid.UUID(photo.name.rsplit("/", 1)[1])
    assert await make_thumbnail(sessions, storage, photo_id, pixels=320) == "already made"
    assert stored_path(stack, photo.name, "thumbnail").stat().st_mtime_ns == before


async def test_a_thumbnail_the_worker_cannot_make_ends_failed_not_pending(
    stack: Stack, photos: task_pb2_grpc.PhotoServiceStub, database: AsyncEngine
) -> None:
    home = await household(stack)
    photo = await upload(photos, home.name, home.owner, encoded("PNG"))
    # The stored original lost (a store wiped behind the service's back): every run of the job fails.
    stored_path(stack, photo.name).unlink()
    photo_id = uuid.UUID(photo.name.rsplit("/", 1)[1])
    fast = {"thumbnail_max_attempts": 3, "thumbnail_retry_base_seconds": 0.01, "thumbnail_retry_cap_seconds": 0.02}
    async with photo_worker(stack, **fast):

        async def failed() -> bool:
            async with database.connect() as conn:
                state = await conn.scalar(
                    sa.text("SELECT thumbnail_state FROM photos WHERE id = :id"), {"id": photo_id}
                )
            return state == "failed"

        await eventually(failed)
    async with database.connect() as conn:
        attempts = await conn.scalar(
            sa.text("SELECT attempts FROM procrastinate.procrastinate_jobs WHERE args->>'photo_id' = :id"),
            {"id": str(photo_id)},
        )
    assert attempts == 3
    # No longer "not ready": there will be none.
    gone = await refused(read(photos, photo.name, home.owner, thumbnail=True))
    assert (gone.code, gone.reason, gone.message) == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND",
        "this photo has no thumbnail",
    )


async def test_photos_no_completion_names_are_pruned_once_old_enough(
    stack: Stack, photos: task_pb2_grpc.PhotoServiceStub, database: AsyncEngine
) -> None:
    home = await household(stack)
    used = await upload(photos, home.name, home.owner, encoded("PNG"))
    spare = await upload(photos, home.name, home.owner, encoded("PNG"))  # a retried upload's copy, say
    async with grpc.aio.insecure_channel(stack.addr("task")) as channel:
        chores = task_pb2_grpc.ChoreServiceStub(channel)
        chore = await chores.CreateChore(
            task_pb2.CreateChoreRequest(
                parent=home.name,
                chore=task_pb2.Chore(
                    title="Proof",
                    recurrence=task_pb2.Recurrence(once=task_pb2.Recurrence.Once()),
                    assignment=task_pb2.Assignment(strategy=task_pb2.Assignment.UNASSIGNED),
                ),
            ),
            metadata=home.owner.metadata,
        )
        await chores.CompleteChore(
            task_pb2.CompleteChoreRequest(name=chore.name, photo=used.name), metadata=home.owner.metadata
        )
    sessions = async_sessionmaker(database, expire_on_commit=False)
    # Younger than the cutoff: kept, named or not.
    async with sessions() as session, session.begin():
        assert await photo_rules.prune_unused(session, before=datetime.now(UTC) - timedelta(hours=1), limit=500) == 0
    # Old enough: the spare goes (its bytes by the job enqueued with it), the one a completion names stays.
    async with sessions() as session, session.begin():
        await photo_rules.prune_unused(session, before=datetime.now(UTC) + timedelta(hours=1), limit=500)
    async with database.connect() as conn:
        left = set(await conn.scalars(sa.text("SELECT id::text FROM photos WHERE household_id = :h"), {"h": home.id}))
        queued = list(
            await conn.scalars(
                sa.text("SELECT args FROM procrastinate.procrastinate_jobs WHERE task_name = 'task:delete_photo_bytes'")
            )
        )
    assert left == {used.name.rsplit("/", 1)[1]}
    spare_id = spare.name.rsplit("/", 1)[1]
    assert any(any(spare_id in key for key in args["keys"]) for args in queued)
    refusal = await refused(read(photos, spare.name, home.owner))
    assert refusal.code == grpc.StatusCode.NOT_FOUND
    async with photo_worker(stack):

        async def bytes_gone() -> bool:
            return not stored_path(stack, spare.name).exists()

        await eventually(bytes_gone)
    assert stored_path(stack, used.name).exists()


async def test_the_header_comes_from_the_row_before_the_store_is_read(
    stack: Stack, photos: task_pb2_grpc.PhotoServiceStub
) -> None:
    """A caller that stops after the header (the gateway's 304 for a matching If-None-Match) costs no store read:
    the header is answered from the row, even when the bytes are gone from the store."""
    home = await household(stack)
    photo = await upload(photos, home.name, home.owner, encoded("PNG"))
    stored_path(stack, photo.name).unlink()
    call: Any = photos.ReadPhoto(task_pb2.ReadPhotoRequest(name=photo.name), metadata=home.owner.metadata)
    first = await call.read()
    assert first.WhichOneof("part") == "header"
    assert (first.header.etag, first.header.size) == (photo.sha256, photo.size)
    # Reading on reaches the store: the missing bytes are NOT_FOUND there.
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await call.read()
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
