"""Nobody can act as another user: the actor comes from what the platform authenticated.

For each identity source a forging caller (a valid identity of their own, plus another user's
Actor-Id header, or a Memory-Id of another memory) gets no read, write, answer, cancel or memory
event of the other user; without the forged header they see only their own tasks. A 2025-era
MCP session stays with the actor who opened it.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from mcp_server.settings import SettingsError, load_settings
from tests_support import MEMORY_ID, InProcessServer, client, raw_request, task_call, tasks_extension, test_settings

from kit_contracts.context import ACTOR_ID_HEADER, MEMORY_ID_HEADER, RUNTIME_USER_ID_HEADER, SESSION_ID_HEADER

pytestmark = pytest.mark.anyio
TRAINING = {"model_name": "m", "epochs": 200, "seconds_per_epoch": 0.05}


def jwt(claims: dict[str, Any]) -> str:
    # Unsigned: the runtime's JWT authorizer verifies signatures before a request reaches the container.
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"Bearer {part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def as_user(mode: str, user: str, **extra: str) -> dict[str, str]:
    """Headers of a request authenticated as `user` under identity source `mode`."""
    headers = {SESSION_ID_HEADER: "task-results", **extra}
    if mode == "jwt":
        headers["Authorization"] = jwt({"sub": f"{user}-sub", "username": user})
    elif mode == "runtime-user-id":
        headers[RUNTIME_USER_ID_HEADER] = user
    else:
        headers[ACTOR_ID_HEADER] = user
    return headers


def actor_of(mode: str, user: str) -> str:
    return f"{user}-sub" if mode == "jwt" else user


@pytest.fixture(params=["jwt", "runtime-user-id", "local"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, InProcessServer, Path]]:
    settings = test_settings(tmp_path, CALLER_IDENTITY=request.param)
    with InProcessServer(settings, None) as server:
        yield request.param, server, tmp_path


def events_of(data: Path, actor: str) -> list[str]:
    with sqlite3.connect(data / "results.sqlite3") as db:
        return [r[0] for r in db.execute("SELECT client_token FROM events WHERE actor_id = ?", (actor,))]


async def start_training(url: str, headers: dict[str, str]) -> str:
    async with client(url, headers, mode="legacy") as session:
        started = await session.call_tool("start_model_training", TRAINING)
        assert not started.is_error, started.content
        return str(started.structured_content["task_id"])


async def test_a_forged_actor_header_gets_nothing_of_the_victim(served: tuple[str, InProcessServer, Path]) -> None:
    mode, server, data = served
    victim = await start_training(server.mcp_url, as_user(mode, "alice"))
    if mode == "local":
        # Locally the Actor-Id header is the identity (loopback only); forging is about the memory.
        forged = as_user(mode, "mallory", **{MEMORY_ID_HEADER: "otherMemory-ZyXwV98765"})
    else:
        forged = as_user(mode, "mallory", **{ACTOR_ID_HEADER: actor_of(mode, "alice")})
    async with client(server.mcp_url, forged, mode="auto", extensions=[tasks_extension()]) as modern:
        for method, extra in (("tasks/get", {}), ("tasks/cancel", {}), ("tasks/update", {"inputResponses": {}})):
            with pytest.raises(MCPError, match="refused header"):
                await task_call(modern, method, victim, **extra)
        with pytest.raises(MCPError, match="refused header") as refused_call:
            await modern.call_tool("model_training", TRAINING)
        assert refused_call.value.error.code == -32600 and refused_call.value.error.data["header"].endswith("-Id")
    async with client(server.mcp_url, forged, mode="legacy") as legacy:
        with pytest.raises(MCPError, match="refused header"):
            await raw_request(legacy, "tasks/list", {})
        for tool, arguments in (
            ("check_task_status", {"task_id": victim}),
            ("get_task_result", {"task_id": victim}),
            ("cancel_task", {"task_id": victim}),
            ("answer_task", {"task_id": victim, "content": {}}),
            ("start_model_training", TRAINING),
            ("request_sandbox_account", {"application_name": "app-one", "region": "eu-west-1", "cost_center": "CC-1"}),
        ):
            with pytest.raises(MCPError, match="refused header") as refused:
                await legacy.call_tool(tool, arguments)
            assert refused.value.error.code == -32600, tool
    # The victim's task is untouched, and no event went to the victim's memory but the victim's own.
    async with client(server.mcp_url, as_user(mode, "alice"), mode="legacy") as alice:
        status = (await alice.call_tool("check_task_status", {"task_id": victim})).structured_content
        assert status["status"] == "working"
        await alice.call_tool("cancel_task", {"task_id": victim})
    with anyio.fail_after(20):
        while not events_of(data, actor_of(mode, "alice")):
            await anyio.sleep(0.05)
    assert events_of(data, actor_of(mode, "alice")) == [f"{victim}-terminal"]
    assert events_of(data, actor_of(mode, "mallory")) == []


def test_a_refusal_names_who_was_authenticated() -> None:
    from mcp_server.caller import Identity
    from mcp_server.protocol.wire import Callers

    class Request:
        headers = as_user("runtime-user-id", "mallory", **{ACTOR_ID_HEADER: "alice"})

    class Ctx:
        request = Request()
        protocol_version = "2026-07-28"

    refused = Callers(Identity("runtime-user-id", MEMORY_ID)).resolve(Ctx())  # type: ignore[arg-type]
    # The refusal carries the authenticated actor, which the request log line records beside the claim.
    assert refused.authenticated == "mallory" and "'alice'" in str(refused)  # type: ignore[union-attr]


async def test_without_a_forged_header_another_users_tasks_are_not_found(
    served: tuple[str, InProcessServer, Path],
) -> None:
    mode, server, _ = served
    victim = await start_training(server.mcp_url, as_user(mode, "alice"))
    async with client(server.mcp_url, as_user(mode, "mallory"), mode="legacy") as mallory:
        assert (await raw_request(mallory, "tasks/list", {}))["tasks"] == []
        peek = await mallory.call_tool("check_task_status", {"task_id": victim})
        assert peek.is_error and "not found" in peek.content[0].text
        cancel = await mallory.call_tool("cancel_task", {"task_id": victim})
        assert cancel.is_error and "not found" in cancel.content[0].text
    async with client(server.mcp_url, as_user(mode, "alice"), mode="legacy") as alice:
        assert [t["taskId"] for t in (await raw_request(alice, "tasks/list", {}))["tasks"]] == [victim]
        await alice.call_tool("cancel_task", {"task_id": victim})


def rpc(url: str, headers: dict[str, str], method: str, params: dict[str, Any], session: str | None = None) -> Any:
    """One JSON-RPC request over Streamable HTTP; returns (response, the message it carried)."""
    import httpx2

    sent = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25", **headers}
    if session is not None:
        sent["Mcp-Session-Id"] = session
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    response = httpx2.post(url, json=body, headers=sent, timeout=30)
    data = [line[5:] for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
    return response, json.loads(data[-1] if data else response.text)


async def test_a_session_stays_with_the_actor_who_opened_it(served: tuple[str, InProcessServer, Path]) -> None:
    mode, server, _ = served
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    opened, _ = rpc(server.mcp_url, as_user(mode, "alice"), "initialize", init)
    session = opened.headers["mcp-session-id"]
    call = {"name": "check_task_status", "arguments": {"task_id": "any"}}
    _, own = rpc(server.mcp_url, as_user(mode, "alice"), "tools/call", call, session)
    assert "not found" in own["result"]["content"][0]["text"]
    # The same MCP session used with another identity (a leaked Mcp-Session-Id).
    _, other = rpc(server.mcp_url, as_user(mode, "mallory"), "tools/call", call, session)
    assert other["error"]["code"] == -32600 and "opened by another caller" in other["error"]["message"]


async def test_missing_identity_names_where_it_was_looked_for(served: tuple[str, InProcessServer, Path]) -> None:
    mode, server, _ = served
    async with client(server.mcp_url, {SESSION_ID_HEADER: "task-results"}, mode="legacy") as anonymous:
        with pytest.raises(MCPError) as refused:
            await anonymous.call_tool("start_model_training", TRAINING)
        where = {"jwt": "Authorization", "runtime-user-id": RUNTIME_USER_ID_HEADER, "local": ACTOR_ID_HEADER}[mode]
        error = refused.value.error
        assert (error.code, error.data) == (-32600, {"header": where}) and where in error.message


def test_a_default_actor_is_for_local_mode_only(tmp_path: Path) -> None:
    from mcp_server.caller import Identity

    assert Identity("local", None, local_actor="inspector").caller({}).actor_id == "inspector"
    # The header still wins locally: it is the identity there.
    assert Identity("local", None, local_actor="inspector").caller({ACTOR_ID_HEADER: "bob"}).actor_id == "bob"
    with pytest.raises(SettingsError, match="LOCAL_ACTOR_ID"):
        load_settings({"CALLER_IDENTITY": "runtime-user-id", "LOCAL_ACTOR_ID": "inspector", "MEMORY_ID": MEMORY_ID})
    with pytest.raises(SettingsError, match="LOCAL_ACTOR_ID"):
        load_settings({"LOCAL_ACTOR_ID": "not an actor!"})


def test_a_deployed_store_refuses_the_local_identity() -> None:
    with pytest.raises(SettingsError, match="CALLER_IDENTITY"):
        load_settings({"TASK_STORE": "dynamodb", "TASK_TABLE_NAME": "t", "CALLER_IDENTITY": "local"})
    with pytest.raises(SettingsError, match="CALLER_IDENTITY"):
        load_settings({"TASK_STORE": "dynamodb", "TASK_TABLE_NAME": "t"})
    assert load_settings({"MEMORY_ID": MEMORY_ID}).identity == "local"
