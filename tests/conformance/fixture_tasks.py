"""The tasks fixtures of @modelcontextprotocol/conformance 0.2.0-alpha.12, written with the kit's `@tool` API.

Each is the tool a `tasks-*` scenario prescribes (its description and `run()`): `greet` runs in the
request only; `slow_compute` may run either way; `failing_job` (task support required) ends with
its tool's error; `protocol_error_job` raises a protocol error; `confirm_delete` asks one question
and `multi_input` two at once; `test_tool_with_task` gathers a name in the call (MRTR) and then
runs as a task.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.shared.exceptions import MCPError
from mcp_server.tooling import TaskContext, ToolSpec, tool
from mcp_types import INTERNAL_ERROR
from pydantic import BaseModel, Field


@tool(mode="request", max_duration_seconds=30)
async def greet(name: str, ctx: TaskContext) -> str:
    """Say hello (in the request only)."""
    return f"Hello, {name}!"


@tool(mode="either", max_duration_seconds=600)
async def slow_compute(ctx: TaskContext, seconds: Annotated[float, Field(ge=0, le=300)] = 1.0, label: str = "") -> str:
    """Work for `seconds`, reporting progress each second; cancellable."""
    whole = int(seconds)
    for done in range(whole):
        await ctx.report_progress(done, seconds, f"{label or 'compute'}: {done} of {seconds:g} s")
        await ctx.sleep(1)
    await ctx.sleep(seconds - whole)
    return f"{label or 'compute'}: done after {seconds:g} s"


@tool(mode="task", max_duration_seconds=60)
async def failing_job(ctx: TaskContext) -> str:
    """Fail after about a second with the tool's own error (task support required)."""
    await ctx.sleep(1)
    raise ToolError("failing_job failed, as it always does")


@tool(mode="either", max_duration_seconds=60)
async def protocol_error_job(ctx: TaskContext) -> str:
    """End in a protocol-level error (a JSON-RPC error, not a tool result)."""
    await ctx.checkpoint()
    raise MCPError(code=INTERNAL_ERROR, message="protocol_error_job hit an internal error")


class Confirm(BaseModel):
    confirm: bool = Field(description="Go ahead?")


@tool(mode="either", max_duration_seconds=300)
async def confirm_delete(filename: str, ctx: TaskContext) -> str:
    """Ask once whether to delete `filename`, then say what was done."""
    answer = await ctx.elicit(f"Delete {filename}?", Confirm)
    if answer.action == "accept" and answer.data.confirm:
        return f"Deleted {filename}"
    return f"Kept {filename}"


class Name(BaseModel):
    name: str = Field(description="Your name")


@tool(mode="either", max_duration_seconds=300)
async def multi_input(ctx: TaskContext) -> str:
    """Ask two questions at once (two input requests pending together)."""
    answers = await ctx.elicit_many({"name": ("What is your name?", Name), "confirm": ("Proceed?", Confirm)})
    name, confirm = answers["name"], answers["confirm"]
    who = name.data.name if name.action == "accept" else "someone"
    go = confirm.action == "accept" and confirm.data.confirm
    return f"{who} {'confirmed' if go else 'did not confirm'}"


def ask_user_name() -> Elicit[Name]:
    return Elicit("What is your name?", Name)


@tool(mode="task", max_duration_seconds=60)
async def test_tool_with_task(ctx: TaskContext, who: Annotated[Name, Resolve(ask_user_name)]) -> str:
    """Gather the caller's name in the call (input_required), then greet them from a task."""
    await ctx.report_progress(1, 1, f"greeting {who.name}")
    return f"Hello, {who.name}! (from a task)"


TASK_SPECS: list[ToolSpec] = [
    greet,
    slow_compute,
    failing_job,
    protocol_error_job,
    confirm_delete,
    multi_input,
    test_tool_with_task,
]
