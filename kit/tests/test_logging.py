import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from kit import context
from kit.logging import JsonFormatter, redact


def _format(record_msg: str, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("hearth.test", logging.INFO, __file__, 1, record_msg, None, None)
    record.__dict__.update(extra)
    return json.loads(JsonFormatter("task").format(record))


def test_line_carries_service_correlation_and_trace_ids() -> None:
    token = context.correlation_id.set("corr-123")
    tracer = TracerProvider().get_tracer("t")
    try:
        with tracer.start_as_current_span("op") as span:
            line = _format("hello")
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        context.correlation_id.reset(token)
    assert line["service"] == "task"
    assert line["correlation_id"] == "corr-123"
    assert line["trace_id"] == trace_id
    assert line["message"] == "hello"


def test_secrets_and_emails_are_redacted() -> None:
    line = _format("login for ann@example.com with Bearer abc.def-ghi", password="hunter2", user_id="u1")
    assert "ann@example.com" not in json.dumps(line)
    assert "abc.def-ghi" not in line["message"]
    assert line["password"] == "[redacted]"
    assert line["user_id"] == "u1"


def test_jwt_inside_text_is_redacted() -> None:
    assert "eyJ" not in redact("token eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl leaked")


def test_api_keys_and_refresh_tokens_inside_text_are_redacted() -> None:
    text = redact(
        "key hk_Xq3vN8aTq0m5c2yZr7LwPb9sKdE1fGhJuV4nXoQeR6t and hr_abcdefghijklmnopqrstuvwxyz012345 but hr_short"
    )
    assert text == "key hk_[redacted] and hr_[redacted] but hr_short"
