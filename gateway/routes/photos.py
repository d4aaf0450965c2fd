"""/households/{hid}/photos: uploading a photo (multipart, streamed to the task service) and reading it or its
thumbnail (members only, cached by the client for good: a photo never changes).

The upload is never held whole here: the multipart body is parsed as it arrives (python-multipart's streaming
parser, the one Starlette's forms use) and the `file` part's bytes go on at once to the task service's streaming
UploadPhoto (first message the household; once the service answered `ready`, chunks of at most 1 MiB). Past
`MAX_PHOTO_BYTES` of the file the route stops reading and answers 413; the body as a whole may be that plus
`MULTIPART_ALLOWANCE` (the part headers and boundaries), which RequestContextMiddleware enforces for this route
instead of its usual 1 MiB (`LARGE_BODIES`), and gateway.idempotency lets the body through without buffering it
(`STREAMED_WRITES`). What the file is, is the content's: its first bytes are sniffed here (kit.media: JPEG, PNG or
WebP, else 415 at once, before the rest is streamed on) and the task service decides again on the whole file (a
broken image 422); neither the part's filename nor its Content-Type is looked at. A non-member is refused (404) by
the service at the first message, before the gateway has read the body.

Reads stream the service's ReadPhoto back: the first message carries the type, size and ETag, so If-None-Match is
answered 304 without the bytes. `Cache-Control: private, max-age=31536000, immutable`: a member's browser keeps it,
no shared cache may. A thumbnail the worker has not made yet is 404 `not_ready` (the upload's answer gives its URL
anyway): a client shows the photo itself, or asks again.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import StreamingResponse
from hearth.task.v1 import task_pb2
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from gateway import converters, responses
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.etags import IfNoneMatch, etag_header, none_match, not_modified
from gateway.routes import ClientsDep
from gateway.schemas import PlainText
from gateway.serialize import JSONResponse
from kit import media
from kit.errors import FieldViolation, InvalidArgument, PayloadTooLarge, UnsupportedMediaType, invalid

router = APIRouter(tags=["photos"])

HouseholdId = Annotated[str, Path(max_length=64), PlainText]
PhotoId = Annotated[str, Path(max_length=64), PlainText]

MAX_PHOTO_BYTES = 10 * 1024 * 1024
# What a multipart body may carry beside its file: boundaries and part headers (a few hundred bytes in practice).
MULTIPART_ALLOWANCE = 64 * 1024
# The body limit of the upload route (RequestContextMiddleware), by method and path.
UPLOAD_PATH = re.compile(r"/api/v1/households/[^/]+/photos")
LARGE_BODIES = (("POST", UPLOAD_PATH, MAX_PHOTO_BYTES + MULTIPART_ALLOWANCE),)
# Writes whose bodies gateway.idempotency must not read whole (an upload streams through).
STREAMED_WRITES = (("POST", UPLOAD_PATH),)
FILE_FIELD = "file"
# What one UploadPhoto message carries at most (the service's limit per chunk).
GRPC_CHUNK = 1024 * 1024
# A slow phone connection needs more than the usual call deadline to send 10 MiB.
UPLOAD_TIMEOUT_SECONDS = 120.0
IMAGE_TYPES = media.IMAGE_TYPES
# A photo never changes: a member's client keeps it for a year; no shared cache may (it is the household's).
PHOTO_HEADERS = {"Cache-Control": "private, max-age=31536000, immutable"}
# What ReadPhoto's read() answers at the end of the stream (grpc-stubs does not declare it).
_EOF: Any = getattr(grpc.aio, "EOF")  # noqa: B009
UNSUPPORTED_MESSAGE = "a photo must be a JPEG, PNG or WebP image"
MULTIPART_MESSAGE = "send the photo as multipart/form-data, in a part named `file`"


class _FilePart:
    """The multipart parser's callbacks: collects the `file` part's bytes as they are parsed."""

    def __init__(self) -> None:
        self.pending = bytearray()
        # The file's first bytes until they tell what it is (kit.media), then None: sniffed.
        self._head: bytearray | None = bytearray()
        self.size = 0
        self.files = 0
        self.finished = False
        self._in_file = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._in_file = False

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name", b"").decode("latin-1") != FILE_FIELD:
            raise InvalidArgument(
                "the request is not valid", [FieldViolation("body", f"unknown part: only `{FILE_FIELD}` is taken")]
            )
        self.files += 1
        if self.files > 1:
            raise invalid(FILE_FIELD, "one photo per upload")
        self._in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_file:
            return
        self.size += end - start
        if self.size > MAX_PHOTO_BYTES:
            raise PayloadTooLarge(f"a photo may be at most {MAX_PHOTO_BYTES} bytes")
        self.pending.extend(data[start:end])
        if self._head is not None:
            self._head.extend(data[start : min(end, start + media.SNIFF_BYTES)])
            if len(self._head) >= media.SNIFF_BYTES:
                self._sniff()

    def _part_end(self) -> None:
        if self._in_file and self._head:
            self._sniff()  # a file shorter than the sniffed bytes
        self._in_file = False

    def _sniff(self) -> None:
        """Refuse what is not an image at its first bytes, before the rest is read (the task service decides again,
        on the whole file)."""
        assert self._head is not None
        if media.image_type(bytes(self._head[: media.SNIFF_BYTES])) is None:
            raise UnsupportedMediaType(UNSUPPORTED_MESSAGE)
        self._head = None

    def _end(self) -> None:
        self.finished = True

    def take(self) -> list[bytes]:
        """What was parsed since the last call, in chunks UploadPhoto takes."""
        chunks = [bytes(self.pending[i : i + GRPC_CHUNK]) for i in range(0, len(self.pending), GRPC_CHUNK)]
        self.pending.clear()
        return chunks


def _boundary(request: Request) -> bytes:
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary", b"")
    if kind != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType(MULTIPART_MESSAGE)
    return boundary


async def _send(call: Any, message: task_pb2.UploadPhotoRequest) -> None:
    """One chunk to the service; when it has already ended the call (it failed), its status is raised instead."""
    try:
        await call.write(message)
    except asyncio.InvalidStateError:
        await call.read()  # raises the AioRpcError the call ended with
        raise


async def _answer(call: Any, expected: str) -> Any:
    """The service's next answer, which must be `expected` (its refusal is raised as the AioRpcError it is)."""
    answer = await call.read()
    if answer is _EOF or answer.WhichOneof("result") != expected:
        raise RuntimeError(f"UploadPhoto answered without {expected}")
    return getattr(answer, expected)


