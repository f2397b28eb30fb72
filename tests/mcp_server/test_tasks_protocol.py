"""Durable tasks served to each kind of client, against the real server process on loopback."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from pydantic import TypeAdapter
from tests_support import (
    CONTEXT,
    ServerProcess,
    client,
    csv_dataset,
    start_server,
    task_call,
    tasks_extension,
)

pytestmark = pytest.mark.anyio
ACTOR_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id"
SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Session-Id"
BOB = {**CONTEXT, ACTOR_HEADER: "bob"}
ROWS = 30_000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tasks")


@pytest.fixture(scope="module")
def expected(data_dir: Path) -> dict[str, dict[str, float]]:
    return csv_dataset(data_dir / "sales.csv", ROWS)


@pytest.fixture(scope="module")
def server(data_dir: Path, expected: dict[str, Any]) -> Iterator[ServerProcess]:
    proc = start_server(data_dir)
    yield proc
    proc.stop()


async def wait_terminal(session: Any, task_id: str) -> dict[str, Any]:
    with anyio.fail_after(60):
        while True:
            state = await task_call(session, "tasks/get", task_id)
            if state["status"] in ("completed", "failed", "cancelled"):
                return state
            await anyio.sleep(0.05)


def result_sessions(data_dir: Path, task_id: str) -> list[str]:
    with sqlite3.connect(data_dir / "results.sqlite3") as db:
        rows = db.execute("SELECT session_id FROM events WHERE client_token LIKE ?", (f"{task_id}%",)).fetchall()
    return [row[0] for row in rows]


def sink_events(data_dir: Path, task_id: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(data_dir / "results.sqlite3") as db:
        return db.execute(
            "SELECT client_token, actor_id, text FROM events WHERE client_token LIKE ?", (f"{task_id}%",)
        ).fetchall()


def check_groups(structured: dict[str, Any], expected: dict[str, dict[str, float]]) -> None:
    assert structured["rows"] == ROWS + 1 and structured["skipped_rows"] == 1
    for region, want in expected.items():
        got = structured["groups"][region]
        assert got["count"] == want["count"]
        assert got["total"] == pytest.approx(want["total"])


async def test_modern_client_submits_polls_and_gets_the_result_inline(
    server: ServerProcess, expected: dict[str, Any], data_dir: Path
) -> None:
    args = {"path": "sales.csv", "value_column": "amount", "group_by": "region", "chunk_rows": 1000}
    async with client(server.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
        handle = await session.session.call_tool("summarize_csv", args, allow_claimed=True)
        assert handle.result_type == "task" and handle.status == "working"
        state = await wait_terminal(session, handle.task_id)
        assert state["status"] == "completed", state
        check_groups(state["result"]["structuredContent"], expected)
        # The extension's claim resolves transparently through Client.call_tool as well.
        resolved = await session.call_tool("summarize_csv", args)
        check_groups(resolved.structured_content, expected)
    events = sink_events(data_dir, handle.task_id)
    assert [(token, actor) for token, actor, _ in events] == [(f"{handle.task_id}-terminal", "alice")]
    message = json.loads(events[0][2])
    assert message["message"]["role"] == "user" and handle.task_id in message["message"]["content"][0]["text"]


async def test_modern_cancel_is_acknowledged_and_answers_to_nothing_open_are_ignored(
    server: ServerProcess, data_dir: Path
) -> None:
    async with client(server.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
        handle = await session.session.call_tool(
            "model_training", {"model_name": "m", "epochs": 50, "seconds_per_epoch": 0.5}, allow_claimed=True
        )
        assert server.ping()["status"] == "HealthyBusy"
        # SEP-2663: responses to keys not outstanding are ignored (acknowledged, nothing changes).
        ignored = await task_call(session, "tasks/update", handle.task_id, inputResponses={"nope": {"x": 1}})
        assert {k: v for k, v in ignored.items() if k != "_meta"} == {"resultType": "complete"}
        ack = await task_call(session, "tasks/cancel", handle.task_id)
        assert ack["resultType"] == "complete" and "status" not in ack
        state = await task_call(session, "tasks/get", handle.task_id)
        assert state["status"] == "cancelled" and "result" not in state
        # Cancelling a terminal task is acknowledged the same way (idempotent); unknown ids are -32602.
        again = await task_call(session, "tasks/cancel", handle.task_id)
        assert {k: v for k, v in again.items() if k != "_meta"} == {"resultType": "complete"}
        assert (await task_call(session, "tasks/get", handle.task_id))["status"] == "cancelled"
        with pytest.raises(MCPError, match="not found") as unknown:
            await task_call(session, "tasks/cancel", "no-such-task")
        assert unknown.value.error.code == -32602
    assert [t for t, _, _ in sink_events(data_dir, handle.task_id)] == [f"{handle.task_id}-terminal"]


async def test_legacy_client_reads_tasks_with_sep_1686_methods(server: ServerProcess, expected: dict[str, Any]) -> None:
    # The mcp 2.x client no longer parses a 2025-era CreateTaskResult, so params.task itself is
    # exercised by the mcp 1.x client under Strands (tests/agent); here the task comes from the
    # plain start_* tool, over the same store, and is read back with the 2025-11-25 task methods.
    async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
        caps = session.session.server_capabilities
        assert caps is not None and caps.tasks is not None and caps.tasks.requests.tools.call is not None
        started = await session.call_tool(
            "start_summarize_csv", {"path": "sales.csv", "value_column": "amount", "group_by": "region"}
        )
        task_id = started.structured_content["task_id"]
        result = await task_call(session, "tasks/result", task_id)  # blocks until terminal
        check_groups(result["structuredContent"], expected)
        assert result["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task_id}
        listed = await session.session.send_request(_list_request(), TypeAdapter(dict[str, Any]))
        assert task_id in [t["taskId"] for t in listed["tasks"]]
        state = await task_call(session, "tasks/get", task_id)
        assert state["status"] == "completed" and "result" not in state and state["pollInterval"] == 100


def _list_request() -> Any:
    from typing import Literal

    from mcp_types import PaginatedRequestParams, Request

    class ListTasks(Request[PaginatedRequestParams, Literal["tasks/list"]]):
        method: Literal["tasks/list"] = "tasks/list"

    return ListTasks(params=PaginatedRequestParams())


async def test_plain_tools_for_clients_without_task_support(server: ServerProcess, expected: dict[str, Any]) -> None:
    args = {"path": "sales.csv", "value_column": "amount", "group_by": "region", "request_key": "report-42"}
    async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
        first = await session.call_tool("start_summarize_csv", args)
        again = await session.call_tool("start_summarize_csv", args)
        task_id = first.structured_content["task_id"]
        assert again.structured_content["task_id"] == task_id
        with anyio.fail_after(60):
            while (await session.call_tool("check_task_status", {"task_id": task_id})).structured_content[
                "status"
            ] == "working":
                await anyio.sleep(0.05)
        status = (await session.call_tool("check_task_status", {"task_id": task_id})).structured_content
        assert status["status"] == "completed" and status["progress"] == status["total"]
        result = await session.call_tool("get_task_result", {"task_id": task_id})
        check_groups(result.structured_content, expected)


async def test_tasks_belong_to_their_actor(server: ServerProcess) -> None:
    async with client(server.mcp_url, CONTEXT, mode="legacy") as alice:
        started = await alice.call_tool(
            "start_model_training", {"model_name": "x", "epochs": 1, "seconds_per_epoch": 0.1}
        )
        task_id = started.structured_content["task_id"]
    async with client(server.mcp_url, BOB, mode="auto", extensions=[tasks_extension()]) as bob:
        with pytest.raises(MCPError, match="not found"):
            await task_call(bob, "tasks/get", task_id)
        with pytest.raises(MCPError, match="not found"):
            await task_call(bob, "tasks/cancel", task_id)
        peek = await bob.call_tool("check_task_status", {"task_id": task_id})
        assert peek.is_error and "not found" in peek.content[0].text


@pytest.mark.parametrize(
    ("headers", "header", "message"),
    [
        ({}, ACTOR_HEADER, f"missing header {ACTOR_HEADER}"),
        ({**CONTEXT, SESSION_HEADER: "bad session!"}, SESSION_HEADER, f"malformed header {SESSION_HEADER}"),
    ],
)
async def test_missing_or_malformed_context_is_a_json_rpc_error_naming_the_header(
    server: ServerProcess, headers: dict[str, str], header: str, message: str
) -> None:
    async with client(server.mcp_url, headers, mode="auto", extensions=[tasks_extension()]) as session:
        for tool in ("model_training", "start_model_training"):
            with pytest.raises(MCPError) as refused:
                await session.call_tool(tool, {"model_name": "x"})
            error = refused.value.error
            assert (error.code, error.data) == (-32600, {"header": header}) and message in error.message, tool
        with pytest.raises(MCPError) as refused:
            await task_call(session, "tasks/get", "any-task")
        assert (refused.value.error.code, refused.value.error.data) == (-32600, {"header": header})


async def test_without_a_session_header_results_go_to_the_default_results_session(
    server: ServerProcess, data_dir: Path
) -> None:
    headers = {k: v for k, v in CONTEXT.items() if k != SESSION_HEADER}
    async with client(server.mcp_url, headers, mode="legacy") as session:
        started = await session.call_tool("start_model_training", {"model_name": "x", "epochs": 1})
        assert not started.is_error, started.content
        task_id = started.structured_content["task_id"]
        await session.call_tool("cancel_task", {"task_id": task_id})
    with anyio.fail_after(20):
        while not (rows := result_sessions(data_dir, task_id)):
            await anyio.sleep(0.05)
    assert rows == ["task-results"]


async def test_invalid_arguments_name_the_field(server: ServerProcess) -> None:
    async with client(server.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
        result = await session.call_tool("model_training", {"model_name": "x", "epochs": 0})
        assert (
            result.is_error
            and "epochs" in result.content[0].text
            and "greater than or equal to 1" in result.content[0].text
        )
        outside = await session.call_tool("summarize_csv", {"path": "../etc/passwd", "value_column": "a"})
        assert (
            outside.is_error
            and "path='../etc/passwd': expected a path inside the dataset directory" in outside.content[0].text
        )


async def test_in_request_call_streams_progress_and_heartbeats(server: ServerProcess) -> None:
    messages: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append((progress, message))

    async with client(server.mcp_url, {}, mode="legacy") as session:
        result = await session.call_tool(
            "model_training",
            {"model_name": "m", "epochs": 2, "seconds_per_epoch": 1.0},
            progress_callback=on_progress,
        )
    assert not result.is_error and result.structured_content["simulated"] is True
    texts = [m for _, m in messages]
    assert "epoch 2/2, loss 0.4900" in texts
    assert any(t and t.startswith("still working") for t in texts), texts


async def test_a_modern_clients_ttl_is_honoured_within_the_servers_bounds(server: ServerProcess) -> None:
    training = {"model_name": "x", "epochs": 1, "seconds_per_epoch": 0.01}
    async with client(server.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
        asked = await session.session.call_tool("model_training", training, meta={"ttlMs": 120_000}, allow_claimed=True)
        assert asked.ttl_ms == 120_000
        too_long = await session.session.call_tool(
            "model_training", training, meta={"ttlMs": 10**12}, allow_claimed=True
        )
        assert too_long.ttl_ms == 7 * 86_400 * 1000  # TASK_MAX_TTL_SECONDS
        default = await session.session.call_tool("model_training", training, allow_claimed=True)
        assert default.ttl_ms == 7 * 86_400 * 1000  # the agent's docs promise results for 7 days
        with pytest.raises(MCPError, match=r"_meta\.ttlMs"):
            await session.session.call_tool("model_training", training, meta={"ttlMs": -5}, allow_claimed=True)
