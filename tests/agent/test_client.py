"""The command-line client (client/kit_client, run from the agent's test environment, whose
packages it needs are a subset) against a real local agent and MCP server on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent.mcp_connection import build_mcp_client, context_headers
from conftest import AGENT_DIR, CLIENT_DIR, McpServer, free_port, wait_for

ACTOR = "tester"
NO_AWS = {
    # No credentials anywhere, and no instance-metadata lookups off this machine.
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


def without_aws_credentials() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KIT_"))}
    return {**env, **NO_AWS}


@pytest.fixture(scope="module")
def agent_url(mcp_server: McpServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {
        **without_aws_credentials(),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "AWS_REGION": "us-east-1",
        "MODEL_ID": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "MCP_RUNTIME_URL": mcp_server.url,
        "MCP_AUTH": "none",
        "ACTOR_ID_FROM_REQUEST": "true",
        "LOCAL_STATE_DIR": str(tmp_path_factory.mktemp("agent-state")),
        "RESULT_SINK_SQLITE_PATH": str(mcp_server.data / "results.sqlite3"),
    }
    log = (mcp_server.data / "agent.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "agent"], cwd=AGENT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"

    def listening() -> bool:
        import urllib.request

        assert process.poll() is None, (mcp_server.data / "agent.log").read_text()
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2):
                return True
        except OSError:
            return False

    wait_for(listening, "the agent to answer /ping")
    yield url
    process.terminate()
    process.wait(timeout=20)
    log.close()


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"actor_id": ACTOR}))
    return path


def kit_client(state_file: Path, *args: str, agent_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**without_aws_credentials(), "KIT_CLIENT_STATE": str(state_file)}
    if agent_url:
        env["KIT_LOCAL_URL"] = agent_url
    return subprocess.run(
        [sys.executable, "-m", "kit_client", *args],
        cwd=CLIENT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ask_without_aws_credentials_says_what_the_model_needs(agent_url: str, state_file: Path) -> None:
    first = kit_client(state_file, "ask", "hello", agent_url=agent_url)
    assert first.returncode == 1, first
    assert "error: no AWS credentials: the agent needs credentials allowed to call bedrock:InvokeModel" in first.stderr
    assert "Traceback" not in first.stderr + first.stdout
    session = json.loads(state_file.read_text())["conversations"]["local/default"]["session_id"]
    # The conversation keeps its session id across calls, so the user can come back to it.
    kit_client(state_file, "ask", "hello again", agent_url=agent_url)
    assert json.loads(state_file.read_text())["conversations"]["local/default"]["session_id"] == session
    kit_client(state_file, "new")
    assert json.loads(state_file.read_text())["conversations"]["local/default"]["session_id"] != session


def test_watch_shows_task_progress_until_it_finishes(agent_url: str, mcp_server: McpServer, state_file: Path) -> None:
    client = build_mcp_client(
        mcp_server.url,
        auth_mode="none",
        region=None,
        context=context_headers(ACTOR, "task-results", "none"),
        caller_headers={},
        poll_timeout_seconds=60,
        task_ttl_seconds=3600,
    )
    with client:
        client.list_tools_sync()
        started = asyncio.run(
            client.call_tool_async("use-w", "start_summarize_csv", {"path": "sales.csv", "value_column": "amount"})
        )
    task_id = started["structuredContent"]["task_id"]
    state = {
        "actor_id": ACTOR,
        "conversations": {"local/default": {"session_id": "c" * 36, "tasks": {task_id: {"status": "working"}}}},
    }
    state_file.write_text(json.dumps(state))
    watched = kit_client(state_file, "watch", "--interval", "0.2", "--timeout", "60", agent_url=agent_url)
    assert watched.returncode == 0, watched
    last = watched.stdout.strip().splitlines()[-1]
    assert last.startswith(task_id) and "summarize_csv" in last and "completed" in last
    saved = json.loads(state_file.read_text())["conversations"]["local/default"]["tasks"][task_id]
    assert saved["status"] == "completed"
    again = kit_client(state_file, "watch", agent_url=agent_url)
    assert "no unfinished tasks" in again.stderr


def test_unknown_environment_is_named_with_the_known_ones(state_file: Path) -> None:
    result = kit_client(state_file, "--env", "qa", "ask", "hi")
    assert result.returncode == 2
    assert "unknown environment 'qa': known environments are local" in result.stderr


def test_a_deployed_environment_without_credentials_is_a_clear_error(state_file: Path) -> None:
    arn = "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/kit_dev_agent-AbCdE12345"
    assert kit_client(state_file, "env", "add", "dev", "--agent-arn", arn).returncode == 0
    result = kit_client(state_file, "--env", "dev", "ask", "hi")
    assert result.returncode == 2
    assert "no AWS credentials found to invoke the agent of environment 'dev'" in result.stderr
    bad = kit_client(state_file, "env", "add", "qa", "--agent-arn", "not-an-arn")
    assert "--agent-arn='not-an-arn': expected an agent runtime ARN" in bad.stderr


def test_no_local_agent_listening_is_a_clear_error(state_file: Path) -> None:
    result = kit_client(state_file, "ask", "hi", agent_url=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2 and "no agent is listening at" in result.stderr and "make local" in result.stderr


def test_an_ended_runtime_session_is_explained() -> None:
    from botocore.exceptions import ClientError
    from kit_client.transport import describe_aws_error

    error = ClientError(
        {"Error": {"Code": "ResourceNotFoundException", "Message": "Session abc not found or expired"}},
        "InvokeAgentRuntime",
    )
    message = describe_aws_error(error, "abc")
    assert "session abc has ended on the service" in message and "`kit new`" in message
