"""Where the task service keeps photo bytes: `PhotoStorage` (put, get, delete by key) and its two implementations,
a local directory (`LocalPhotoStorage`, the default: TASK_PHOTOS_DIR) and any S3-compatible object store
(`S3PhotoStorage`: AWS S3, MinIO, Ceph, R2...; TASK_PHOTOS_BACKEND=s3).

Keys are made by services.task.photos from ids alone (`photo_key`: `{household}/{photo}/original`, `.../thumbnail`),
never from anything a client named, and both stores refuse any other shape (`check_key`), so no key can leave the
store's directory or bucket prefix. What is stored is already stripped of its metadata (services.task.images).

The local store writes atomically: into a temporary file in the target's directory, fsynced, then renamed over the
target, so a reader sees the old bytes or the new, never half a file, and a crash leaves at most a stray temporary
file (never read: its name is no key). The S3 store uses boto3 (the reference client) in a worker thread: its calls
block, and the event loop must not. Both are safe to call again with the same key (put overwrites, delete of a
missing key is a no-op): the thumbnail job relies on that.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from services.task.config import Settings

# {household uuid}/{photo uuid}/{original|thumbnail}
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
KEY_SHAPE = re.compile(rf"{_UUID}/{_UUID}/(original|thumbnail)")


def check_key(key: str) -> str:
    """`key` when it has the shape photo keys have; ValueError otherwise (a bug: keys are made from ids)."""
    if not KEY_SHAPE.fullmatch(key):
        raise ValueError(f"not a photo key: {key!r}")
    return key


class PhotoStorage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, replacing what was there."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The bytes under `key`; None when there are none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key` (a no-op when it is not there)."""
        ...


class LocalPhotoStorage:
    """A directory: one file per key (the key's path below `root`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._put, self._path(key), data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)

        def read() -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        path = self._path(key)

        def remove() -> None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            # The photo's directory goes with its last file (its household's stays: other photos may come).
            with contextlib.suppress(OSError):
                path.parent.rmdir()

        await asyncio.to_thread(remove)


class S3PhotoStorage:
    """An S3 bucket (or any S3-compatible store at `endpoint_url`), each key under `prefix`."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    def from_settings(cls, settings: Settings) -> S3PhotoStorage:
        if not settings.photos_s3_bucket:
            raise ValueError("TASK_PHOTOS_BACKEND=s3 needs TASK_PHOTOS_S3_BUCKET")
        secret = settings.photos_s3_secret_access_key
        credentials = (
            {
                "aws_access_key_id": settings.photos_s3_access_key_id,
                "aws_secret_access_key": secret.get_secret_value(),
            }
            if settings.photos_s3_access_key_id and secret is not None
            else {}
        )
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.photos_s3_endpoint_url or None,
            region_name=settings.photos_s3_region,
            config=Config(
                # Path-style addressing works with every S3-compatible server (virtual hosts need DNS for buckets).
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
                # Checksums only where the API requires them: the default (CRC32 on every upload) is AWS's own, and
                # several S3-compatible servers refuse the headers it adds.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
            **credentials,
        )
        return cls(client, settings.photos_s3_bucket, settings.photos_s3_prefix)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self._client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
        )

    async def get(self, key: str) -> bytes | None:
        name = self._key(key)

        def read() -> bytes | None:
            try:
                reply = self._client.get_object(Bucket=self.bucket, Key=name)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                    return None
                raise
            body: bytes = reply["Body"].read()
            return body

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=self._key(key))


def photo_storage(settings: Settings) -> PhotoStorage:
    """The store TASK_PHOTOS_BACKEND names."""
    if settings.photos_backend == "s3":
        return S3PhotoStorage.from_settings(settings)
    return LocalPhotoStorage(settings.photos_dir)
