"""Input a task-run tool gathers in the call, before its task exists (Resolve(...) parameters).

SEP-2663: "Server implementations that use multi round-trip requests in conjunction with task
creation ... SHOULD resolve all MRTR exchanges synchronously before responding with a
CreateTaskResult." The mcp SDK's own resolver machinery runs here, as it would for a call in the
request: a 2026-07-28 round still missing answers is returned as its `InputRequiredResult` (the
SDK's request-state boundary seals and checks `requestState`); a 2025-11-25 session is asked over
its back channel. Once every value is in, the task is created with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import resolve_arguments
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolRequestParams, InputRequiredResult


@dataclass(frozen=True)
class Gathered:
    """Every value is in (`values`), or the answer to send this round instead (`reply`)."""

    values: dict[str, Any]
    reply: dict[str, Any] | None = None


async def gather(
    ctx: ServerRequestContext[Any, Any], server: MCPServer[Any] | None, tool: Tool, params: dict[str, Any]
) -> Gathered:
    """Resolve `tool`'s Resolve(...) parameters for this tools/call.

    Raises pydantic.ValidationError for arguments that do not fit, ToolError when an answer was
    declined (for a parameter that needs one) or does not fit.
    """
    if not tool.resolved_params:
        return Gathered({})
    call = CallToolRequestParams.model_validate(params)
    validated = tool.fn_metadata.validate_arguments(call.arguments or {})
    context: Context[Any, Any] = Context(request_context=ctx, mcp_server=server, input_params=call)
    outcome = await resolve_arguments(tool.resolved_params, tool.resolver_plans, validated, context)
    if isinstance(outcome, InputRequiredResult):
        return Gathered({}, outcome.model_dump(by_alias=True, mode="json", exclude_none=True))
    return Gathered(outcome)
