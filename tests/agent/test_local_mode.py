"""`make local` end to end, with no AWS: the MCP server and the agent as scripts/local.sh runs them.

Both processes get local.sh's environment (SQLite task store and results sink at one shared path,
CALLER_IDENTITY=local, MCP_AUTH=none, ACTOR_ID_FROM_REQUEST=true, no MEMORY_ID, no AWS credentials),
and the agent's model is the loopback OpenAI-compatible fake. The agent is invoked over HTTP as
`kit ask` does: POST /invocations with the conversation's session id header and the actor in the body.
A task one conversation starts must reach the next conversation of the same user as quoted data,
through the local SQLite sink, and never a conversation of another user.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import AGENT_DIR, MCP_DIR, MCP_PYTHON, free_port, wait_for, write_sales_csv
from model_servers import FakeModelServer, tool_output, user_text
from scripted_model import Text, ToolUse
from test_client import without_aws_credentials

from kit_contracts.context import RUNTIME_SESSION_ID_HEADER
from kit_contracts.memory_events import message_text

MODEL_ID = "local-test-model"
ALICE, BOB = "alice", "bob"
TRAINING = {"model_name": "churn-v1", "epochs": 3, "seconds_per_epoch": 0.05}


@dataclass
class LocalStack:
    """What `make local` starts: the MCP server and the agent, and the state directory they share."""

    state: Path
    mcp_url: str
    agent_url: str
    model: FakeModelServer

    @property
    def results_path(self) -> Path:
        return self.state / "results.sqlite3"


def _start(argv: list[str], cwd: Path, env: dict[str, str], log: Path, ping: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)

    def answers() -> bool:
        assert process.poll() is None, f"{argv[-1]} exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(ping, timeout=1):
                return True
        except OSError:
            return False

    wait_for(answers, f"{ping} to answer", deadline_s=30)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _started_task_id(body: dict[str, Any]) -> str:
    """The task id start_model_training returned, from the tool result the model is shown."""
    output = tool_output("openai", body)
    task_id = json.loads(output).get("task_id")
    assert isinstance(task_id, str), output
    return task_id


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # The model: conversation 1 starts the durable tool, then answers with its id; the later
    # conversations (alice's second, bob's) answer plainly. The assertions read what each request held.
    model = FakeModelServer(
        "openai",
        [
            lambda body: ToolUse("start_model_training", TRAINING),
            lambda body: Text(f"Started training as task {_started_task_id(body)}."),
            lambda body: Text("Your training finished."),
            lambda body: Text("No tasks of yours have finished."),
        ],
    ).start()
    state = tmp_path_factory.mktemp("local")
    (state / "data").mkdir()
    write_sales_csv(state / "data" / "sales.csv", rows=10)
    mcp_port, agent_port = free_port(), free_port()
    results = str(state / "results.sqlite3")
    base = {**without_aws_credentials(), "AWS_REGION": "us-east-1"}  # local.sh exports AWS_REGION to both
    # scripts/local.sh, the MCP server's line: no MEMORY_ID.
    mcp_env = {
        **base,
        "MCP_HOST": "127.0.0.1",
        "MCP_PORT": str(mcp_port),
        "TASK_STORE": "sqlite",
        "RESULT_SINK": "sqlite",
        "CALLER_IDENTITY": "local",
        "TASK_SQLITE_PATH": str(state / "tasks.sqlite3"),
        "RESULT_SINK_SQLITE_PATH": results,
        "DATASET_ROOT": str(state / "data"),
    }
    mcp = _start(
        [str(MCP_PYTHON), "-m", "mcp_server"], MCP_DIR, mcp_env, state / "mcp.log", f"http://127.0.0.1:{mcp_port}/ping"
    )
    # scripts/local.sh, the agent's line, with MODEL_PROVIDER=openai and MODEL_BASE_URL exported.
    agent_env = {
        **base,
        "HOST": "127.0.0.1",
        "PORT": str(agent_port),
        "MODEL_PROVIDER": "openai",
        "MODEL_ID": MODEL_ID,
        "MODEL_BASE_URL": f"{model.url}/v1",
        "MCP_AUTH": "none",
        "MCP_RUNTIME_URL": f"http://127.0.0.1:{mcp_port}/mcp",
        "ACTOR_ID_FROM_REQUEST": "true",
        "LOCAL_STATE_DIR": str(state / "agent"),
        "RESULT_SINK_SQLITE_PATH": results,
    }
    try:
        agent = _start(
            [sys.executable, "-m", "agent"],
            AGENT_DIR,
            agent_env,
            state / "agent.log",
            f"http://127.0.0.1:{agent_port}/ping",
        )
    except BaseException:
        _stop(mcp)
        raise
    try:
        yield LocalStack(state, f"http://127.0.0.1:{mcp_port}/mcp", f"http://127.0.0.1:{agent_port}", model)
    finally:
        _stop(agent)
        _stop(mcp)
        model.stop()


def invoke(stack: LocalStack, session_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """One POST /invocations as `kit ask` sends it locally; the server-sent events it streamed."""
    request = urllib.request.Request(
        f"{stack.agent_url}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", RUNTIME_SESSION_ID_HEADER: session_id},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        lines = response.read().decode().splitlines()
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ")]


def ask(stack: LocalStack, actor: str, session_id: str, prompt: str) -> list[dict[str, Any]]:
    events = invoke(stack, session_id, {"prompt": prompt, "actor_id": actor})
    assert events and events[-1]["type"] == "done", events
    return events


def task_status(stack: LocalStack, actor: str, task_id: str) -> dict[str, Any]:
    """The agent's task_status action (what `kit watch` polls): no model call."""
    events = invoke(stack, str(uuid.uuid4()), {"action": "task_status", "task_ids": [task_id], "actor_id": actor})
    [task] = [e for e in events if e["type"] == "task"]
    return task


