"""Images for the photo tests, made here with Pillow: a phone-like JPEG with GPS EXIF and a rotation, PNG and WebP,
a truncated file, a decompression bomb; and uploads over gRPC (metadata first, then chunks)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable
from typing import Any

import grpc
from hearth.task.v1 import task_pb2, task_pb2_grpc
from PIL import Image

from tests.support.people import Person

GPS_IFD = 0x8825
ORIENTATION = 0x0112
# EXIF orientation 6: the camera was turned a quarter clockwise; the picture shows upright after a 90° turn.
ROTATED = 6
CHUNK = 1024 * 1024
# A JPEG comment (COM marker) that names a place.
COMMENT = b"Taken at 12 Elm Street"


def picture(width: int = 64, height: int = 32) -> Image.Image:
    """A picture with a left half red and a right half blue (so a rotation can be seen in the pixels)."""
    image = Image.new("RGB", (width, height), (200, 0, 0))
    image.paste((0, 0, 200), (width // 2, 0, width, height))
    return image


def jpeg_with_gps(width: int = 64, height: int = 32, *, orientation: int = ROTATED) -> bytes:
    """A JPEG as a phone writes it: EXIF with a GPS position (Berlin), a camera model and an orientation; and a
    comment naming a place."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x0110] = "Hearth Phone 1"  # Model
    exif.get_ifd(GPS_IFD).update(
        {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}  # GPSLatitudeRef, GPSLatitude, ...
    )
    out = io.BytesIO()
    picture(width, height).save(out, format="JPEG", exif=exif, quality=95, comment=COMMENT)
    return out.getvalue()


def encoded(fmt: str, width: int = 48, height: int = 48, **options: Any) -> bytes:
    out = io.BytesIO()
    picture(width, height).save(out, format=fmt, **options)
    return out.getvalue()


def bomb(side: int = 10_000) -> bytes:
    """A PNG of side x side pixels (100 M by default) that is a few KiB of file: one colour compresses to nothing."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, format="PNG", optimize=True)
    return out.getvalue()


def exif_of(data: bytes) -> dict[int, Any]:
    """The EXIF tags of an encoded image (empty when it has none), GPS IFD included under GPS_IFD."""
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    tags: dict[int, Any] = dict(exif)
    gps = exif.get_ifd(GPS_IFD)
    if gps:
        tags[GPS_IFD] = dict(gps)
    return tags


def chunked(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)] or []


async def upload(
    photos: task_pb2_grpc.PhotoServiceStub, parent: str, person: Person, data: bytes | Iterable[bytes]
) -> task_pb2.Photo:
    """UploadPhoto of `data` (bytes, sent in 1 MiB chunks, or the chunks themselves) to household `parent`, as a
    client should: the metadata, then `ready` awaited (a refusal is raised there), the chunks, the photo."""
    chunks = chunked(data) if isinstance(data, bytes) else data
    call: Any = photos.UploadPhoto(metadata=person.metadata)
    await call.write(task_pb2.UploadPhotoRequest(metadata=task_pb2.UploadPhotoRequest.Metadata(parent=parent)))
    ready = await call.read()
    assert ready is not grpc.aio.EOF, "the call ended without an answer"
    assert ready.WhichOneof("result") == "ready"
    for chunk in chunks:
        try:
            await call.write(task_pb2.UploadPhotoRequest(chunk=chunk))
        except asyncio.InvalidStateError:
            break  # the service ended the call: its refusal is read below
    await call.done_writing()
    answer = await call.read()
    assert answer is not grpc.aio.EOF, "the call ended without the photo"
    assert answer.WhichOneof("result") == "photo"
    photo: task_pb2.Photo = answer.photo
    return photo


async def read(
    photos: task_pb2_grpc.PhotoServiceStub, name: str, person: Person, *, thumbnail: bool = False
) -> tuple[task_pb2.PhotoData.Header, bytes]:
    """ReadPhoto: its header and the bytes after it."""
    call = photos.ReadPhoto(task_pb2.ReadPhotoRequest(name=name, thumbnail=thumbnail), metadata=person.metadata)
    header: task_pb2.PhotoData.Header | None = None
    parts: list[bytes] = []
    async for message in call:
        if message.WhichOneof("part") == "header":
            assert header is None, "a second header"
            header = message.header
        else:
            assert header is not None, "a chunk before the header"
            parts.append(message.chunk)
    assert header is not None
    return header, b"".join(parts)
