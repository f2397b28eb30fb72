"""JSON log lines, one object per line, as both runtime images write them.

The runtime ships stdout to CloudWatch Logs, where JSON lines can be queried by field.
Each line has time, level, logger and message, the image's static fields, the fields its
`context` callable returns (the task, actor or session the line concerns), and any
`extra=` values. What an image must never log (arguments, prompts, tokens) is its own rule.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

Context = Callable[[], dict[str, Any]]


class JsonFormatter(logging.Formatter):
    # Attributes every LogRecord has; anything else came in through `extra=`.
    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def __init__(self, static: dict[str, str] | None = None, context: Context | None = None) -> None:
        super().__init__()
        self._static = dict(static or {})
        self._context = context

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self._static,
        }
        if self._context is not None:
            line.update({k: v for k, v in self._context().items() if v is not None})
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(
    level: str,
    *,
    stream: TextIO | None = None,
    static: dict[str, str] | None = None,
    context: Context | None = None,
    own_handlers: Iterable[str] = ("uvicorn", "uvicorn.error", "uvicorn.access"),
    formatter: logging.Formatter | None = None,
) -> None:
    """Route every logger through one handler on the root (JSON unless another formatter is given).

    `own_handlers` names loggers that install their own text handlers: those are removed and
    the loggers propagate to the root instead.
    """
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter or JsonFormatter(static, context))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in own_handlers:
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
