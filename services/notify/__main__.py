"""`python -m services.notify [serve|migrate]`."""

from __future__ import annotations

from pathlib import Path

from kit.cli import main
from services.notify.config import Settings
from services.notify.jobs import notify_jobs
from services.notify.server import create_server

if __name__ == "__main__":
    main(Settings, create_server, Path(__file__).parent, jobs=notify_jobs(Settings()))
