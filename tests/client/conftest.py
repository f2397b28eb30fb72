"""The real MCP server (from its own environment) on a loopback port, and `kit` run as a user runs it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MCP_DIR = REPO_ROOT / "runtime_images" / "mcp_server"
MCP_PYTHON = REPO_ROOT / ".venv" / "mcp" / "bin" / "python"
KIT = Path(sys.executable).parent / "kit"
# No AWS credentials, region or profile from the machine, and no instance-metadata look-ups.
NO_AWS = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}
DUPLICATES = 40
WIDE_ROWS = 3000  # one group per row: a summary of well over the 200 KB a task item holds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KIT_", "NO_COLOR"))}
    env.pop("MCP_PORT", None)
    env.pop("AGENT_PORT", None)
    return {**env, **NO_AWS, **extra}


@dataclass
class Server:
    url: str
    data: Path
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("mcp")
    with (data / "sales.csv").open("w") as out:
        out.write("region,amount\n")
        for i in range(2000):
            out.write(f"{('north', 'south', 'east')[i % 3]},{i % 97}\n")
        out.write("north,5\n" * DUPLICATES)
    with (data / "wide.csv").open("w") as out:
        out.write("customer,amount\n")
        out.writelines(f"customer-{i:06d},{i}\n" for i in range(WIDE_ROWS))
    port = free_port()
    env = {
        **clean_env(),
        "TASK_STORE": "sqlite",
        "RESULT_SINK": "sqlite",
        "CALLER_IDENTITY": "local",
        "TASK_SQLITE_PATH": str(data / "tasks.sqlite3"),
        "RESULT_SINK_SQLITE_PATH": str(data / "results.sqlite3"),
        "DATASET_ROOT": str(data),
        "TASK_POLL_INTERVAL_MS": "100",
        "TASK_PROGRESS_WRITE_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(
        [str(MCP_PYTHON), "-m", "mcp_server", "--host", "127.0.0.1", "--port", str(port)],
        cwd=MCP_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:  # a bounded wait for the server to answer, not a timing assertion
        assert process.poll() is None, (data / "server.log").read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError("the MCP server did not answer /ping in 60 s") from None
            time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}/mcp", data, process)
    process.terminate()
    process.wait(timeout=20)
    log.close()


@dataclass
class Kit:
    """Runs the installed `kit` console script with its own state file and no AWS configuration."""

    state: Path
    mcp_url: str | None = None

    def env(self, **extra: str) -> dict[str, str]:
        base = {"KIT_CLIENT_STATE": str(self.state)}
        if self.mcp_url:
            base["KIT_MCP_URL"] = self.mcp_url
        return clean_env(**base, **extra)

    def __call__(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(KIT), *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def json(self, *args: str, **env: str) -> Any:
        done = self(*args, "--json", **env)
        assert done.returncode == 0, done
        return json.loads(done.stdout)


@pytest.fixture
def kit(server: Server, tmp_path: Path) -> Kit:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"actor_id": "alice"}))
    return Kit(state, server.url)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """An expected failure: non-zero, nothing on stdout, one `error: ...` line, no traceback."""
    assert done.returncode != 0, done
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]
