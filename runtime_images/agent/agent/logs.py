"""JSON log lines carrying the runtime session id and the actor of the invocation they belong to.

The runtime ships stdout to CloudWatch Logs; one JSON object per line can be queried by
field. The session comes from the invocation (or, before the agent has checked it, from
the AgentCore SDK's request context); the actor once the identity is resolved. Prompts,
answers, tool arguments and tokens are never logged by this package.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("log_actor", default=None)
_session: contextvars.ContextVar[str | None] = contextvars.ContextVar("log_session", default=None)

# Loggers that install their own text (or differently shaped JSON) handlers.
_OWN_HANDLERS = ("bedrock_agentcore.app", "uvicorn", "uvicorn.error", "uvicorn.access")


def set_log_context(*, actor: str | None = None, session: str | None = None) -> None:
    """For the rest of this invocation (its asyncio task; threads started with to_thread inherit it)."""
    if actor is not None:
        _actor.set(actor)
    if session is not None:
        _session.set(session)


def _sdk_context() -> tuple[str | None, str | None]:
    try:
        from bedrock_agentcore.runtime.context import BedrockAgentCoreContext

        return BedrockAgentCoreContext.get_session_id(), BedrockAgentCoreContext.get_request_id()
    except Exception:  # outside a request, or an SDK without the context
        return None, None


class JsonFormatter(logging.Formatter):
    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        sdk_session, request_id = _sdk_context()
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        session = _session.get() or sdk_session
        if session:
            line["session"] = session
        if _actor.get():
            line["actor"] = _actor.get()
        if request_id:
            line["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """One JSON handler on the root logger; the SDK's and uvicorn's loggers propagate to it."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _OWN_HANDLERS:
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
