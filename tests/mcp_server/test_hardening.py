"""Bad input and hostile requests: each gets a clear HTTP or JSON-RPC error, and the server keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from mcp.shared.exceptions import MCPError
from tests_support import CONTEXT, ServerProcess, client, start_server

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("hardening")
    (data / "t.csv").write_text("a,b\n1,2\n")
    proc = start_server(data, env={"AWS_REGION": "us-east-1", "MCP_ALLOWED_HOSTS": "mcp.internal.example"})
    yield proc
    proc.stop()


def post(server: ServerProcess, body: Any, **headers: str) -> httpx2.Response:
    return httpx2.post(server.mcp_url, json=body, headers={**ACCEPT, **headers}, timeout=10)


def still_serving(server: ServerProcess) -> None:
    assert post(server, INIT).status_code == 200


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("evil.example", 421),
        ("bedrock-agentcore.us-east-1.amazonaws.com", 200),  # the platform's forwarded Host
        ("bedrock-agentcore.us-east-1.amazonaws.com:443", 200),
        ("bedrock-agentcore.eu-west-1.amazonaws.com", 421),  # another region's endpoint
        ("mcp.internal.example", 200),  # MCP_ALLOWED_HOSTS
        ("localhost:8000", 200),
    ],
)
def test_dns_rebinding_protection_checks_the_host(server: ServerProcess, host: str, status: int) -> None:
    assert post(server, INIT, Host=host).status_code == status


def test_a_foreign_origin_is_refused(server: ServerProcess) -> None:
    assert post(server, INIT, Origin="https://evil.example").status_code == 403
    still_serving(server)


def test_session_open_close_and_unknown_are_logged(server: ServerProcess) -> None:
    opened = post(server, INIT)
    session = opened.headers["mcp-session-id"]
    closed = httpx2.delete(
        server.mcp_url, headers={"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}, timeout=10
    )
    assert closed.status_code < 300
    gone = post(server, {"jsonrpc": "2.0", "id": 2, "method": "ping"}, **{"Mcp-Session-Id": session})
    assert gone.status_code == 404
    log = server.log()
    assert f"mcp session {session} opened" in log
    assert f"mcp session {session} closed by the client" in log
    assert f"mcp session {session} unknown or expired (404)" in log


def test_oversized_and_malformed_bodies(server: ServerProcess) -> None:
    big = {**INIT, "params": {**INIT["params"], "padding": "x" * (5 * 1024 * 1024)}}
    assert post(server, big).status_code == 413
    garbled = httpx2.post(server.mcp_url, content=b"{not json", headers=ACCEPT, timeout=10)
    assert garbled.status_code == 400 and garbled.json()["error"]["code"] == -32700
    still_serving(server)


def test_wrong_protocol_versions(server: ServerProcess) -> None:
    # An unknown version in initialize is negotiated down to one the server speaks.
    old = post(server, {**INIT, "params": {**INIT["params"], "protocolVersion": "1999-01-01"}})
    assert old.status_code == 200 and "2025-11-25" in old.text
    # A version header the handshake era does not know goes to the 2026 path, which names what it lacks.
    bogus = post(server, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, **{"MCP-Protocol-Version": "bogus"})
    assert bogus.status_code == 400 and bogus.json()["error"]["code"] == -32602
    assert "io.modelcontextprotocol/protocolVersion" in bogus.json()["error"]["message"]
    still_serving(server)


# ---------------------------------------------------------------- property-based: random arguments and headers
# Any printable ASCII an HTTP client can send (no surrounding whitespace: not a legal header value).
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300).map(str.strip)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)


def _lax_int(value: Any) -> float:
    """What pydantic's lax int would make of a value (25, 25.0, "25"); 0 when it would refuse."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0
    try:
        return float(value)
    except ValueError:
        return 0


TOOLS = ["model_training", "summarize_csv", "start_model_training", "check_task_status", "investigate_incident"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tool=st.sampled_from(TOOLS),
    arguments=st.dictionaries(
        st.sampled_from(["model_name", "epochs", "path", "value_column", "task_id", "log_path", "x"]),
        json_values,
        max_size=4,
    ),
    actor=header_text,
    session=header_text,
    mode=st.sampled_from(["legacy", "auto"]),
)
def test_random_arguments_and_headers_never_break_the_server(
    server: ServerProcess, tool: str, arguments: dict[str, Any], actor: str, session: str, mode: str
) -> None:
    # A valid in-request model_training runs one simulated second per epoch: a long valid
    # run is not bad input, and would only hit this test's time limit.
    if tool == "model_training":
        assume(_lax_int(arguments.get("epochs")) <= 3)
    headers = {**CONTEXT, "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id": actor}
    headers["X-Amzn-Bedrock-AgentCore-Runtime-Custom-Session-Id"] = session

    async def exercise() -> None:
        async with client(server.mcp_url, headers, mode=mode) as c:
            with anyio.fail_after(30):
                try:
                    result = await c.call_tool(tool, arguments)
                except MCPError as exc:
                    assert exc.error.message  # a JSON-RPC error that says something
                else:
                    if result.is_error:
                        assert result.content and result.content[0].text  # type: ignore[union-attr]
        async with client(server.mcp_url, CONTEXT, mode="legacy") as c:
            assert {t.name for t in (await c.list_tools()).tools} >= set(TOOLS)

    anyio.run(exercise)


def open_session(server: ServerProcess, headers: dict[str, str]) -> str:
    opened = post(server, INIT, **headers)
    session = opened.headers["mcp-session-id"]
    sent = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
    post(server, {"jsonrpc": "2.0", "method": "notifications/initialized"}, **headers, **sent)
    return session


def test_a_resumed_stream_replays_only_its_own_sessions_events(server: ServerProcess) -> None:
    alice = {**CONTEXT}
    mallory = {**CONTEXT, "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id": "mallory"}
    session_a = open_session(server, alice)
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "check_task_status"}}
    call["params"]["arguments"] = {"task_id": "alice-secret-task"}
    answered = post(server, call, **alice, **{"Mcp-Session-Id": session_a, "MCP-Protocol-Version": "2025-11-25"})
    event_ids = [line[3:].strip() for line in answered.text.splitlines() if line.startswith("id:")]
    assert event_ids and "alice-secret-task" in answered.text
    # Unguessable: not a counter a neighbour can enumerate.
    assert all(len(e) >= 20 and not e.isdigit() for e in event_ids)
    session_b = open_session(server, mallory)
    replay_headers = {
        **mallory,
        "Accept": "text/event-stream",
        "Mcp-Session-Id": session_b,
        "MCP-Protocol-Version": "2025-11-25",
        "Last-Event-ID": event_ids[0],
    }
    received = []
    try:
        with httpx2.stream("GET", server.mcp_url, headers=replay_headers, timeout=httpx2.Timeout(5, read=1)) as stream:
            for line in stream.iter_lines():
                received.append(line)
    except httpx2.ReadTimeout:
        pass  # the stream stays open with nothing to send: nothing was replayed
    assert not any("alice-secret-task" in line for line in received), received
    # The owner's own session still resumes its stream.
    own = {**replay_headers, **alice, "Mcp-Session-Id": session_a}
    replayed = []
    try:
        with httpx2.stream("GET", server.mcp_url, headers=own, timeout=httpx2.Timeout(5, read=1)) as stream:
            for line in stream.iter_lines():
                replayed.append(line)
                if "alice-secret-task" in line:
                    break
    except httpx2.ReadTimeout:
        pass
    assert any("alice-secret-task" in line for line in replayed), replayed
