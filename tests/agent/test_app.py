"""The agent image's entry point: `python -m agent` serves /ping and /invocations."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

IMAGE_DIR = Path(__file__).resolve().parents[2] / "runtime_images" / "agent"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen[bytes], deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"agent exited early with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"agent did not listen on {port} within {deadline_s}s")


@pytest.fixture(scope="module")
def agent_url() -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MODEL_ID": "",
        "AWS_REGION": "us-east-1",
        "MAX_REQUEST_BYTES": "4096",
    }
    process = subprocess.Popen([sys.executable, "-m", "agent"], cwd=IMAGE_DIR, env=env)
    try:
        wait_until_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_ping_reports_healthy_with_a_timestamp(agent_url: str) -> None:
    with urllib.request.urlopen(f"{agent_url}/ping", timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "Healthy"
    assert isinstance(body["time_of_last_update"], int)
    assert abs(body["time_of_last_update"] - time.time()) < 3600


def invoke(agent_url: str, payload: object) -> str:
    request = urllib.request.Request(
        f"{agent_url}/invocations",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": "s" * 40},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "field 'prompt' must be a non-empty string"),
        ({"prompt": "   "}, "field 'prompt' must be a non-empty string"),
        (["prompt"], "body must be a JSON object"),
    ],
)
def test_bad_invocation_body_gets_a_clear_error(agent_url: str, payload: object, message: str) -> None:
    assert message in invoke(agent_url, payload)


def test_missing_model_configuration_is_reported_not_raised(agent_url: str) -> None:
    assert "MODEL_ID is not configured" in invoke(agent_url, {"prompt": "hello"})


def test_an_oversized_body_is_refused_naming_the_limit(agent_url: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        invoke(agent_url, {"prompt": "x" * 5000})
    assert refused.value.code == 413
    assert "over the limit of 4096 bytes (MAX_REQUEST_BYTES)" in refused.value.read().decode()
    # Without a Content-Length (chunked), the limit holds while the body is read.
    import http.client

    host, port = agent_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    chunks = (b'{"prompt": "' + b"y" * 1000 + b'"' for _ in range(1)), (b"z" * 1000 for _ in range(6))
    connection.request(
        "POST",
        "/invocations",
        body=(part for chunk in chunks for part in chunk),
        headers={"Content-Type": "application/json", "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": "s" * 40},
        encode_chunked=True,
    )
    response = connection.getresponse()
    assert response.status == 413 and b"MAX_REQUEST_BYTES" in response.read()
    # A body within the limit is still served.
    assert "MODEL_ID is not configured" in invoke(agent_url, {"prompt": "hello"})
