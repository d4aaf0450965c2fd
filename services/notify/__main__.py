"""`python -m services.notify [serve|migrate]`."""

from __future__ import annotations

from pathlib import Path

from kit.cli import main
from services.notify.config import Settings
from services.notify.delivery import email_jobs
from services.notify.server import create_server
from services.notify.webhook_delivery import webhook_jobs

if __name__ == "__main__":
    settings = Settings()
    main(Settings, create_server, Path(__file__).parent, jobs=[email_jobs(settings), webhook_jobs(settings)])