@router.post(
    "/households/{hid}/photos",
    status_code=201,
    summary="Upload a photo (multipart `file`: JPEG, PNG or WebP, at most 10 MiB; its EXIF and GPS are stripped)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [FILE_FIELD],
                        "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
    responses=doc.documented(
        {201: doc.body(responses.Photo, responses.PHOTO, "The photo; its thumbnail follows in the background")},
        401,
        403,
        404,
        413,
        415,
        422,
    ),
)
async def upload_photo(hid: HouseholdId, request: Request, caller: CurrentCaller, clients: ClientsDep) -> JSONResponse:
    part = _FilePart()
    parser = MultipartParser(_boundary(request), part.callbacks())
    # No request iterator: the messages are written one by one as the body is parsed (`_send`).
    call: Any = clients.photos.UploadPhoto(None, timeout=UPLOAD_TIMEOUT_SECONDS)
    try:
        metadata = task_pb2.UploadPhotoRequest.Metadata(parent=f"households/{hid}")
        await call.write(task_pb2.UploadPhotoRequest(metadata=metadata))
        # Not a byte of the body before the service said the caller may upload here: its refusal (an outsider, an API
        # key without chores:write) arrives as itself, never racing a write (which gRPC would turn into INTERNAL).
        await _answer(call, "ready")
        async for received in request.stream():
            try:
                parser.write(received)
            except MultipartParseError:
                raise invalid("body", "not a well-formed multipart/form-data body") from None
            for chunk in part.take():
                await _send(call, task_pb2.UploadPhotoRequest(chunk=chunk))
        if not part.finished:
            raise invalid("body", "not a well-formed multipart/form-data body (it ends early)")
        if not part.files:
            raise invalid(FILE_FIELD, "a photo is required")
        await call.done_writing()
        photo: task_pb2.Photo = await _answer(call, "photo")
    except BaseException:
        call.cancel()
        raise
    url = str(request.url_for("get_photo", hid=hid, pid=converters.last_id(photo.name)))
    thumbnail_url = str(request.url_for("get_photo_thumbnail", hid=hid, pid=converters.last_id(photo.name)))
    return JSONResponse(converters.photo(photo, url, thumbnail_url), status_code=201, headers={"Location": url})


_IMAGE = {
    "description": "The image, as stored (its metadata stripped); cached by the member's client for good",
    "content": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in IMAGE_TYPES},
    "headers": {"ETag": doc.ETAG_HEADER},
}


async def _serve(hid: str, pid: str, clients: Any, if_none_match: str | None, *, thumbnail: bool) -> Response:
    stream = clients.photos.ReadPhoto(
        task_pb2.ReadPhotoRequest(name=f"households/{hid}/photos/{pid}", thumbnail=thumbnail)
    )
    first = await stream.read()
    if first is _EOF or first.WhichOneof("part") != "header":
        stream.cancel()
        raise RuntimeError("ReadPhoto answered without a header")
    header = first.header
    if none_match(if_none_match, header.etag):
        stream.cancel()
        response = not_modified(header.etag)
        response.headers.update(PHOTO_HEADERS)
        return response

    async def body() -> AsyncIterator[bytes]:
        # read(), as for the header: grpc.aio does not let one call mix read() with async iteration.
        try:
            while (message := await stream.read()) is not _EOF:
                yield message.chunk
        finally:
            stream.cancel()

    headers = {"ETag": etag_header(header.etag), "Content-Length": str(header.size), **PHOTO_HEADERS}
    return StreamingResponse(body(), media_type=header.content_type, headers=headers)


@router.get(
    "/households/{hid}/photos/{pid}",
    summary="A photo of the household (members only)",
    response_class=Response,
    responses=doc.documented({200: _IMAGE, 304: doc.NOT_MODIFIED}, 401, 404, 422),
)
async def get_photo(
    hid: HouseholdId, pid: PhotoId, caller: CurrentCaller, clients: ClientsDep, if_none_match: IfNoneMatch = None
) -> Response:
    return await _serve(hid, pid, clients, if_none_match, thumbnail=False)


@router.get(
    "/households/{hid}/photos/{pid}/thumbnail",
    summary="A photo's thumbnail (at most 320 x 320; 404 `not_ready` until the background job made it)",
    response_class=Response,
    responses=doc.documented({200: _IMAGE, 304: doc.NOT_MODIFIED}, 401, 404, 422),
)
async def get_photo_thumbnail(
    hid: HouseholdId, pid: PhotoId, caller: CurrentCaller, clients: ClientsDep, if_none_match: IfNoneMatch = None
) -> Response:
    return await _serve(hid, pid, clients, if_none_match, thumbnail=True)
