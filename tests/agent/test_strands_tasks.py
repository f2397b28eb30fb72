"""Strands' MCPClient (the agent's environment: mcp 2.1, protocol 2026-07-28) drives the MCP server's
durable tasks over loopback through the tasks extension (SEP-2663): submit, poll, result, cancel;
and the server's result events are read back through Strands' AgentCore Memory session manager (moto).

The server runs from the MCP image's environment (.venv/mcp) as a subprocess (conftest's McpServer).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import MCP_DIR, McpServer

MEMORY_ID = "taskMemory-AbCdE12345"
CONTEXT = {
    "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id": "alice",
    "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Session-Id": "session-1",
}


def strands_client(url: str, poll_timeout: timedelta = timedelta(minutes=1), elicitation_callback: Any = None) -> Any:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client
    from strands.tools.mcp import MCPClient
    from strands.tools.mcp.mcp_tasks import TasksConfig

    @asynccontextmanager
    async def transport() -> AsyncIterator[Any]:
        async with httpx2.AsyncClient(headers=CONTEXT, timeout=60) as http:
            async with streamable_http_client(url, http_client=http) as streams:
                yield streams

    return MCPClient(
        transport,
        elicitation_callback=elicitation_callback,
        tasks_config=TasksConfig(poll_timeout=poll_timeout, poll_interval=timedelta(milliseconds=100)),
    )


def test_strands_submits_polls_and_gets_the_result_as_a_task(mcp_server: McpServer) -> None:
    with strands_client(mcp_server.url) as client:
        tools = {t.tool_name for t in client.list_tools_sync()}
        assert {"summarize_csv", "model_training"} <= tools
        session = client._background_thread_session
        assert session is not None and session.protocol_version == "2026-07-28"
        assert client._has_server_task_support() and client._should_use_task("summarize_csv")
        result = client.call_tool_sync(
            "use-1", "summarize_csv", {"path": "sales.csv", "value_column": "amount", "group_by": "region"}
        )
    assert result["status"] == "success", result
    summary = result["structuredContent"]
    assert summary["rows"] == 3000
    assert summary["groups"]["north"]["total"] == sum(i % 10 for i in range(0, 3000, 2))
    # The task went through the store: it is listed for this actor with its terminal status.
    with sqlite_rows(mcp_server.data / "tasks.sqlite3", "SELECT tool, status FROM tasks WHERE owner = 'alice'") as rows:
        assert ("summarize_csv", "completed") in rows


def test_strands_cancellation_cancels_the_server_task(mcp_server: McpServer) -> None:
    cancel = threading.Event()
    with strands_client(mcp_server.url) as client:
        client.list_tools_sync()  # Strands learns each tool's taskSupport from the listing
        outcome: dict[str, Any] = {}
        worker = threading.Thread(
            target=lambda: outcome.update(
                client.call_tool_sync(
                    "use-2",
                    "model_training",
                    {"model_name": "big", "epochs": 100, "seconds_per_epoch": 0.5},
                    cancel_signal=cancel,
                )
            )
        )
        worker.start()
        deadline = time.monotonic() + 30
        while mcp_server.ping()["status"] != "HealthyBusy":
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.05)
        cancel.set()
        worker.join(timeout=30)
    assert outcome["status"] == "error"
    query = "SELECT status, status_message FROM tasks WHERE tool = 'model_training'"
    deadline = time.monotonic() + 30
    while True:
        with sqlite_rows(mcp_server.data / "tasks.sqlite3", query) as rows:
            if rows == [("cancelled", "cancelled by the caller")]:
                break
        assert time.monotonic() < deadline, rows
        time.sleep(0.05)
    while mcp_server.ping()["status"] != "Healthy":
        assert time.monotonic() < deadline, "work kept running after cancellation"
        time.sleep(0.05)


def test_strands_answers_a_tasks_question_with_its_elicitation_callback(mcp_server: McpServer) -> None:
    from mcp.types import ElicitResult

    with (mcp_server.data / "orders.csv").open("w") as out:
        out.write("order,amount\n")
        out.writelines(f"order-{i % 300},{i % 300 % 7}\n" for i in range(400))  # 100 repeats of earlier rows
    asked: list[str] = []

    async def person(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"write_copy": True})

    with strands_client(mcp_server.url, elicitation_callback=person) as client:
        client.list_tools_sync()
        assert client._should_use_task("deduplicate_csv")
        result = client.call_tool_sync("use-3", "deduplicate_csv", {"path": "orders.csv"})
    assert result["status"] == "success", result
    # The task went input_required; Strands answered its inputRequests with tasks/update.
    assert len(asked) == 1 and "100 duplicate rows out of 400" in asked[0]
    assert result["structuredContent"]["outcome"] == "written"
    assert result["structuredContent"]["rows_written"] == 300
    assert (mcp_server.data / "orders.dedup.csv").read_text().count("\n") == 301


class sqlite_rows:
    def __init__(self, path: Path, query: str) -> None:
        import sqlite3

        self._db = sqlite3.connect(path)
        self._query = query

    def __enter__(self) -> list[tuple[Any, ...]]:
        return self._db.execute(self._query).fetchall()

    def __exit__(self, *exc: object) -> None:
        self._db.close()


def test_result_events_are_restored_by_the_strands_session_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from bedrock_agentcore.memory.integrations.strands.config import AgentCoreMemoryConfig
    from bedrock_agentcore.memory.integrations.strands.session_manager import AgentCoreMemorySessionManager
    from moto import mock_aws

    monkeypatch.syspath_prepend(str(MCP_DIR))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    # The server's own event builder and sink (they import nothing from mcp, so they load here).
    from mcp_server.results_sink import AgentCoreMemorySink, result_event
    from mcp_server.store.base import TaskRecord

    done = TaskRecord(
        task_id="0b7c6b2e-1111-4a2b-9c3d-222222222222",
        owner="alice",
        session_id="session-1",
        memory_id=MEMORY_ID,
        tool="summarize_csv",
        arguments={"path": "sales.csv"},
        status="completed",
        created_at=time.time() - 60,
        updated_at=time.time(),
        ttl_seconds=3600,
        expires_at=int(time.time()) + 3600,
        result={"content": [], "structuredContent": {"rows": 3000}},
    )
    config = AgentCoreMemoryConfig(memory_id=MEMORY_ID, session_id="session-1", actor_id="alice")
    with mock_aws():
        # The agent's session exists first (the user asked for the work in it); moto ignores the
        # session manager's metadata filter, so the order of events matters here, not in the service.
        AgentCoreMemorySessionManager(config, region_name="us-east-1").close()
        sink = AgentCoreMemorySink(client=boto3.client("bedrock-agentcore", region_name="us-east-1"))
        sink.write(result_event(done, MEMORY_ID))
        # Days later: a new session manager for the same actor and session restores the history.
        later = AgentCoreMemorySessionManager(config, region_name="us-east-1")
        messages = later.list_messages("session-1", "default")
        later.close()
    assert len(messages) == 1
    restored = messages[0].to_message()
    assert restored["role"] == "user"
    text = restored["content"][0]["text"]
    assert text.startswith(f"[background task {done.task_id}] The summarize_csv task started earlier completed")
    assert '"rows": 3000' in text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
