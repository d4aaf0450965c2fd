"""The development mail sink, as `make run` starts it: `python -m services.notify.mailsink` takes mails over SMTP
and writes each as an .eml file a mail program opens; run.py serves the same handler in its own process."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import sys
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from services.notify import mailsink
from tests.support.infra import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def a_mail(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Hearth <no-reply@hearth.example>"
    message["To"] = to
    message["Subject"] = "Grüße"
    message.set_content("Hallo Jörg")
    message.add_alternative("<p>Hallo J&ouml;rg</p>", subtype="html")
    return message


def read_eml(path: Path) -> EmailMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


async def test_the_sink_process_writes_each_mail_it_receives_as_an_eml_file(tmp_path: Path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.notify.mailsink",
        "--port",
        str(port),
        "--dir",
        str(tmp_path / "mail"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert first.strip() == f"mail sink: listening on 127.0.0.1:{port}; mails land in {tmp_path / 'mail'}"
        for to in ("joerg@example.com", "ann@example.com"):
            await aiosmtplib.send(a_mail(to), hostname="127.0.0.1", port=port, timeout=5)
        lines = [(await asyncio.wait_for(process.stdout.readline(), 10)).decode() for _ in range(2)]
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 10)
    assert process.returncode == 0
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    assert [line.rsplit("→ ", 1)[1].strip() for line in lines] == [str(path) for path in files]
    assert not any("@" in line for line in lines)  # the sink's output names files, not addresses
    received = read_eml(files[0])
    assert received["Delivered-To"] == "joerg@example.com"
    assert received["Subject"] == "Grüße"
    plain = received.get_body(preferencelist=("plain",))
    assert plain is not None
    assert plain.get_content().strip() == "Hallo Jörg"
    assert not list((tmp_path / "mail").glob("*.part"))


async def test_the_handler_in_this_process_on_any_free_port(tmp_path: Path) -> None:
    handler = mailsink.MailDirectory(tmp_path)
    server = await mailsink.start(handler, "127.0.0.1", 0)
    async with server:
        await aiosmtplib.send(a_mail("kai@example.com"), hostname="127.0.0.1", port=mailsink.bound_port(server))
    [path] = handler.paths  # written before the sink answered 250
    assert read_eml(path)["To"] == "kai@example.com"
