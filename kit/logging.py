"""Structured JSON logs: one line per event with `service`, `correlation_id`, `trace_id`, `span_id`.

Secrets never reach the log: values of keys that look like secrets are replaced, and e-mail
addresses and bearer tokens inside messages are masked.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from kit import context

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[\w\-.~+/]+=*")
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
# Hearth's opaque secrets by their prefixes: API keys (hk_) and refresh tokens (hr_).
_OPAQUE = re.compile(r"\b(hk|hr)_[\w-]{16,}")
_SECRET_KEYS = re.compile(r"(?i)password|secret|token|authorization|api_key|code|email")
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    text = _BEARER.sub(r"\1[redacted]", text)
    text = _JWT.sub("[redacted-jwt]", text)
    text = _OPAQUE.sub(r"\1_[redacted]", text)
    return _EMAIL.sub("[redacted-email]", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        span_context = trace.get_current_span().get_span_context()
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": context.service_name.get() or self.service,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "correlation_id": context.correlation_id.get() or None,
            "trace_id": format(span_context.trace_id, "032x") if span_context.is_valid else None,
            "span_id": format(span_context.span_id, "016x") if span_context.is_valid else None,
        }
        for key, value in record.__dict__.items():
            if key in _RESERVED or key.startswith("_"):
                continue
            entry[key] = "[redacted]" if _SECRET_KEYS.search(key) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def setup_logging(service: str, level: str = "INFO") -> None:
    """Route every logger (ours, grpc's, uvicorn's, alembic's) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
