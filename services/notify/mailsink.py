"""`python -m services.notify.mailsink`: a local SMTP server that keeps every mail it receives as a file.

For development (`make run` starts it and points notify at it): nothing leaves the machine, and every mail notify
sends lands in `var/mail/` as one `.eml` file (RFC 5322, as received, with `Return-Path` and `Delivered-To` lines
on top as a mail server adds them), which any mail program opens. It listens on NOTIFY_SMTP_HOST:NOTIFY_SMTP_PORT
(127.0.0.1:8025), where notify sends by default; `--host`, `--port` and `--dir` say otherwise.

It is aiosmtpd's SMTP protocol on this process's event loop (`start`): the tests run the same server, on port 0,
with a handler of their own. It accepts any sender and recipient, offers no TLS and no AUTH: never expose it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from aiosmtpd.smtp import SMTP, Envelope, Session

from kit.parent import die_with_parent
from services.deployment import HOST
from services.notify.config import MAILSINK_PORT

log = logging.getLogger("hearth.notify.mailsink")

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / "var" / "mail"
# Larger mails are refused (552) rather than written: 10 MiB, far above any mail notify renders.
MAX_MAIL_BYTES = 10 * 1024 * 1024


class Handler(Protocol):
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str: ...


def _bytes(content: bytes | str | None) -> bytes:
    if content is None:
        return b""
    return content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content


class MailDirectory:
    """An aiosmtpd handler that writes each mail to `directory` as `<time>-<id>.eml` (written whole, then renamed:
    a reader never sees half a mail) and remembers the paths it wrote (`paths`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.paths: list[Path] = []

    def _write(self, data: bytes) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(data)
        os.replace(partial, path)
        return path

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        trace = f"Return-Path: <{envelope.mail_from or ''}>\r\n".encode()
        trace += b"".join(f"Delivered-To: {rcpt}\r\n".encode() for rcpt in envelope.rcpt_tos)
        path = await asyncio.to_thread(self._write, trace + _bytes(envelope.content))
        self.paths.append(path)
        # The path only: the mail (its recipient, a reset link) stays in the file.
        print(f"mail sink: a mail for {len(envelope.rcpt_tos)} recipient(s) → {path}", flush=True)
        return "250 Message accepted for delivery"


async def start(handler: Any, host: str = HOST, port: int = MAILSINK_PORT) -> asyncio.Server:
    """An SMTP server on this event loop, at `host:port` (0: any free port; see `bound_port`), until closed."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, hostname="hearth-mailsink", ident="Hearth mail sink", data_size_limit=MAX_MAIL_BYTES),
        host=host,
        port=port,
    )


def bound_port(server: asyncio.Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


async def serve(directory: Path, host: str, port: int) -> None:
    server = await start(MailDirectory(directory), host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"mail sink: listening on {host}:{bound_port(server)}; mails land in {directory}", flush=True)
    async with server:
        await stop.wait()
    print("mail sink: stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.notify.mailsink", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=os.environ.get("NOTIFY_SMTP_HOST", HOST))
    parser.add_argument("--port", type=int, default=int(os.environ.get("NOTIFY_SMTP_PORT", MAILSINK_PORT)))
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("NOTIFY_MAILSINK_DIR", DEFAULT_DIR)))
    args = parser.parse_args(argv)
    die_with_parent()
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.dir.resolve(), args.host, args.port))


if __name__ == "__main__":
    main()
