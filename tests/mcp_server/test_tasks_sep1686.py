"""The 2025-11-25 Tasks utility (SEP-1686), point by point, with the mcp SDK client speaking 2025-11-25.

The SDK client has no helper for task-augmented calls, so those go as raw JSON-RPC over its
own session (same transport, Mcp-Session-Id and context headers).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from tests_support import (
    CONTEXT,
    ServerProcess,
    client,
    csv_dataset,
    raw_request,
    start_server,
    task_status_listener,
)

pytestmark = pytest.mark.anyio
BOB = {**CONTEXT, "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id": "bob"}
CAROL = {**CONTEXT, "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id": "carol"}
ROWS = 20_000
CSV_ARGS = {"path": "sales.csv", "value_column": "amount", "group_by": "region", "chunk_rows": 100}
PAGE = 2


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("sep1686")
    csv_dataset(data / "sales.csv", ROWS)
    return data


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[ServerProcess]:
    proc = start_server(data_dir, env={"TASK_LIST_PAGE_SIZE": str(PAGE)})
    yield proc
    proc.stop()


def task_call(name: str, arguments: dict[str, Any], ttl: Any = 60_000, token: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments, "task": {"ttl": ttl}}
    if token is not None:
        params["_meta"] = {"progressToken": token}
    return params


async def until_terminal(session: Any, task_id: str) -> dict[str, Any]:
    with anyio.fail_after(60):
        while (state := await raw_request(session, "tasks/get", {"taskId": task_id}))["status"] == "working":
            await anyio.sleep(0.05)
    return state


async def test_capabilities_and_task_support_come_from_the_declarations(server: ServerProcess) -> None:
    async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
        caps = session.session.server_capabilities
        assert caps is not None and caps.tasks is not None
        assert caps.tasks.list is not None and caps.tasks.cancel is not None
        assert caps.tasks.requests is not None and caps.tasks.requests.tools.call is not None
        tools = {t.name: t for t in (await session.list_tools()).tools}
    assert tools["summarize_csv"].execution.task_support == "optional"  # type: ignore[union-attr]
    assert tools["model_training"].execution.task_support == "optional"  # type: ignore[union-attr]
    assert tools["check_task_status"].execution is None  # absent means forbidden


async def test_task_call_returns_a_task_then_status_progress_and_the_exact_result(server: ServerProcess) -> None:
    statuses: list[dict[str, Any]] = []
    progress: list[Any] = []

    async def on_message(message: Any) -> None:
        if getattr(message, "method", None) == "notifications/progress":
            progress.append(message.params)

    async with client(
        server.mcp_url, CONTEXT, mode="legacy", extensions=[task_status_listener(statuses)], message_handler=on_message
    ) as session:
        direct = await session.call_tool("summarize_csv", CSV_ARGS)  # the same tool in the request, for comparison
        created = await raw_request(session, "tools/call", task_call("summarize_csv", CSV_ARGS, 90_000, "tok-1"))
        task = created["task"]
        assert task["status"] == "working" and task["ttl"] == 90_000 and task["pollInterval"] == 100
        assert {"taskId", "createdAt", "lastUpdatedAt"} <= set(task)
        assert created["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task["taskId"]}
        # tasks/result blocks until the task is terminal and returns the tool's own result.
        result = await raw_request(session, "tasks/result", {"taskId": task["taskId"]})
        with anyio.fail_after(30):
            while not statuses:
                await anyio.sleep(0.02)
    assert result["structuredContent"] == direct.structured_content
    assert result["content"] == [c.model_dump(by_alias=True, exclude_none=True) for c in direct.content]
    assert result["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task["taskId"]}
    # The status change was pushed, and the creating request's progress token kept working after its answer.
    assert statuses[-1]["taskId"] == task["taskId"] and statuses[-1]["status"] == "completed"
    task_progress = [p for p in progress if p.progress_token == "tok-1"]
    assert task_progress and task_progress[-1].progress == task_progress[-1].total


async def test_a_task_outlives_its_session_and_its_process(data_dir: Path) -> None:
    first = start_server(data_dir)
    try:
        async with client(first.mcp_url, CONTEXT, mode="legacy") as session:
            created = await raw_request(session, "tools/call", task_call("summarize_csv", CSV_ARGS))
            task_id = created["task"]["taskId"]
            done = await until_terminal(session, task_id)
            assert done["status"] == "completed"
            expected = await raw_request(session, "tasks/result", {"taskId": task_id})
    finally:
        first.stop()
    second = start_server(data_dir)  # a new process: no session or memory survives, the store does
    try:
        async with client(second.mcp_url, CONTEXT, mode="legacy") as session:
            state = await raw_request(session, "tasks/get", {"taskId": task_id})
            again = await raw_request(session, "tasks/result", {"taskId": task_id})
        async with client(second.mcp_url, BOB, mode="legacy") as other:
            with pytest.raises(MCPError, match="not found") as foreign:
                await raw_request(other, "tasks/result", {"taskId": task_id})
    finally:
        second.stop()
    assert state["status"] == "completed" and state["taskId"] == task_id
    assert again == expected
    assert foreign.value.error.code == -32602


async def test_tasks_list_pages_through_only_the_callers_tasks(server: ServerProcess) -> None:
    args = {"model_name": "m", "epochs": 1, "seconds_per_epoch": 0.01}
    async with client(server.mcp_url, BOB, mode="legacy") as bob:
        await raw_request(bob, "tools/call", task_call("model_training", args))
    async with client(server.mcp_url, CAROL, mode="legacy") as carol:
        mine = {
            (await raw_request(carol, "tools/call", task_call("model_training", args)))["task"]["taskId"]
            for _ in range(5)
        }
        pages: list[list[str]] = []
        cursor: str | None = None
        while True:
            page = await raw_request(carol, "tasks/list", {"cursor": cursor} if cursor else {})
            pages.append([t["taskId"] for t in page["tasks"]])
            cursor = page.get("nextCursor")
            if cursor is None:
                break
        with pytest.raises(MCPError, match="cursor='bm9wZQ==': expected a nextCursor from tasks/list") as bad:
            await raw_request(carol, "tasks/list", {"cursor": "bm9wZQ=="})
    assert [len(p) for p in pages] == [2, 2, 1]
    assert {t for p in pages for t in p} == mine
    assert bad.value.error.code == -32602


async def test_cancel_and_unknown_ids(server: ServerProcess) -> None:
    async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
        created = await raw_request(
            session,
            "tools/call",
            task_call("model_training", {"model_name": "m", "epochs": 100, "seconds_per_epoch": 0.5}),
        )
        task_id = created["task"]["taskId"]
        cancelled = await raw_request(session, "tasks/cancel", {"taskId": task_id})
        assert cancelled["status"] == "cancelled" and cancelled["taskId"] == task_id
        with pytest.raises(MCPError, match="already cancelled; a terminal task cannot be cancelled") as terminal:
            await raw_request(session, "tasks/cancel", {"taskId": task_id})
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            with pytest.raises(MCPError, match="task 'no-such-task' not found") as unknown:
                await raw_request(session, method, {"taskId": "no-such-task"})
            assert unknown.value.error.code == -32602
        result = await raw_request(session, "tasks/result", {"taskId": task_id})
    assert terminal.value.error.code == -32602
    assert result["isError"] is True and "cancelled" in result["content"][0]["text"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"name": "check_task_status", "arguments": {"task_id": "x"}, "task": {}},
            "tool 'check_task_status' cannot run as a task",
        ),
    ],
)
async def test_forbidden_with_task_is_method_not_found(
    server: ServerProcess, params: dict[str, Any], message: str
) -> None:
    async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
        with pytest.raises(MCPError, match=message) as refused:
            await raw_request(session, "tools/call", params)
    assert refused.value.error.code == -32601


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"ttl": 0}, "params.task.ttl=0: expected a positive number of milliseconds"),
        ({"ttl": -5}, "params.task.ttl=-5: expected a positive number of milliseconds"),
        ({"ttl": "soon"}, "params.task.ttl='soon': expected a positive number of milliseconds"),
        ({"ttl": True}, "params.task.ttl=True: expected a positive number of milliseconds"),
        ("yes", "params.task: expected an object"),
    ],
)
async def test_invalid_ttl_is_invalid_params(server: ServerProcess, task: Any, message: str) -> None:
    async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
        params = {"name": "model_training", "arguments": {"model_name": "m"}, "task": task}
        with pytest.raises(MCPError, match=message) as refused:
            await raw_request(session, "tools/call", params)
        assert refused.value.error.code == -32602
        # The server keeps serving the same session.
        assert (await session.list_tools()).tools
