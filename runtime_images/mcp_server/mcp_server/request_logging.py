"""Server middleware that puts the caller's actor and session on every log line of a request.

It also logs each MCP session's start (2025-era `initialize`): the SDK's own line has
the Mcp-Session-Id but not whose session it is. Values come from the caller-context
headers and are logged only once they pass the same checks the tools apply.
"""

from __future__ import annotations

import logging
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from mcp_server.caller import CallerContextError, caller_from_headers
from mcp_server.logs import log_context

logger = logging.getLogger(__name__)


class RequestLogMiddleware:
    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        try:
            caller = caller_from_headers(getattr(ctx.request, "headers", None), None)
            actor, session = caller.actor_id, caller.session_id
        except CallerContextError:
            actor = session = None  # the tools report it; a log line just goes without
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
