"""`python -m services.task [serve|migrate|worker]`."""

from __future__ import annotations

from pathlib import Path

from kit.cli import main
from services.task.config import Settings
from services.task.jobs import task_jobs
from services.task.photos import photo_jobs
from services.task.server import create_server

if __name__ == "__main__":
    settings = Settings()
    main(Settings, create_server, Path(__file__).parent, jobs=[task_jobs(settings), photo_jobs(settings)])
