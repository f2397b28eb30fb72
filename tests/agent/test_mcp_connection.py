"""The agent's MCP connection: SigV4 signatures that botocore verifies, caller-context headers that
reach the MCP server, the 2026-07-28 protocol with the kit's server, and transparent
re-initialization after an expired 2025-era session's 404."""

from __future__ import annotations

import asyncio
import http.client
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from agent.mcp_connection import build_mcp_client, context_headers
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from conftest import MEMORY_ID, McpServer

from kit_contracts.context import ACTOR_ID_HEADER, RUNTIME_USER_ID_HEADER

CREDENTIALS = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-1")
SIGNING_REGION = "eu-west-1"
_HOP_BY_HOP = {"connection", "transfer-encoding", "content-length", "keep-alive"}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingProxy:
    """A loopback HTTP endpoint that records each request, then forwards it to the MCP server."""

    upstream_port: int
    # Answer `server/discover` as a server that predates 2026-07-28 does (method not found), so
    # the client falls back to the 2025 `initialize` handshake and an MCP session.
    handshake_only: bool = False
    requests: list[Recorded] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/mcp"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items()}
                proxy.requests.append(Recorded(self.command, self.path, headers, body))
                if proxy.handshake_only and self.command == "POST":
                    message = json.loads(body or b"{}")
                    if isinstance(message, dict) and message.get("method") == "server/discover":
                        error = {"code": -32601, "message": "Method not found: server/discover"}
                        payload = json.dumps({"jsonrpc": "2.0", "id": message.get("id"), "error": error}).encode()
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        self.wfile.write(payload)
                        return
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                upstream.close()

            do_POST = forward
            do_DELETE = forward

        return Handler

    def __enter__(self) -> RecordingProxy:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(mcp_server: McpServer) -> Iterator[RecordingProxy]:
    with RecordingProxy(mcp_server.port) as recording:
        yield recording


def recomputed_signature(request: Recorded, url: str, signed_headers: list[str], timestamp: str) -> str:
    """What botocore computes for this request, service and region with the known credentials."""
    headers = {k: v for k, v in request.headers.items() if k.lower() in signed_headers}
    aws_request = AWSRequest(method=request.method, url=url, data=request.body, headers=headers)
    aws_request.context["timestamp"] = timestamp
    signer = SigV4Auth(CREDENTIALS, "bedrock-agentcore", SIGNING_REGION)
    return str(signer.signature(signer.string_to_sign(aws_request, signer.canonical_request(aws_request)), aws_request))


def parse_authorization(value: str) -> dict[str, str]:
    algorithm, _, rest = value.partition(" ")
    assert algorithm == "AWS4-HMAC-SHA256"
    return dict(part.strip().split("=", 1) for part in rest.split(","))


