"""Structured JSON log lines (kit_contracts.jsonlog), carrying the task and caller they concern.

The fields come from context variables set where the engine learns them, so a log call
deep in a tool needs no extra arguments. Only identifiers and outcomes are logged: never
tool arguments, results, tokens or headers other than the caller context.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from kit_contracts import jsonlog

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


def current_context() -> dict[str, Any]:
    return {name: var.get() for name, var in _context.items()}


def configure_logging(level: str, stream: TextIO | None = None, static: dict[str, str] | None = None) -> None:
    """Route every logger (the SDK's and uvicorn's included) through one JSON handler."""
    jsonlog.configure_logging(level, stream=stream, static=static, context=current_context)
