"""The photo stores (services/task/photo_storage.py): the local directory (atomic writes, keys that cannot leave it)
and the S3 one against a real S3-compatible server on 127.0.0.1 (tests/support/s3.py), also as the store of a
running task service: an upload lands in the bucket stripped, is read back from it, and the worker puts its
thumbnail there."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from botocore.exceptions import ClientError
from hearth.task.v1 import task_pb2, task_pb2_grpc
from PIL import Image

from kit.ids import new_id
from services.task.config import Settings
from services.task.photo_storage import LocalPhotoStorage, S3PhotoStorage, photo_storage
from services.task.photos import photo_key, thumbnail_key
from tests.support.jobs import photo_worker
from tests.support.people import Person, household
from tests.support.photos import exif_of, jpeg_with_gps, read, upload
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Server, s3_server
from tests.support.stack import Stack, running_stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

BUCKET = "hearth-photos"
BAD_KEYS = [
    "../../etc/passwd",
    "photo.jpg",
    f"{uuid.UUID(int=1)}/../{uuid.UUID(int=2)}/original",
    f"{uuid.UUID(int=1)}/{uuid.UUID(int=2)}/original/../../x",
    f"/{uuid.UUID(int=1)}/{uuid.UUID(int=2)}/original",
    f"{uuid.UUID(int=1)}/{uuid.UUID(int=2)}/secret",
]


def a_key() -> str:
    return photo_key(new_id(), new_id())


def s3_settings(server: S3Server, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "photos_backend": "s3",
        "photos_s3_bucket": BUCKET,
        "photos_s3_endpoint_url": server.url,
        "photos_s3_access_key_id": ACCESS_KEY,
        "photos_s3_secret_access_key": SECRET_KEY,
        "photos_s3_prefix": "photos/",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server(BUCKET) as server:
        yield server


async def test_the_local_store_writes_atomically_and_forgets(tmp_path: Path) -> None:
    store = LocalPhotoStorage(tmp_path / "photos")
    key = a_key()
    assert await store.get(key) is None
    await store.put(key, b"first", "image/png")
    await store.put(key, b"second", "image/png")  # a re-run overwrites
    assert await store.get(key) == b"second"
    # Only the key's file: no temporary file left behind by either write.
    assert [p.name for p in (tmp_path / "photos").rglob("*") if p.is_file()] == ["original"]
    await store.delete(key)
    await store.delete(key)  # a second delete is a no-op
    assert await store.get(key) is None


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_no_key_but_an_ids_key_reaches_a_store(tmp_path: Path, s3: S3Server, key: str) -> None:
    for store in (LocalPhotoStorage(tmp_path), S3PhotoStorage.from_settings(s3_settings(s3))):
        with pytest.raises(ValueError, match="not a photo key"):
            await store.put(key, b"x", "image/png")
        with pytest.raises(ValueError, match="not a photo key"):
            await store.get(key)
    assert not any(await asyncio.to_thread(lambda: list(tmp_path.rglob("*"))))


async def test_the_s3_store_puts_gets_and_deletes_in_its_bucket(s3: S3Server) -> None:
    store = photo_storage(s3_settings(s3))
    assert isinstance(store, S3PhotoStorage)
    key = a_key()
    assert await store.get(key) is None
    await store.put(key, b"\x89PNG...", "image/png")
    stored = s3.objects(BUCKET)[f"photos/{key}"]
    assert (stored.data, stored.content_type) == (b"\x89PNG...", "image/png")
    assert await store.get(key) == b"\x89PNG..."
    await store.delete(key)
    await store.delete(key)
    assert f"photos/{key}" not in s3.objects(BUCKET)
    assert await store.get(key) is None


async def test_the_s3_store_reports_what_the_server_refuses(s3: S3Server) -> None:
    wrong_key = photo_storage(s3_settings(s3, photos_s3_access_key_id="someone-else"))
    with pytest.raises(ClientError) as denied:
        await wrong_key.put(a_key(), b"x", "image/png")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    no_bucket = photo_storage(s3_settings(s3, photos_s3_bucket="missing"))
    with pytest.raises(ClientError) as missing:
        await no_bucket.get(a_key())
    assert missing.value.response["Error"]["Code"] == "NoSuchBucket"
    with pytest.raises(ValueError, match="TASK_PHOTOS_S3_BUCKET"):
        photo_storage(s3_settings(s3, photos_s3_bucket=""))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def s3_stack(s3: S3Server) -> AsyncIterator[Stack]:
    overrides = s3_settings(s3).model_dump(include={f for f in Settings.model_fields if f.startswith("photos_")})
    async with running_stack(["user", "task"], settings_overrides={"task": overrides}) as stack:
        yield stack


async def test_a_task_service_on_s3_keeps_photos_and_thumbnails_in_the_bucket(s3_stack: Stack, s3: S3Server) -> None:
    home = await household(s3_stack)
    async with grpc.aio.insecure_channel(s3_stack.addr("task")) as channel:
        photos = task_pb2_grpc.PhotoServiceStub(channel)
        photo = await upload(photos, home.name, home.owner, jpeg_with_gps(600, 400, orientation=1))
        household_id, photo_id = uuid.UUID(home.id), uuid.UUID(photo.name.rsplit("/", 1)[1])
        stored = s3.objects(BUCKET)[f"photos/{photo_key(household_id, photo_id)}"]
        assert stored.content_type == "image/jpeg"
        assert exif_of(stored.data) == {}
        _, data = await read(photos, photo.name, home.owner)
        assert data == stored.data
        thumbnail = f"photos/{thumbnail_key(household_id, photo_id)}"
        async with photo_worker(s3_stack):
            header, small = await eventually(lambda: _thumbnail(photos, photo.name, home.owner))
        assert small == s3.objects(BUCKET)[thumbnail].data
        assert Image.open(io.BytesIO(small)).size == (320, 213)
        assert header.photo.thumbnail_state == task_pb2.Photo.READY


async def _thumbnail(
    photos: task_pb2_grpc.PhotoServiceStub, name: str, person: Person
) -> tuple[task_pb2.PhotoData.Header, bytes] | None:
    """The thumbnail once the worker has recorded it (its bytes are stored just before), else None."""
    try:
        return await read(photos, name, person, thumbnail=True)
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return None
