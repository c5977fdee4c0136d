"""Structured logging with the request id and the trace context on every line."""

from __future__ import annotations

import logging
import sys
import uuid
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

REQUEST_ID_HEADER = "x-request-id"

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    return _request_id.get()


def set_request_id(value: str | None) -> None:
    """Bind a request id to the current task (and tasks it starts)."""
    _request_id.set(value)


def new_request_id() -> str:
    """A fresh request id."""
    return uuid.uuid4().hex


def log_context() -> dict[str, str]:
    """`request_id`, `trace_id` and `span_id` (hex, as OTLP shows them) of what runs now;
    each only when there is one."""
    context: dict[str, str] = {}
    request_id = current_request_id()
    if request_id:
        context["request_id"] = request_id
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        context["trace_id"] = trace.format_trace_id(span.trace_id)
        context["span_id"] = trace.format_span_id(span.span_id)
    return context


class JsonFormatter(BaseJsonFormatter):
    """One JSON object per line: time, level, service, logger, message, the request and trace
    ids, the record's `extra={"fields": {...}}` merged in, and the exception if any."""

    def __init__(self, service: str) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={
                "levelname": "level",
                "name": "logger",
                "message": "msg",
                "exc_info": "exc",
            },
            static_fields={"service": service},
            timestamp="ts",
            # `fields` is merged below; uvicorn's `color_message` repeats the message in ANSI.
            reserved_attrs=[*RESERVED_ATTRS, "fields", "color_message"],
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["level"] = record.levelname.lower()
        log_data.update(log_context())
        log_data.update(getattr(record, "fields", {}))


class TextFormatter(logging.Formatter):
    """Plain lines for a terminal: level, request id and trace context in brackets, message."""

    def format(self, record: logging.LogRecord) -> str:
        context = log_context()
        tags = []
        if "request_id" in context:
            tags.append(f"[{context['request_id'][:8]}]")
        if "trace_id" in context:
            tags.append(f"[trace_id={context['trace_id']} span_id={context['span_id']}]")
        line = " ".join([f"{record.levelname.lower():7}", *tags, record.getMessage()])
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(service: str, level: str, json_lines: bool = True) -> None:
    """Send this process's logs to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log duplicates what the request middleware records.
    logging.getLogger("uvicorn.access").disabled = True