def sink_rows(path: Path, actor: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            rows = db.execute(
                "SELECT memory_id, actor_id, session_id, text, metadata FROM events WHERE actor_id = ?", (actor,)
            ).fetchall()
        except sqlite3.OperationalError:
            return []  # the sink has not created its table yet
    keys = ("memory_id", "actor_id", "session_id", "text", "metadata")
    return [dict(zip(keys, row, strict=True)) | {"metadata": json.loads(row[4])} for row in rows]


def results_block(body: dict[str, Any]) -> str:
    """The <task_results> data block in the user's turn of one model request ('' if none)."""
    text = user_text("openai", body)
    start, end = text.find("<task_results>"), text.find("</task_results>")
    return text[start : end + len("</task_results>")] if start >= 0 and end > start else ""


def test_a_finished_task_reaches_the_same_users_next_conversation_through_the_local_sink(
    local_stack: LocalStack,
) -> None:
    # Conversation 1 of alice: the model starts the durable tool and answers with the task's id.
    first = ask(local_stack, ALICE, str(uuid.uuid4()), "Train the churn model; it takes a while, don't wait.")
    task_id = _started_task_id(local_stack.model.requests[1].body)
    assert task_id in "".join(e.get("text", "") for e in first if e["type"] == "text"), first
    assert "<task_results>" not in user_text("openai", local_stack.model.requests[0].body)  # nothing finished yet

    # The task finishes on its own, after the conversation ended; its result event lands in the local sink.
    def finished() -> dict[str, Any] | None:
        status = task_status(local_stack, ALICE, task_id)
        return status if status["status"] in ("completed", "failed", "cancelled") else None

    done = wait_for(finished, f"task {task_id} to finish", deadline_s=20, interval_s=0.1)
    assert done["status"] == "completed", done
    [row] = wait_for(
        lambda: sink_rows(local_stack.results_path, ALICE), "alice's result in the SQLite sink", deadline_s=10
    )
    assert (row["memory_id"], row["actor_id"], row["session_id"]) == ("local", ALICE, "task-results")
    assert row["metadata"] == {"task_id": task_id, "task_status": "completed", "tool": "model_training"}
    # The stored text is the conversational message Strands' memory session manager restores.
    text = message_text(row["text"])
    assert text is not None and text.startswith(f"[background task {task_id}] The model_training task started earlier")
    assert '"model_name": "churn-v1"' in text and '"epochs": 3' in text and "final_loss" in text
    assert sink_rows(local_stack.results_path, BOB) == []

    # Conversation 2 of alice (a new session): the model is given that result as quoted data.
    ask(local_stack, ALICE, str(uuid.uuid4()), "How did my training go?")
    second = local_stack.model.requests[2].body
    block = results_block(second)
    assert block, user_text("openai", second)
    entries = [json.loads(line) for line in block.splitlines() if line.startswith("{")]
    [entry] = [e for e in entries if e["task_id"] == task_id]
    assert (entry["tool"], entry["status"]) == ("model_training", "completed")
    assert "churn-v1" in entry["output"] and "final_loss" in entry["output"]
    assert "How did my training go?" in user_text("openai", second)

    # A conversation of bob: none of alice's results.
    ask(local_stack, BOB, str(uuid.uuid4()), "Did any of my tasks finish?")
    bobs = local_stack.model.requests[3].body
    assert results_block(bobs) == "" and task_id not in json.dumps(bobs)
    assert len(local_stack.model.requests) == 4
