"""Structured JSON log lines, one object per line, carrying the task and caller they concern.

The runtime ships stdout/stderr to CloudWatch Logs, where JSON lines can be queried
by field (`task_id`, `actor`, `session`). The fields come from context variables set
where the engine learns them, so a log call deep in a tool needs no extra arguments.
Only identifiers and outcomes are logged: never tool arguments, results, tokens or
headers other than the caller context.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

# Context fields added to every line logged while they are set.
CONTEXT_FIELDS = ("task_id", "actor", "session", "tool")
_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"log_{name}", default=None) for name in CONTEXT_FIELDS
}


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Attach `fields` (a subset of CONTEXT_FIELDS) to every line logged inside the block."""
    tokens = [(_context[name], _context[name].set(value)) for name, value in fields.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def set_log_context(**fields: str | None) -> None:
    """Like log_context, for the rest of the current task (an asyncio task copies its context)."""
    for name, value in fields.items():
        _context[name].set(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, context fields and `extra` values."""

    # Attributes every LogRecord has; anything else came in through `extra=`.
    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def __init__(self, static: dict[str, str] | None = None) -> None:
        super().__init__()
        self._static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self._static,
        }
        for name, var in _context.items():
            value = var.get()
            if value is not None:
                line[name] = value
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str, stream: TextIO | None = None, static: dict[str, str] | None = None) -> None:
    """Route every logger (the SDK's and uvicorn's included) through one JSON handler."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter(static))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers would print plain text next to the JSON lines.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
