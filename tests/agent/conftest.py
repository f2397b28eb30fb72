"""Shared fixtures: import paths, a live MCP server process, and a shared moto server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT_DIR = REPO_ROOT / "runtime_images" / "agent"
MCP_DIR = REPO_ROOT / "runtime_images" / "mcp_server"
MCP_PYTHON = REPO_ROOT / ".venv" / "mcp" / "bin" / "python"
CLIENT_DIR = REPO_ROOT / "client"
for _path in (AGENT_DIR, CLIENT_DIR, Path(__file__).parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

MEMORY_ID = "kitMemory-AbCdE12345"
REGION = "us-east-1"
# Never a real account: every AWS call in these tests goes to moto.
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Any, what: str, deadline_s: float = 60, interval_s: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` after the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval_s)


@dataclass
class McpServer:
    """The real MCP server from its own environment, on a loopback port the test chose."""

    data: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def ping(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=5) as response:
                return dict(json.loads(response.read()))
        except OSError:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError((self.data / "server.log").read_text()) from None
            return None

    def start(self) -> McpServer:
        if not MCP_PYTHON.exists():
            pytest.fail(f"{MCP_PYTHON} is missing: run `make test-agent`, which builds it")
        log = (self.data / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(MCP_PYTHON), "-m", "mcp_server", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=MCP_DIR,
            env={**os.environ, **FAKE_AWS, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(self.ping, "the MCP server to answer /ping")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None

    def restart(self) -> None:
        """A new process on the same port and store: in-memory MCP sessions are gone, tasks are not."""
        self.stop()
        self.start()


def write_sales_csv(path: Path, rows: int = 3000) -> None:
    with path.open("w") as out:
        out.write("region,amount\n")
        for i in range(rows):
            out.write(f"{('north', 'south')[i % 2]},{i % 10}\n")


def mcp_server_env(data: Path, **extra: str) -> dict[str, str]:
    return {
        "TASK_SQLITE_PATH": str(data / "tasks.sqlite3"),
        "RESULT_SINK": "sqlite",
        "RESULT_SINK_SQLITE_PATH": str(data / "results.sqlite3"),
        "DATASET_ROOT": str(data),
        "TASK_POLL_INTERVAL_MS": "100",
        "AWS_REGION": REGION,
        # The environment's memory: results are written there whatever the caller sends.
        "MEMORY_ID": MEMORY_ID,
        **extra,
    }


@pytest.fixture(scope="module")
def mcp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpServer]:
    """An MCP server with the local SQLite task store and results sink, and a sales.csv dataset."""
    data = tmp_path_factory.mktemp("mcp")
    write_sales_csv(data / "sales.csv")
    server = McpServer(data, mcp_server_env(data)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on loopback, shared by this process and the MCP server process."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_to_moto(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point this process's boto3 clients for AgentCore at the moto server."""
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", moto_endpoint)
    return moto_endpoint
