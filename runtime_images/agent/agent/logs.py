"""JSON log lines (kit_contracts.jsonlog) carrying the runtime session id and the actor of the
invocation they belong to.

The session comes from the invocation (or, before the agent has checked it, from the
AgentCore SDK's request context); the actor once the identity is resolved. Prompts,
answers, tool arguments and tokens are never logged by this package.
"""

from __future__ import annotations

import contextvars
from typing import Any, TextIO

from kit_contracts import jsonlog

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


def log_context() -> dict[str, Any]:
    sdk_session, request_id = _sdk_context()
    return {
        "session": _session.get() or sdk_session or None,
        "actor": _actor.get() or None,
        "request_id": request_id or None,
    }


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """One JSON handler on the root logger; the SDK's and uvicorn's loggers propagate to it."""
    jsonlog.configure_logging(level, stream=stream, context=log_context, own_handlers=_OWN_HANDLERS)
