"""Helpers shared by the MCP server tests (not fixtures: plain functions and a process wrapper)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO_ROOT / "runtime_images" / "mcp_server"


def task_table_definition() -> dict[str, Any]:
    """Synthesize the TaskTable construct and return the table's schema for moto's CreateTable."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import aws_cdk as cdk
    from aws_cdk import aws_kms as kms
    from aws_cdk.assertions import Template

    from stacks.constructs.task_table import TaskTable

    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    stack = cdk.Stack(app, "TaskTableUnderTest")
    TaskTable(stack, "Tasks", encryption_key=kms.Key(stack, "Key"), removal_policy=cdk.RemovalPolicy.DESTROY)
    template = Template.from_stack(stack)
    # TableV2 synthesizes to AWS::DynamoDB::Table or ::GlobalTable depending on its options.
    tables = {
        **template.find_resources("AWS::DynamoDB::Table"),
        **template.find_resources("AWS::DynamoDB::GlobalTable"),
    }
    assert len(tables) == 1, f"expected one table in the construct, found {list(tables)}"
    props = next(iter(tables.values()))["Properties"]
    gsis = [
        {
            "IndexName": g["IndexName"],
            "KeySchema": g["KeySchema"],
            "Projection": g.get("Projection", {"ProjectionType": "ALL"}),
        }
        for g in props.get("GlobalSecondaryIndexes", [])
    ]
    return {
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "GlobalSecondaryIndexes": gsis,
        "_ttl_attribute": props.get("TimeToLiveSpecification", {}).get("AttributeName"),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """The MCP server started with `python -m mcp_server` on a loopback port."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return self.base_url + "/mcp"

    def ping(self) -> dict[str, Any]:
        return json.loads(httpx2.get(self.base_url + "/ping", timeout=5).text)

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_server(tmp: Path, env: dict[str, str] | None = None, python: str | None = None) -> ServerProcess:
    """Start the server on a free port and wait until /ping answers (bounded wait, not a timing assertion)."""
    port = free_port()
    log_path = tmp / f"server-{port}.log"
    full_env = {
        **os.environ,
        "TASK_SQLITE_PATH": str(tmp / "tasks.sqlite3"),
        "RESULT_SINK_SQLITE_PATH": str(tmp / "results.sqlite3"),
        "DATASET_ROOT": str(tmp),
        "TASK_HEARTBEAT_SECONDS": "0.2",
        "TASK_LEASE_SECONDS": "1.5",
        "TASK_POLL_INTERVAL_MS": "100",
        "TASK_PROGRESS_WRITE_SECONDS": "0",
        "MEMORY_ID": MEMORY_ID,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [python or sys.executable, "-m", "mcp_server", "--host", "127.0.0.1", "--port", str(port)],
            cwd=IMAGE_DIR,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, port, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            server.ping()
            return server
        except (httpx2.TransportError, ValueError):
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"server did not answer /ping within 60 s:\n{server.log()}")


MEMORY_ID = "taskMemory-AbCdE12345"
CONTEXT = {
    "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id": "alice",
    "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Session-Id": "session-1",
    "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Memory-Id": "taskMemory-AbCdE12345",
}


def client(url: str, headers: dict[str, str] | None = None, mode: str = "legacy", **kwargs: Any) -> Any:
    """A real mcp SDK client over Streamable HTTP, sending `headers` (the caller's context) on every request."""
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers=headers or {}, timeout=httpx2.Timeout(30, read=60))
    return Client(streamable_http_client(url, http_client=http), mode=mode, **kwargs)


# ---------------------------------------------------------------- task requests for the mcp SDK client
def _task_request(method: str, params: dict[str, Any]) -> Any:
    from typing import Literal

    from mcp_types import Request, RequestParams
    from pydantic import ConfigDict

    class Params(RequestParams):
        model_config = ConfigDict(extra="allow")

    class TaskRequest(Request[Params, Literal[method]]):  # type: ignore[valid-type]
        pass

    TaskRequest.name_param = "taskId"
    return TaskRequest(method=method, params=Params(**params))


async def task_call(session: Any, method: str, task_id: str, **extra: Any) -> dict[str, Any]:
    """Send tasks/<method> with the SDK session and return the raw result."""
    from pydantic import TypeAdapter

    request = _task_request(method, {"taskId": task_id, **extra})
    if not hasattr(session, "send_request"):
        session = session.session  # a Client: its ClientSession sends raw requests
    return await session.send_request(request, TypeAdapter(dict[str, Any]))


def tasks_extension() -> Any:
    """The client side of io.modelcontextprotocol/tasks: declares it and accepts `resultType: task`."""
    from typing import Literal

    from mcp.client import ClientExtension, ResultClaim
    from mcp_types import CallToolResult, Result

    class TaskHandle(Result):
        result_type: Literal["task"]
        task_id: str
        status: str
        ttl_ms: int | None
        poll_interval_ms: int | None = None
        created_at: str
        last_updated_at: str

    async def resolve(handle: TaskHandle, ctx: Any) -> CallToolResult:
        import anyio

        while True:
            state = await task_call(ctx.session, "tasks/get", handle.task_id)
            if state["status"] == "completed":
                return CallToolResult.model_validate(state["result"])
            if state["status"] in ("failed", "cancelled"):
                message = state.get("error", {}).get("message") or state.get("statusMessage", state["status"])
                return CallToolResult(content=[{"type": "text", "text": message}], is_error=True)  # type: ignore[list-item]
            await anyio.sleep((handle.poll_interval_ms or 100) / 1000)

    class TasksClient(ClientExtension):
        identifier = "io.modelcontextprotocol/tasks"

        def claims(self) -> list[Any]:
            return [ResultClaim(result_type="task", model=TaskHandle, resolve=resolve)]

    return TasksClient()


def csv_dataset(path: Path, rows: int) -> dict[str, dict[str, float]]:
    """Write a CSV with a grouped numeric column; return the expected per-group count/total."""
    expected: dict[str, dict[str, float]] = {}
    with path.open("w") as out:
        out.write("region,amount,note\n")
        for i in range(rows):
            region = ("north", "south", "east")[i % 3]
            amount = (i * 37) % 1000 / 10
            out.write(f"{region},{amount},row {i}\n")
            group = expected.setdefault(region, {"count": 0, "total": 0.0})
            group["count"] += 1
            group["total"] += amount
        out.write("north,not-a-number,bad row\n")
    return expected


class InProcessServer:
    """`app.build(...)` served by uvicorn on a loopback port in a background thread (for test-only tools)."""

    def __init__(self, settings: Any, specs: list[Any] | None, **parts: Any) -> None:
        import threading

        import uvicorn
        from mcp_server.app import build

        self.port = free_port()
        self.assembled = build(settings.model_copy(update={"host": "127.0.0.1", "port": self.port}), specs, **parts)
        config = uvicorn.Config(self.assembled.app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def mcp_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def __enter__(self) -> InProcessServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("in-process server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


def test_settings(tmp: Path, **overrides: Any) -> Any:
    from mcp_server.settings import load_settings

    env = {
        "TASK_SQLITE_PATH": str(tmp / "tasks.sqlite3"),
        "RESULT_SINK_SQLITE_PATH": str(tmp / "results.sqlite3"),
        "DATASET_ROOT": str(tmp),
        "TASK_HEARTBEAT_SECONDS": "0.2",
        "TASK_LEASE_SECONDS": "1.5",
        "TASK_POLL_INTERVAL_MS": "50",
        "TASK_PROGRESS_WRITE_SECONDS": "0",
        "MEMORY_ID": MEMORY_ID,
        **{k: str(v) for k, v in overrides.items()},
    }
    return load_settings(env)


test_settings.__test__ = False  # type: ignore[attr-defined]


# ---------------------------------------------------------------- raw JSON-RPC for what the SDK client has no helper for
async def raw_request(session: Any, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send any request with the SDK session (its transport, session id and headers) and return the raw result."""
    from pydantic import TypeAdapter

    if not hasattr(session, "send_request"):
        session = session.session
    if method == "tools/call":
        # The SDK validates every tools/call answer as a CallToolResult, which a 2025-era
        # CreateTaskResult is not: this one goes through the session's dispatcher unvalidated.
        opts: Any = {"headers": {"Mcp-Name": (params or {}).get("name", "")}, "timeout": 60}
        return dict(await session._dispatcher.send_raw_request(method, params, opts))
    request = _task_request(method, params or {})
    # The Mcp-Name header names the tool for tools/call and the task for tasks/*; tasks/list has none.
    type(request).name_param = (
        "name" if method == "tools/call" else ("taskId" if params and "taskId" in params else None)
    )
    return await session.send_request(request, TypeAdapter(dict[str, Any]))


def task_status_listener(received: list[dict[str, Any]]) -> Any:
    """A client extension that records every notifications/tasks/status (the SDK client has no typed hook for it)."""
    from mcp.client import ClientExtension
    from mcp.client.extension import NotificationBinding
    from pydantic import BaseModel, ConfigDict

    class AnyParams(BaseModel):
        model_config = ConfigDict(extra="allow")

    async def record(params: AnyParams) -> None:
        received.append(params.model_dump())

    class TaskStatusListener(ClientExtension):
        identifier = "com.example/task-status-listener"

        def notifications(self) -> list[Any]:
            return [NotificationBinding(method="notifications/tasks/status", params_type=AnyParams, handler=record)]

    return TaskStatusListener()
