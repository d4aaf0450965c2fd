"""`python -m services.task [serve|migrate|worker]`."""

from __future__ import annotations

from pathlib import Path

from kit.cli import main
from services.task.config import Settings
from services.task.photos import photo_jobs
from services.task.server import create_server

if __name__ == "__main__":
    main(Settings, create_server, Path(__file__).parent, jobs=[photo_jobs(Settings())])
