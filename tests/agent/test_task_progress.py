"""Live progress of a durable tool call reaches the caller's event stream while the model waits for it:
a scripted model drives the real agent (runner.run) against the real MCP server on loopback, where
Strands' MCPClient polls the SEP-2663 task with tasks/get."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent.runner import parse_invocation, run
from agent.settings import load_settings
from conftest import McpServer, mcp_server_env
from scripted_model import ScriptedModel, Text, ToolUse, last_tool_result

EPOCHS = 12


@pytest.fixture(scope="module")
def progress_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpServer]:
    """Progress is written to the store at every lease round: tasks/get sees each epoch."""
    data = tmp_path_factory.mktemp("mcp-progress")
    server = McpServer(data, mcp_server_env(data, TASK_PROGRESS_WRITE_SECONDS="0")).start()
    yield server
    server.stop()


def chat_events(server: McpServer, model: ScriptedModel, prompt: str, state_dir: Path) -> list[dict[str, Any]]:
    settings = load_settings(
        {
            "MODEL_ID": "scripted",
            "MCP_RUNTIME_URL": server.url,
            "MCP_AUTH": "none",
            "ACTOR_ID_FROM_REQUEST": "true",
            "LOCAL_STATE_DIR": str(state_dir),
            "RESULTS_IN_CONTEXT": "0",
        }
    )
    invocation = parse_invocation({"prompt": prompt, "actor_id": "pat"})

    async def drain() -> list[dict[str, Any]]:
        stream = run(
            invocation, settings=settings, session_id=str(uuid.uuid4()), headers={}, model_factory=lambda _: model
        )
        return [event async for event in stream]

    return asyncio.run(drain())


def test_a_durable_tools_progress_reaches_the_caller_before_its_result(
    progress_server: McpServer, tmp_path: Path
) -> None:
    model = ScriptedModel(
        [
            lambda seen: ToolUse("model_training", {"model_name": "m", "epochs": EPOCHS, "seconds_per_epoch": 0.25}),
            lambda seen: Text(f"final loss {last_tool_result(seen)['final_loss']}"),
        ]
    )
    events = chat_events(progress_server, model, "Train m and wait for it", tmp_path)
    kinds = [e["type"] for e in events]
    assert "error" not in kinds, events
    start, end = kinds.index("tool_start"), kinds.index("tool_end")
    relayed = [e for e in events[start:end] if e["type"] == "task"]
    assert relayed, f"no task progress before the tool's result: {events}"
    assert {e["tool"] for e in relayed} == {"model_training"} and len({e["task_id"] for e in relayed}) == 1
    working = [e for e in relayed if e["status"] == "working" and "progress" in e]
    values = [e["progress"] for e in working]
    # Strands polls every pollIntervalMs (100 ms here); each epoch takes 250 ms: most epochs are seen.
    assert len(set(values)) >= 3 and values == sorted(values), relayed
    assert all(e["total"] == EPOCHS for e in working)
    assert all(e["status_message"].startswith(f"epoch {int(e['progress'])}/{EPOCHS}, loss") for e in working)
    assert relayed[-1]["status"] == "completed" and relayed[-1]["progress"] == EPOCHS
    assert events[end]["status"] == "success" and kinds[-1] == "done"
    assert any(e["type"] == "text" and e["text"].startswith("final loss") for e in events)
