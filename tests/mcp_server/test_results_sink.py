"""Terminal results reach AgentCore Memory (moto) once, in the Strands session-message shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import boto3
import pytest
from mcp_server.results_sink import AgentCoreMemorySink, SqliteSink, result_event
from mcp_server.store.base import TaskRecord
from moto import mock_aws
from tests_support import (
    CONTEXT,
    InProcessServer,
    client,
    csv_dataset,
    task_call,
    tasks_extension,
    test_settings,
)

pytestmark = pytest.mark.anyio


def record(status: str = "completed", **kw: Any) -> TaskRecord:
    base: dict[str, Any] = {
        "task_id": "3f1c2a9e-0000-4000-8000-000000000001",
        "owner": "alice",
        "session_id": "session-1",
        "memory_id": "taskMemory-AbCdE12345",
        "tool": "summarize_csv",
        "arguments": {},
        "status": status,
        "created_at": 1_800_000_000.0,
        "updated_at": 1_800_000_060.0,
        "ttl_seconds": 600,
        "expires_at": 1_800_000_660,
        "result": {"content": [], "structuredContent": {"rows": 3}},
    }
    base.update(kw)
    return TaskRecord(**base)


@pytest.fixture
def memory() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("bedrock-agentcore", region_name="us-east-1")


def test_event_carries_a_deterministic_client_token_and_metadata(memory: Any) -> None:
    sent: list[dict[str, Any]] = []
    memory.meta.events.register(
        "provide-client-params.bedrock-agentcore.CreateEvent", lambda params, **_: sent.append(params)
    )
    sink = AgentCoreMemorySink(client=memory)
    event = result_event(record(), "taskMemory-AbCdE12345")
    sink.write(event)
    sink.write(result_event(record(), "taskMemory-AbCdE12345"))  # a retry after an unknown outcome
    assert [p["clientToken"] for p in sent] == [f"{record().task_id}-terminal"] * 2
    events = memory.list_events(
        memoryId="taskMemory-AbCdE12345", actorId="alice", sessionId="session-1", includePayloads=True
    )["events"]
    # moto does not deduplicate on clientToken (the service does); the payload is what Strands reads.
    payload = events[0]["payload"][0]["conversational"]
    assert payload["role"] == "USER"
    message = json.loads(payload["content"]["text"])
    assert set(message) >= {"message", "message_id", "created_at", "updated_at"}
    assert message["message"]["role"] == "user"
    assert '{"rows": 3}' in message["message"]["content"][0]["text"]
    assert events[0]["metadata"]["task_id"] == {"stringValue": record().task_id}
    assert events[0]["metadata"]["task_status"] == {"stringValue": "completed"}


def test_failed_and_cancelled_tasks_say_why() -> None:
    failed = result_event(record("failed", result=None, error={"code": -32001, "message": "worker lost: ..."}), "m")
    assert "failed: worker lost" in json.loads(failed.text)["message"]["content"][0]["text"]
    cancelled = result_event(record("cancelled", result=None, status_message="cancelled by the caller"), "m")
    assert "was cancelled: cancelled by the caller" in json.loads(cancelled.text)["message"]["content"][0]["text"]


def test_sqlite_sink_keeps_one_event_per_client_token(tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "results.sqlite3")
    sink.write(result_event(record(), "m"))
    sink.write(result_event(record(), "m"))
    assert [e["clientToken"] for e in sink.events("alice", "session-1")] == [f"{record().task_id}-terminal"]


async def test_engine_writes_the_terminal_event_to_agentcore_memory(tmp_path: Path, memory: Any) -> None:
    csv_dataset(tmp_path / "d.csv", 500)
    settings = test_settings(tmp_path, RESULT_SINK="agentcore", AWS_REGION="us-east-1")
    with InProcessServer(settings, None) as srv:
        async with client(srv.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
            handle = await session.session.call_tool(
                "summarize_csv", {"path": "d.csv", "value_column": "amount"}, allow_claimed=True
            )
            with anyio.fail_after(30):
                while (await task_call(session, "tasks/get", handle.task_id))["status"] == "working":
                    await anyio.sleep(0.05)
            with anyio.fail_after(30):
                while not (
                    events := memory.list_events(
                        memoryId="taskMemory-AbCdE12345",
                        actorId="alice",
                        sessionId="session-1",
                        includePayloads=True,
                    )["events"]
                ):
                    await anyio.sleep(0.05)
    assert len(events) == 1
    assert events[0]["metadata"]["task_id"] == {"stringValue": handle.task_id}
    text = json.loads(events[0]["payload"][0]["conversational"]["content"]["text"])["message"]["content"][0]["text"]
    assert text.startswith(f"[background task {handle.task_id}] The summarize_csv task started earlier completed")


async def test_an_event_left_unwritten_by_a_dead_process_is_written_once(tmp_path: Path) -> None:
    import time

    from mcp_server.store import NewTask
    from mcp_server.store.sqlite import SqliteTaskStore

    store = SqliteTaskStore(tmp_path / "tasks.sqlite3")
    now = time.time()
    new = NewTask(
        "0b7c6b2e-0000-4000-8000-00000000dead",
        "alice",
        "session-1",
        "taskMemory-AbCdE12345",
        "model_training",
        {"model_name": "x"},
        600,
        "dead-worker",
    )
    store.create(new, now, 30)
    # The finishing process recorded the outcome, then died before writing the event.
    store.finish(new.task_id, "dead-worker", "completed", now, result={"content": []}, publish_after=now)
    store.close()
    with InProcessServer(test_settings(tmp_path), None):
        sink = SqliteSink(tmp_path / "results.sqlite3")
        with anyio.fail_after(30):
            while not sink.events("alice", "session-1"):
                await anyio.sleep(0.05)
    assert [e["clientToken"] for e in sink.events("alice", "session-1")] == [f"{new.task_id}-terminal"]
    reopened = SqliteTaskStore(tmp_path / "tasks.sqlite3")
    record = reopened.get(new.task_id, "alice", now)
    assert record is not None and record.publish_due_at is None
    reopened.close()
