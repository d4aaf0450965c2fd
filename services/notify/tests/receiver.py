"""A real HTTP(S) server for webhook tests (asyncio streams, on 127.0.0.1 port 0): it keeps every request it receives
and answers each as `answer` says (a status, optionally a Location), so a test sees exactly what notify sent; and a
throwaway certificate authority for its TLS (`pki`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    # What to answer the n-th request (0-based) with: (status, location or None).
    answer: Callable[[int], tuple[int, str | None]] = lambda n: (200, None)
    port: int = 0
    received: list[Received] = field(default_factory=list)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").strip()
            method, path, _ = request_line.split(" ", 2)
            headers: dict[str, str] = {}
            while (line := (await reader.readline()).decode("latin-1").strip()) != "":
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            async with self._arrived:
                number = len(self.received)
                self.received.append(Received(method, path, headers, body.decode()))
                self._arrived.notify_all()
            status, location = self.answer(number)
            extra = f"Location: {location}\r\n" if location else ""
            writer.write(
                f"HTTP/1.1 {status} X\r\n{extra}Content-Length: 2\r\nConnection: close\r\n\r\nok".encode("latin-1")
            )
            await writer.drain()
        finally:
            writer.close()

    async def wait_for(self, count: int, *, timeout: float = 20) -> list[Received]:
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received


@asynccontextmanager
async def receiver(
    answer: Callable[[int], tuple[int, str | None]] = lambda n: (200, None), *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Receiver]:
    """The receiver, serving TLS with `tls` when given."""
    box = Receiver(answer)
    server = await asyncio.start_server(box.handle, "127.0.0.1", 0, ssl=tls)
    box.port = server.sockets[0].getsockname()[1]
    try:
        yield box
    finally:
        server.close()
        await server.wait_closed()


async def closed_port() -> int:
    """A port nobody listens on (bound, then released): a receiver that is down."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


@dataclass(frozen=True)
class Pki:
    """A throwaway certificate authority and a server certificate it signed for `name` (files in `directory`)."""

    ca: ssl.SSLContext  # trusts the authority (what the sender verifies with)
    server: ssl.SSLContext  # serves the certificate for `name`


def pki(directory: str, name: str) -> Pki:
    """A CA and a certificate for `name` (cryptography), as SSL contexts: a real TLS handshake, verified for `name`."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hearth test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder = Path(directory)
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    trust = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    serve = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serve.load_cert_chain(str(folder / "server.pem"), str(folder / "server.key"))
    return Pki(trust, serve)
