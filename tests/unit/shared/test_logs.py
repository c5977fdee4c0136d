"""Log lines carry the request id and, inside a span, the trace context."""

from __future__ import annotations

import contextvars
import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from shared.logs import JsonFormatter, TextFormatter, set_request_id


@pytest.fixture
def emit() -> Iterator[Callable[..., str]]:
    """Log one record through a real handler with a given formatter; the line it wrote.

    Each call runs in a copy of the current context, so a request id set there stays there.
    The logger's own level is set: an app built earlier in the run may have left the root
    logger at ERROR, which a NOTSET logger would inherit.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.logs")
    saved = logger.level, logger.disabled
    logger.setLevel(logging.DEBUG)
    logger.disabled = False
    logger.addHandler(handler)
    logger.propagate = False

    def emit(formatter: logging.Formatter, request_id: str | None = None, **kwargs: Any) -> str:
        handler.setFormatter(formatter)
        stream.seek(0)
        stream.truncate()

        def log() -> None:
            set_request_id(request_id)
            logger.warning("answered %s", "q1", **kwargs)

        contextvars.copy_context().run(log)
        return stream.getvalue().rstrip("\n")

    yield emit
    logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(saved[0])
    logger.disabled = saved[1]


def test_json_line_fields(emit: Callable[..., str]) -> None:
    entry = json.loads(
        emit(JsonFormatter("chat"), "req-1", extra={"fields": {"status": 200, "ms": 1.5}})
    )
    assert entry["service"] == "chat" and entry["logger"] == "tests.logs"
    assert entry["level"] == "warning" and entry["msg"] == "answered q1"
    assert entry["request_id"] == "req-1"
    assert entry["status"] == 200 and entry["ms"] == 1.5
    assert entry["ts"].endswith("+00:00")
    assert not {"trace_id", "span_id", "exc", "fields"} & entry.keys()
    assert "request_id" not in json.loads(emit(JsonFormatter("chat")))


def test_json_line_with_exception(emit: Callable[..., str]) -> None:
    try:
        raise ValueError("broken")
    except ValueError as exc:
        entry = json.loads(emit(JsonFormatter("chat"), exc_info=exc))
    assert entry["exc"].startswith("Traceback") and "ValueError: broken" in entry["exc"]


def test_trace_context_inside_a_span_only(emit: Callable[..., str]) -> None:
    tracer = TracerProvider().get_tracer(__name__)
    with tracer.start_as_current_span("answer") as span:
        context = span.get_span_context()
        trace_id = f"{context.trace_id:032x}"
        span_id = f"{context.span_id:016x}"
        entry = json.loads(emit(JsonFormatter("chat"), "req-1"))
        text = emit(TextFormatter(), "req-1")
    assert entry["trace_id"] == trace_id and entry["span_id"] == span_id
    assert entry["request_id"] == "req-1"
    assert text == f"warning [req-1] [trace_id={trace_id} span_id={span_id}] answered q1"
    assert trace.get_current_span().get_span_context().is_valid is False
    outside = json.loads(emit(JsonFormatter("chat"), "req-1"))
    assert "trace_id" not in outside and "span_id" not in outside
    assert emit(TextFormatter(), "req-1") == "warning [req-1] answered q1"
