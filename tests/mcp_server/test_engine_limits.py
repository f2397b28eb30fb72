"""Maximum durations, cancellation and modes, with test-only tools on a loopback server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from mcp_server.tooling import TaskContext, tool
from pydantic import BaseModel
from tests_support import CONTEXT, InProcessServer, client, task_call, tasks_extension, test_settings

pytestmark = pytest.mark.anyio
RELEASE = anyio.Event  # the stuck tool waits on an event nobody sets: it models a hung dependency


@tool(mode="either", max_duration_seconds=0.5)
async def hangs(label: str, ctx: TaskContext) -> str:
    """Waits on a dependency that never answers."""
    await anyio.Event().wait()
    return label


@tool(mode="task", max_duration_seconds=60)
async def counts_until_cancelled(limit: int, ctx: TaskContext) -> int:
    """Counts, checking for cancellation at every step (cooperative cancellation)."""
    n = 0
    while n < limit:
        n += 1
        if n % 1000 == 0:
            await ctx.report_progress(n, limit, f"{n} counted")
            await ctx.checkpoint()
    return n


class Go(BaseModel):
    go: bool


@tool(mode="task", max_duration_seconds=1)
async def asks_nobody(ctx: TaskContext) -> bool:
    """Asks a question nobody answers."""
    answer = await ctx.elicit("Go on?", Go)
    return answer.action == "accept"


@tool(mode="request", max_duration_seconds=5)
async def echo(text: str, ctx: TaskContext) -> str:
    """Answers in the request only."""
    await ctx.report_progress(1, 1, "echoed")
    return text


@pytest.fixture
def server(tmp_path: Path) -> Iterator[InProcessServer]:
    with InProcessServer(test_settings(tmp_path), [hangs, counts_until_cancelled, asks_nobody, echo]) as srv:
        yield srv


async def test_in_request_work_past_its_maximum_duration_returns_a_clear_error(
    server: InProcessServer,
) -> None:
    async with client(server.mcp_url, {}, mode="legacy") as session:
        result = await session.call_tool("hangs", {"label": "x"})
    assert result.is_error
    assert "hangs exceeded its maximum duration of 0.5 s and was cancelled" in result.content[0].text


async def test_task_past_its_maximum_duration_fails_with_the_reason(server: InProcessServer) -> None:
    async with client(server.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
        handle = await session.session.call_tool("hangs", {"label": "x"}, allow_claimed=True)
        with anyio.fail_after(30):
            while (state := await task_call(session, "tasks/get", handle.task_id))["status"] == "working":
                await anyio.sleep(0.05)
    assert state["status"] == "failed"
    assert state["error"]["message"] == "hangs exceeded its maximum duration of 0.5 s and was cancelled"
    assert server.assembled.engine.running_count == 0


async def test_a_task_past_its_maximum_duration_while_waiting_for_an_answer_says_so(server: InProcessServer) -> None:
    async with client(server.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
        handle = await session.session.call_tool("asks_nobody", {}, allow_claimed=True)
        with anyio.fail_after(30):
            while (state := await task_call(session, "tasks/get", handle.task_id))["status"] in (
                "working",
                "input_required",
            ):
                await anyio.sleep(0.05)
    assert state["status"] == "failed"
    assert state["error"]["message"] == (
        "asks_nobody exceeded its maximum duration of 1 s and was cancelled while waiting for an answer to its question"
    )


async def test_running_work_observes_cancellation(server: InProcessServer) -> None:
    async with client(server.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
        handle = await session.session.call_tool("counts_until_cancelled", {"limit": 10**12}, allow_claimed=True)
        with anyio.fail_after(30):
            while (await task_call(session, "tasks/get", handle.task_id)).get("statusMessage") is None:
                await anyio.sleep(0.05)
        await task_call(session, "tasks/cancel", handle.task_id)
        with anyio.fail_after(30):
            while server.assembled.engine.running_count:
                await anyio.sleep(0.05)
        state = await task_call(session, "tasks/get", handle.task_id)
    assert state["status"] == "cancelled" and state["statusMessage"] == "cancelled by the caller"


async def test_modes_are_enforced(server: InProcessServer) -> None:
    async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert tools["counts_until_cancelled"].execution.task_support == "required"  # type: ignore[union-attr]
        assert tools["echo"].execution is None and "start_echo" not in tools
        # SEP-1686: a `required` tool called without params.task is -32601 on the 2025 era.
        with pytest.raises(MCPError, match="taskSupport 'required'") as refused:
            await session.call_tool("counts_until_cancelled", {"limit": 5})
        assert refused.value.error.code == -32601
    async with client(server.mcp_url, CONTEXT, mode="auto") as session:
        # A 2026-era client without the tasks extension: -32021 naming the extension it must declare.
        with pytest.raises(MCPError, match=r"io\.modelcontextprotocol/tasks") as missing:
            await session.call_tool("counts_until_cancelled", {"limit": 5})
        assert missing.value.error.code == -32021
    async with client(server.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
        echoed: Any = await session.session.call_tool("echo", {"text": "hi"}, allow_claimed=True)
        assert echoed.content[0].text == "hi"  # a request-only tool never becomes a task


async def test_a_tool_error_in_the_request_keeps_its_message(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with InProcessServer(test_settings(tmp_path), None) as srv:
        async with client(srv.mcp_url, {}, mode="legacy") as session:
            result = await session.call_tool("summarize_csv", {"path": "t.csv", "value_column": "missing"})
    assert result.is_error and "column 'missing' not found: expected one of ['a', 'b']" in result.content[0].text
