"""Server middleware that puts the caller's actor and session on every log line of a request.

It also logs each MCP session's start (2025-era `initialize`): the SDK's own line has
the Mcp-Session-Id but not whose session it is. Values come from the caller-context
headers and are logged only once they pass the same checks the tools apply.
"""

from __future__ import annotations

import logging
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from mcp_server.caller import CallerContextError
from mcp_server.logs import log_context
from mcp_server.protocol.wire import Callers

logger = logging.getLogger(__name__)
# Methods that need no caller: a refusal there is not worth a warning.
QUIET_METHODS = frozenset({"initialize", "notifications/initialized", "ping", "tools/list", "server/discover"})


class RequestLogMiddleware:
    def __init__(self, callers: Callers) -> None:
        self.callers = callers

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        # Resolved once per request; the doors read it (wire.current_caller). This also holds a new
        # 2025-era session to the actor of its first request (initialize).
        caller = self.callers.resolve(ctx)
        actor = session = None
        if isinstance(caller, CallerContextError):
            if ctx.method not in QUIET_METHODS:  # the doors refuse the request, naming the header
                logger.warning("caller refused: %s", caller, extra={"authenticated_actor": caller.authenticated})
        else:
            actor, session = caller.actor_id, caller.session_id
        with log_context(actor=actor, session=session):
            result = await call_next(ctx)
            if ctx.method == "initialize":
                client = (ctx.params or {}).get("clientInfo") or {}
                logger.info(
                    "mcp client initialized",
                    extra={
                        "protocol_version": ctx.protocol_version,
                        "client_name": str(client.get("name", ""))[:64] if isinstance(client, dict) else "",
                    },
                )
        return result
