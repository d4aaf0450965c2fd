"""A small S3-compatible server on 127.0.0.1 for the photo store's tests: the outside world the S3 store talks to,
run for real over HTTP (moto's server is not in the package index this project installs from).

It speaks the part of the S3 REST API the store uses, path-style: PUT /{bucket} (create a bucket), PUT, GET, HEAD
and DELETE /{bucket}/{key}, with S3's XML errors (NoSuchBucket, NoSuchKey, AccessDenied). Every request must be
signed with AWS Signature V4 for the server's access key (the Authorization header's credential is checked, not the
signature itself). Objects live in memory; `objects` shows what was stored, with the content type it was sent as.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

ACCESS_KEY = "hearth-test-access-key"
SECRET_KEY = "hearth-test-secret-key"


@dataclass
class StoredObject:
    data: bytes
    content_type: str


@dataclass
class S3Server:
    url: str
    buckets: dict[str, dict[str, StoredObject]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def objects(self, bucket: str) -> dict[str, StoredObject]:
        return self.buckets[bucket]


def _error(code: str, message: str) -> bytes:
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    )


def _handler(state: S3Server) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if "Content-Type" not in (headers or {}):
                self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _target(self) -> tuple[str, str] | None:
            """(bucket, key) of a signed request; None after answering one that is not."""
            length = int(self.headers.get("Content-Length") or 0)
            self._body = self.rfile.read(length) if length else b""
            authorization = self.headers.get("Authorization", "")
            if not authorization.startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/"):
                self._send(403, _error("AccessDenied", "unsigned, or signed for another access key"))
                return None
            path = unquote(urlsplit(self.path).path).lstrip("/")
            bucket, _, key = path.partition("/")
            with lock:
                state.requests.append((self.command, path))
            return bucket, key

        def do_PUT(self) -> None:
            target = self._target()
            if target is None:
                return
            bucket, key = target
            with lock:
                if not key:
                    state.buckets.setdefault(bucket, {})
                    self._send(200)
                    return
                if bucket not in state.buckets:
                    self._send(404, _error("NoSuchBucket", "no such bucket"))
                    return
                state.buckets[bucket][key] = StoredObject(
                    self._body, self.headers.get("Content-Type", "binary/octet-stream")
                )
            self._send(200, headers={"ETag": f'"{hashlib.md5(self._body).hexdigest()}"'})

        def do_GET(self) -> None:
            target = self._target()
            if target is None:
                return
            bucket, key = target
            with lock:
                stored = state.buckets.get(bucket, {}).get(key)
            if bucket not in state.buckets:
                self._send(404, _error("NoSuchBucket", "no such bucket"))
            elif stored is None:
                self._send(404, _error("NoSuchKey", "no such key"))
            else:
                self._send(200, stored.data, {"Content-Type": stored.content_type})

        do_HEAD = do_GET

        def do_DELETE(self) -> None:
            target = self._target()
            if target is None:
                return
            bucket, key = target
            with lock:
                state.buckets.get(bucket, {}).pop(key, None)
            self._send(204)

    return Handler


@contextlib.contextmanager
def s3_server(*buckets: str) -> Iterator[S3Server]:
    """The server on a free port of 127.0.0.1, with `buckets` created, for the duration of the block."""
    state = S3Server(url="")
    for bucket in buckets:
        state.buckets[bucket] = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="s3-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
