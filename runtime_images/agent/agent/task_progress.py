"""Live progress of a durable tool call, relayed to the caller's event stream while the model waits.

Strands' MCPClient completes a SEP-2663 task by polling `tasks/get` on its own background event
loop. ReconnectingMCPClient hands each polled state to the sink of the call being made (a context
variable: Strands runs the call's coroutine in a copy of the caller's context), and TaskProgressTool,
the agent's MCP tool, yields each new state as a Strands tool stream event. The agent's stream then
carries them (`tool_stream_event`) before the tool's result; events.from_strands turns them into
`{"type": "task", ...}` events. Progress is the server's `statusMessage` and, from the kit's server,
the numbers under `_meta["io.agentkit/progress"]`. Best effort: a slow reader sees the newest states.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from strands.tools.mcp import MCPAgentTool
from strands.types._events import ToolResultEvent, ToolStreamEvent
from strands.types.tools import ToolGenerator, ToolUse

from agent.events import TASK_UPDATE

logger = logging.getLogger(__name__)
# The MCP server's `_meta` key for a task's progress numbers ({"progress": p, "total": t}).
PROGRESS_META = "io.agentkit/progress"
# States kept for a reader that falls behind (the oldest are dropped).
MAX_WAITING = 64

Sink = Callable[[dict[str, Any]], None]
# Told each polled state of the task the current tool call is waiting for; None outside such a call.
task_updates: ContextVar[Sink | None] = ContextVar("task_updates", default=None)


def task_update(state: Any) -> dict[str, Any]:
    """A polled SEP-2663 task state (Strands' MCPGetTaskResult) as the fields of a caller's task event."""
    update: dict[str, Any] = {"task_id": state.task_id, "status": state.status}
    if state.status_message:
        update["status_message"] = state.status_message
    meta = getattr(state, "meta", None) or {}
    numbers = meta.get(PROGRESS_META) if isinstance(meta, dict) else None
    if isinstance(numbers, dict):
        for key in ("progress", "total"):
            value = numbers.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                update[key] = value
    return update


def report(state: Any) -> None:
    """Give a polled task state to the current call's sink, if it has one; never fails the poll."""
    sink = task_updates.get()
    if sink is not None:
        try:
            sink(task_update(state))
        except Exception:  # relaying is best effort: the call itself goes on
            logger.debug("a task state was not relayed", exc_info=True)


class TaskProgressTool(MCPAgentTool):
    """An MCP tool whose stream yields its task's new states before its result."""

    @classmethod
    def of(cls, tool: MCPAgentTool) -> TaskProgressTool:
        renamed = tool.tool_name if tool.tool_name != tool.mcp_tool.name else None
        return cls(tool.mcp_tool, tool.mcp_client, name_override=renamed, timeout=tool.timeout)

    async def stream(self, tool_use: ToolUse, invocation_state: dict[str, Any], **kwargs: Any) -> ToolGenerator:
        loop = asyncio.get_running_loop()
        waiting: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_WAITING)
        arrived = asyncio.Event()

        def arrive(update: dict[str, Any]) -> None:  # on this loop
            waiting.append(update)
            arrived.set()

        def sink(update: dict[str, Any]) -> None:  # on the MCP client's background loop
            if not loop.is_closed():
                loop.call_soon_threadsafe(arrive, update)

        token = task_updates.set(sink)
        try:  # the call's task copies this context: its polls reach `sink`
            call = asyncio.ensure_future(
                self.mcp_client.call_tool_async(
                    tool_use_id=tool_use["toolUseId"],
                    name=self.mcp_tool.name,
                    arguments=tool_use["input"],
                    read_timeout_seconds=self.timeout,
                    cancel_signal=getattr(invocation_state.get("agent"), "_cancel_signal", None),
                )
            )
        finally:
            task_updates.reset(token)
        last: dict[str, Any] | None = None
        try:
            while True:
                while waiting:  # states polled before the result arrive before it
                    update = {**waiting.popleft(), "tool": self.tool_name}
                    if update != last:  # a poll that saw nothing new says nothing
                        last = update
                        yield ToolStreamEvent(tool_use, {TASK_UPDATE: update})
                if call.done():
                    break
                arrived.clear()
                waiter = asyncio.ensure_future(arrived.wait())
                try:
                    await asyncio.wait({call, waiter}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
            yield ToolResultEvent(call.result())
        finally:
            call.cancel()  # no-op once done; otherwise the agent stopped waiting for the tool
