"""Structured JSON logs carrying the correlation id of the story being handled."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from opentelemetry import trace

from linli_shared.context import _current


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _current.get()
        if context is not None:
            entry["correlation_id"] = context.correlation_id
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class WithoutQueryStrings(logging.Filter):
    """uvicorn's access log without query strings: they hold names and ID tails (a search)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn logs: '%s - "%s %s HTTP/%s" %d' % (client, method, path with query, ...).
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            record.args = tuple(
                arg.split("?", 1)[0] if index == 2 and isinstance(arg, str) else arg
                for index, arg in enumerate(record.args)
            )
        return True


def configure_logging(level: str = "INFO") -> None:
    """Every `linli` process (the APIs, workers and `linli run`) logs through this handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(WithoutQueryStrings())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own logging config (had it been applied in this process) gives its loggers
    # handlers of their own that would bypass the filter above: route them through the root.
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        uvicorn_logger.setLevel(logging.NOTSET)
        uvicorn_logger.disabled = False
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