def test_requests_are_sigv4_signed_for_bedrock_agentcore_and_carry_the_caller_context(
    proxy: RecordingProxy, mcp_server: McpServer
) -> None:
    context = context_headers("signed-actor", "task-results", "iam")
    client = build_mcp_client(
        proxy.url,
        auth_mode="iam",
        region=SIGNING_REGION,
        context=context,
        caller_headers={},
        poll_timeout_seconds=60,
        task_ttl_seconds=3600,
        credentials=lambda: CREDENTIALS,
    )
    with client:
        client.list_tools_sync()
        result = asyncio.run(
            client.call_tool_async("use-sig", "start_summarize_csv", {"path": "sales.csv", "value_column": "amount"})
        )
    assert result["status"] == "success", result
    task_id = result["structuredContent"]["task_id"]

    posts = [r for r in proxy.requests if r.method == "POST"]
    assert len(posts) >= 3  # initialize, tools/list, tools/call at least
    for request in posts:
        auth = parse_authorization(request.headers["Authorization"])
        _, date, region, service, terminator = auth["Credential"].split("/")
        assert (region, service, terminator) == (SIGNING_REGION, "bedrock-agentcore", "aws4_request")
        assert request.headers["X-Amz-Date"].startswith(date)
        assert request.headers["X-Amz-Security-Token"] == CREDENTIALS.token
        signed = auth["SignedHeaders"].split(";")
        # The runtime user id is signed: the platform allows it only with InvokeAgentRuntimeForUser.
        assert {"host", "x-amz-date", ACTOR_ID_HEADER.lower(), RUNTIME_USER_ID_HEADER.lower()} <= set(signed)
        assert request.headers[RUNTIME_USER_ID_HEADER] == "signed-actor"
        url = proxy.url.rsplit("/", 1)[0] + request.path
        assert recomputed_signature(request, url, signed, request.headers["X-Amz-Date"]) == auth["Signature"]
        # The same check fails for a body altered on the way.
        tampered = Recorded(request.method, request.path, request.headers, request.body + b" ")
        assert recomputed_signature(tampered, url, signed, request.headers["X-Amz-Date"]) != auth["Signature"]

    # The headers reached the MCP server: it bound the task to that actor, session and its own memory.
    db = sqlite3.connect(mcp_server.data / "tasks.sqlite3")
    row = db.execute("SELECT owner, session_id, memory_id FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    db.close()
    assert row == ("signed-actor", "task-results", MEMORY_ID)


def test_jwt_mode_forwards_the_callers_bearer_token(proxy: RecordingProxy) -> None:
    client = build_mcp_client(
        proxy.url,
        auth_mode="jwt",
        region=None,
        context=context_headers("jwt-actor", "task-results", "jwt"),
        caller_headers={"authorization": "Bearer header.payload.signature"},
        poll_timeout_seconds=60,
        task_ttl_seconds=3600,
    )
    with client:
        client.list_tools_sync()
    assert {r.headers["Authorization"] for r in proxy.requests if r.method == "POST"} == {
        "Bearer header.payload.signature"
    }


def unsigned_client(url: str, actor: str) -> Any:
    return build_mcp_client(
        url,
        auth_mode="none",
        region=None,
        context=context_headers(actor, "task-results", "none"),
        caller_headers={},
        poll_timeout_seconds=60,
        task_ttl_seconds=3600,
    )


ARGUMENTS = {"path": "sales.csv", "value_column": "amount", "group_by": "region"}


@pytest.mark.parametrize(
    ("handshake_only", "protocol", "reconnects"),
    [
        # The kit's server: no MCP session to lose, the new process answers the next request as it is.
        (False, "2026-07-28", 0),
        # A server that only speaks the 2025 handshake: the new process knows no MCP session, the
        # next request with the old session id gets 404, and the client re-initializes once.
        (True, "2025-11-25", 1),
    ],
    ids=["2026-07-28", "2025-session-expires"],
)
def test_a_restarted_mcp_server_is_transparent_to_the_agent(
    mcp_server: McpServer, handshake_only: bool, protocol: str, reconnects: int
) -> None:
    actor = f"restart-{protocol}"
    with RecordingProxy(mcp_server.port, handshake_only=handshake_only) as proxy:
        client = unsigned_client(proxy.url, actor)
        with client:
            client.list_tools_sync()
            session = client._background_thread_session
            assert session is not None and session.protocol_version == protocol
            started = asyncio.run(client.call_tool_async("use-a", "start_summarize_csv", ARGUMENTS))
            task_id = started["structuredContent"]["task_id"]
            mcp_server.restart()
            result = asyncio.run(client.call_tool_async("use-b", "summarize_csv", ARGUMENTS))
            assert client.reconnects == reconnects
            # The task started before the restart is still there under its id.
            earlier = asyncio.run(client.call_tool_async("use-c", "get_task_result", {"task_id": task_id}))
    assert result["status"] == "success", result
    assert result["structuredContent"]["rows"] == 3000
    assert earlier["status"] == "success", earlier
    assert earlier["structuredContent"]["groups"] == result["structuredContent"]["groups"]
    assert client.reconnects == reconnects
    # Both calls of the durable tool went through the store (as tasks of the extension in 2026-07-28).
    db = sqlite3.connect(mcp_server.data / "tasks.sqlite3")
    rows = db.execute("SELECT tool, status FROM tasks WHERE owner = ?", (actor,)).fetchall()
    db.close()
    expected = [("summarize_csv", "completed")] * (2 if protocol == "2026-07-28" else 1)
    assert sorted(rows) == expected
