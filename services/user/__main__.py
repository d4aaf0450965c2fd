"""`python -m services.user [serve|migrate|worker]`."""

from __future__ import annotations

from pathlib import Path

from kit.cli import main
from services.user.config import Settings
from services.user.exports import export_jobs
from services.user.password_reset import password_reset_jobs
from services.user.server import create_server

if __name__ == "__main__":
    settings = Settings()
    main(Settings, create_server, Path(__file__).parent, jobs=[password_reset_jobs(settings), export_jobs(settings)])
