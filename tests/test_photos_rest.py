"""Photos through the real gateway, user and task services (API.md: POST /households/{hid}/photos, GET …/photos/{pid}
and …/thumbnail): a multipart upload streamed to the task service, typed by its content, stored without its EXIF;
reads for members only, cached for good; the thumbnail once the real worker made it; a completion's photo_id checked
against the store. With the abuse cases: another household's photos (GET and photo_id), outsiders, hostile files,
10 MiB + 1 streamed, bodies that are not multipart."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.support.api import API, Person, create_chore, create_household, expect, join, problem, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.jobs import photo_worker
from tests.support.photos import GPS_IFD, bomb, encoded, exif_of, jpeg_with_gps
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"], gateway=True)
http = http_fixture()

MIB = 1024 * 1024
BOUNDARY = "hearth-test-boundary"


def photos_url(hid: str) -> str:
    return f"{API}/households/{hid}/photos"


async def upload(
    http: httpx.AsyncClient,
    hid: str,
    person: Person,
    data: bytes,
    filename: str = "photo.jpg",
    kind: str = "image/jpeg",
) -> httpx.Response:
    return await http.post(photos_url(hid), files={"file": (filename, data, kind)}, headers=person.headers)


async def streamed_file(size: int, head: bytes = b"\xff\xd8\xff") -> AsyncIterator[bytes]:
    """A multipart body whose `file` is `head` (a JPEG's first bytes) and then zeros, `size` bytes in all, made as
    it is sent (one 1 MiB block of zeros, reused)."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    yield head
    zeros = bytes(MIB)
    left = size - len(head)
    while left > 0:
        block = zeros if left >= MIB else zeros[:left]
        yield block
        left -= len(block)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


async def household_of(http: httpx.AsyncClient, **roles: str) -> tuple[str, Person, dict[str, Person]]:
    owner = await sign_up(http, "Olga")
    hid = await create_household(http, owner)
    people = {}
    for name, role in roles.items():
        people[name] = await sign_up(http, name.capitalize())
        await join(http, hid, owner, people[name], role)
    return hid, owner, people


async def test_an_upload_is_stored_stripped_and_served_to_members_with_caching(http: httpx.AsyncClient) -> None:
    hid, owner, people = await household_of(http, kid="child")
    sent = jpeg_with_gps(64, 32)
    # A child uploads too (the proof of their own chores).
    created = upload(http, hid, people["kid"], sent)
    reply = await created
    photo = expect(reply, 201)
    assert photo["url"].endswith(f"{API}/households/{hid}/photos/{photo['id']}")
    assert photo["thumbnail_url"] == photo["url"] + "/thumbnail"
    assert reply.headers["location"] == photo["url"]
    assert (photo["content_type"], photo["width"], photo["height"]) == ("image/jpeg", 32, 64)
    assert (photo["uploaded_by"], photo["thumbnail_ready"]) == (people["kid"].user_id, False)

    got = await http.get(photo["url"], headers=owner.headers)
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert int(got.headers["content-length"]) == len(got.content) == photo["size"]
    assert got.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert got.headers["etag"] == f'"{photo["sha256"]}"'
    stored = got.content
    assert exif_of(sent)[GPS_IFD]
    assert exif_of(stored) == {}  # no GPS, no camera, no orientation left
    assert Image.open(io.BytesIO(stored)).size == (32, 64)
    again = await http.get(photo["url"], headers={**owner.headers, "If-None-Match": got.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == got.headers["etag"]
    changed = await http.get(photo["url"], headers={**owner.headers, "If-None-Match": '"something-else"'})
    assert changed.status_code == 200


async def test_the_content_decides_what_a_file_is(http: httpx.AsyncClient) -> None:
    hid, owner, _ = await household_of(http)
    # A PNG named .jpg and sent as image/jpeg is a PNG.
    png = expect(await upload(http, hid, owner, encoded("PNG"), "holiday.jpg", "image/jpeg"), 201)
    assert png["content_type"] == "image/png"
    webp = expect(await upload(http, hid, owner, encoded("WEBP"), "x.bin", "application/octet-stream"), 201)
    assert webp["content_type"] == "image/webp"
    # Text claiming to be a JPEG is not one.
    text = problem(await upload(http, hid, owner, b"just some text, really"), 415, "unsupported_media_type")
    assert "JPEG, PNG or WebP" in text["detail"]
    problem(await upload(http, hid, owner, encoded("GIF"), "a.gif", "image/gif"), 415, "unsupported_media_type")
    # The gateway sniffs the first bytes itself: 30 MiB that start as text are refused for what they are, at once
    # (not read on to the size limit).
    text_stream = streamed_file(30 * MIB, head=b"plain text, not an image")
    sniffed = await http.post(
        photos_url(hid),
        content=text_stream,
        headers={**owner.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    problem(sniffed, 415, "unsupported_media_type")
    # Not multipart at all: the image as the raw body.
    raw = await http.post(
        photos_url(hid), content=encoded("PNG"), headers={**owner.headers, "Content-Type": "image/png"}
    )
    problem(raw, 415, "unsupported_media_type")


async def test_broken_and_hostile_files_are_refused(http: httpx.AsyncClient) -> None:
    hid, owner, _ = await household_of(http)
    empty = problem(await upload(http, hid, owner, b""), 422, "validation_failed")
    assert [e["field"] for e in empty["errors"]] == ["file"]
    whole = jpeg_with_gps(256, 256)
    problem(await upload(http, hid, owner, whole[: len(whole) // 2]), 422, "validation_failed")
    # 100 M pixels in a few KiB of PNG: refused before it is decoded.
    problem(await upload(http, hid, owner, bomb(), "bomb.png", "image/png"), 422, "validation_failed")
    # No `file` part; another part beside it; two files; a body that is not multipart inside.
    no_file = await http.post(photos_url(hid), files={"note": ("n.txt", b"hi", "text/plain")}, headers=owner.headers)
    assert [e["field"] for e in problem(no_file, 422, "validation_failed")["errors"]] == ["body"]
    beside = await http.post(
        photos_url(hid),
        files=[("file", ("a.png", encoded("PNG"), "image/png")), ("note", ("n.txt", b"hi", "text/plain"))],
        headers=owner.headers,
    )
    problem(beside, 422, "validation_failed")
    two = await http.post(
        photos_url(hid),
        files=[("file", ("a.png", encoded("PNG"), "image/png")), ("file", ("b.png", encoded("PNG"), "image/png"))],
        headers=owner.headers,
    )
    problem(two, 422, "validation_failed")
    cut = await http.post(
        photos_url(hid),
        content=f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"\r\n\r\n'.encode() + encoded("PNG"),
        headers={**owner.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    problem(cut, 422, "validation_failed")


async def raw_request(stack: Stack, head: str) -> bytes:
    """Send `head` (a request line and headers, no body) to the gateway and read what it answers."""
    url = httpx.URL(stack.gateway_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(head.encode())
        await writer.drain()
        answer = await reader.readuntil(b"}")  # the problem's JSON body ends the answer
    finally:
        writer.close()
        await writer.wait_closed()
    return answer


async def test_ten_mib_and_one_byte_is_refused_while_streaming(stack: Stack, http: httpx.AsyncClient) -> None:
    hid, owner, _ = await household_of(http)
    headers = {**owner.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    # Chunked (no Content-Length): the route counts the file's bytes and stops at 10 MiB + 1.
    over = await http.post(photos_url(hid), content=streamed_file(10 * MIB + 1), headers=headers)
    problem(over, 413, "payload_too_large")
    # 10 MiB exactly is within the limit (and then refused for what it is: zeros after a JPEG's first bytes).
    at_limit = await http.post(photos_url(hid), content=streamed_file(10 * MIB), headers=headers)
    problem(at_limit, 422, "validation_failed")
    # A declared Content-Length over the route's limit is refused before a byte of the body is sent.
    declared = await raw_request(
        stack,
        f"POST {photos_url(hid)} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {owner.token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {11 * MIB}\r\n\r\n",
    )
    assert declared.startswith(b"HTTP/1.1 413 "), declared[:200]
    assert b"payload_too_large" in declared
    # Elsewhere the usual 1 MiB limit holds.
    chores = await http.post(
        f"{API}/households/{hid}/chores",
        content=bytes(2 * MIB),
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    problem(chores, 413, "payload_too_large")


async def test_other_households_and_outsiders_find_no_photo(http: httpx.AsyncClient) -> None:
    hid, owner, _ = await household_of(http)
    other, stranger, _ = await household_of(http)
    photo = expect(await upload(http, hid, owner, encoded("PNG")), 201)
    # An outsider: nothing to upload to, nothing to read.
    problem(await upload(http, hid, stranger, encoded("PNG")), 404, "not_found")
    # Also while megabytes are still streaming in: the service's refusal, not the gateway's writes that race it.
    streamed = await http.post(
        photos_url(hid),
        content=streamed_file(5 * MIB),
        headers={**stranger.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    problem(streamed, 404, "not_found")
    problem(await http.get(photo["url"], headers=stranger.headers), 404, "not_found")
    problem(await http.get(photo["thumbnail_url"], headers=stranger.headers), 404, "not_found")
    # This household's photo id under the stranger's own household.
    crossed = f"{API}/households/{other}/photos/{photo['id']}"
    problem(await http.get(crossed, headers=stranger.headers), 404, "not_found")
    problem(await http.get(photo["url"]), 401, "unauthenticated")
    # Nothing but ids: a path in the id's place is not a file name.
    for pid in ("..%2F..%2Fetc%2Fpasswd", "photo.jpg", "x" * 65):
        response = await http.get(f"{API}/households/{hid}/photos/{pid}", headers=owner.headers)
        assert response.status_code in (404, 422), response.text
    # As a completion's photo_id: another household's photo, or one never uploaded, is 422 on photo_id.
    chore = await create_chore(http, other, stranger, requires_photo=True)
    complete = f"{API}/households/{other}/chores/{chore['id']}/complete"
    foreign = problem(
        await http.post(complete, json={"photo_id": photo["id"]}, headers=stranger.headers), 422, "validation_failed"
    )
    assert [e["field"] for e in foreign["errors"]] == ["photo_id"]
    missing = problem(await http.post(complete, json={}, headers=stranger.headers), 422, "validation_failed")
    assert [e["field"] for e in missing["errors"]] == ["photo_id"]
    theirs = expect(await upload(http, other, stranger, encoded("PNG")), 201)
    done = expect(await http.post(complete, json={"photo_id": theirs["id"]}, headers=stranger.headers), 201)
    assert done["photo_id"] == theirs["id"]


async def test_an_idempotency_key_does_not_buffer_an_upload(http: httpx.AsyncClient) -> None:
    """The gateway keeps no answer for an upload (its body streams through): a retry stores a second photo."""
    hid, owner, _ = await household_of(http)
    key = {"Idempotency-Key": "upload-1"}
    files = {"file": ("a.png", encoded("PNG"), "image/png")}
    first = expect(await http.post(photos_url(hid), files=files, headers={**owner.headers, **key}), 201)
    second = await http.post(photos_url(hid), files=files, headers={**owner.headers, **key})
    assert second.status_code == 201
    assert "idempotent-replayed" not in second.headers
    assert second.json()["id"] != first["id"]


async def test_the_thumbnail_is_not_ready_until_the_worker_made_it(stack: Stack, http: httpx.AsyncClient) -> None:
    hid, owner, people = await household_of(http, member="member")
    photo = expect(await upload(http, hid, owner, jpeg_with_gps(1000, 600, orientation=1)), 201)
    early = problem(await http.get(photo["thumbnail_url"], headers=owner.headers), 404, "not_ready")
    assert "not ready" in early["detail"]
    async with photo_worker(stack):

        async def thumbnail() -> httpx.Response | None:
            response = await http.get(photo["thumbnail_url"], headers=people["member"].headers)
            return response if response.status_code == 200 else None

        got = await eventually(thumbnail)
    assert got.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(got.content)).size == (320, 192)
    assert got.headers["cache-control"] == "private, max-age=31536000, immutable"
    unchanged = await http.get(photo["thumbnail_url"], headers={**owner.headers, "If-None-Match": got.headers["etag"]})
    assert unchanged.status_code == 304
    listed: Any = await http.get(photo["url"], headers=owner.headers)
    assert listed.headers["etag"] != got.headers["etag"]


async def test_an_api_key_uploads_only_with_chores_write(http: httpx.AsyncClient) -> None:
    hid, owner, _ = await household_of(http)
    photo = expect(await upload(http, hid, owner, encoded("PNG")), 201)
    keys = {}
    for scope in ("chores:read", "chores:write"):
        created = expect(
            await http.post(f"{API}/api-keys", json={"name": scope, "scopes": [scope]}, headers=owner.headers), 201
        )
        keys[scope] = Person(owner.user_id, owner.email, created["key"], "")
    problem(await upload(http, hid, keys["chores:read"], encoded("PNG")), 403, "insufficient_scope")
    assert (await http.get(photo["url"], headers=keys["chores:read"].headers)).status_code == 200
    expect(await upload(http, hid, keys["chores:write"], encoded("PNG")), 201)
