"""The agent image logs JSON lines with the runtime session id and the actor, and no payloads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import AGENT_DIR, FAKE_AWS, REGION, McpServer, free_port, wait_for

SESSION = "log-session-" + "0" * 28
SECRET_TASK_ID = "task-id-s3cr3t-4d2e"


@pytest.fixture(scope="module")
def agent_log(mcp_server: McpServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`python -m agent` on loopback; one invocation that calls an MCP tool; then the process's output."""
    out = tmp_path_factory.mktemp("agent-logs") / "agent.log"
    port = free_port()
    env = {
        **os.environ,
        **FAKE_AWS,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "AWS_REGION": REGION,
        "MODEL_ID": "",
        "MCP_RUNTIME_URL": mcp_server.url,
        "MCP_AUTH": "none",
        "ACTOR_ID_FROM_REQUEST": "true",
    }
    with out.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "agent"], cwd=AGENT_DIR, env=env, stdout=sink, stderr=sink)

    def listening() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return True
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(out.read_text()) from None
            return False

    try:
        wait_for(listening, "the agent to answer /ping")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"action": "task_status", "task_ids": [SECRET_TASK_ID], "actor_id": "alice"}).encode(),
            headers={"Content-Type": "application/json", "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": SESSION},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=20)
    yield {"body": body, "log": out.read_text()}


def lines(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.strip()]


def test_the_invocation_reached_the_mcp_server(agent_log: dict[str, Any]) -> None:
    assert '"type": "task"' in agent_log["body"] and '"done"' in agent_log["body"], agent_log["body"]


def test_agent_lines_are_json_with_session_and_actor(agent_log: dict[str, Any]) -> None:
    parsed = lines(agent_log["log"])  # raises on a line that is not JSON
    ours = [line for line in parsed if line["logger"].startswith("agent.")]
    assert {"invocation started", "invocation finished"} <= {line["message"] for line in ours}
    for line in ours:
        assert (line["session"], line["actor"]) == (SESSION, "alice"), line
    sdk = [line for line in parsed if line["logger"] == "bedrock_agentcore.app" and "request_id" in line]
    assert sdk and all(line["session"] == SESSION for line in sdk)


def test_tool_arguments_are_not_logged(agent_log: dict[str, Any]) -> None:
    assert SECRET_TASK_ID in agent_log["body"]  # the caller sees it; the log must not
    assert SECRET_TASK_ID not in agent_log["log"]
